"""Type errors new on the merged tree: a real analyser (pyright) on the base and on the merged tree.

The hand-written symbol check resolves names; it cannot follow an instance
(`ctx = Context(cmd); ctx.get_usage()`) to its class, so a method renamed in
one class while another class still defines that name slips through. Pyright
can, but it is slow on large modules, so it checks only the files where one
subtask added uses of a word another subtask used less (a name it renamed or
removed): usually none, and then pyright does not run. Both trees' Python
files are written out (only `.py`/`.pyi`, through a scratch index: nothing of
the user's checkout is touched), pyright checks those files in both trees at
once, and an error is a finding only when

- it is new on the merged tree (same file, rule and message, lines ignored),
- it is of a rule that means "the code no longer fits together" (an unknown
  attribute, import or name, a call that no longer fits), and
- two subtasks meet in it: one touched the file where it is reported, another
  removed the name it is about. An error one subtask makes alone is on its
  own branch too; the test check and the subtask's own tests are for that.

Pyright is optional: without it the check is skipped with a note saying how
to install it (scripts/setup.sh does, with npm).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding

KIND = "types"
PYRIGHT_VERSION = "1.1.414"
RULES = {"reportAttributeAccessIssue", "reportCallIssue", "reportUndefinedVariable", "reportMissingImports",
         "reportAbstractUsage"}
TIMEOUT = 120.0
_QUOTED = re.compile(r'"([A-Za-z_][A-Za-z0-9_.]*)"')


class Skipped(Exception):
    """The check cannot run here; the message says why and what to do."""


def find_pyright() -> str | None:
    """The pyright command: $SWARM_PYRIGHT, then the one scripts/setup.sh installs beside the
    interpreter's environment, then `pyright` on PATH."""
    named = os.environ.get("SWARM_PYRIGHT")
    if named:  # a path that is not a program means "no pyright", as when it is not installed
        return shutil.which(named)
    local = Path(sys.prefix) / "pyright" / "node_modules" / ".bin" / "pyright"
    if local.exists():
        return str(local)
    return shutil.which("pyright")


def check(ctx: CheckContext) -> list[Finding]:
    """Pyright errors new on the merged tree where two subtasks meet (see the module's docstring)."""
    files = candidates(ctx)
    if not files:
        return []
    command = find_pyright()
    if command is None:
        raise Skipped(f"pyright is not installed, so {len(files)} file(s) were not type-checked: run "
                      f"scripts/setup.sh, or `npm install -g pyright@{PYRIGHT_VERSION}`, or set SWARM_PYRIGHT")
    sources = ctx.merged_paths()
    base_files = sorted({sources.get(p, p) for p in files} & set(ctx.tree(ctx.base).files))
    with tempfile.TemporaryDirectory(prefix="swarm-types-") as tmp:
        merged_dir, base_dir = Path(tmp) / "merged", Path(tmp) / "base"
        _write_tree(ctx, ctx.merged, merged_dir)
        procs = [(_start(command, merged_dir, files), merged_dir)]
        if base_files:  # a file new on every branch has no errors on the base
            _write_tree(ctx, ctx.base, base_dir)
            procs.append((_start(command, base_dir, base_files), base_dir))
        results = [_errors(p, d) for p, d in procs]
    merged_errors, base_errors = results[0], (results[1] if len(results) > 1 else [])
    before = Counter(_key(e["file"], e) for e in base_errors)
    findings: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    for e in merged_errors:
        key = _key(sources.get(e["file"], e["file"]), e)
        if before[key] > 0:
            before[key] -= 1  # the same error on the base: not new
            continue
        found = _finding(ctx, e)
        if found is not None and (e["file"], e["rule"], e["message"]) not in seen:
            seen.add((e["file"], e["rule"], e["message"]))
            findings.append(found)
    return findings


def candidates(ctx: CheckContext) -> list[str]:
    """The Python files worth a type check: where one subtask added uses of a word another subtask used
    less (a name it renamed or removed). Pyright is slow on large modules; most runs check no file at all."""
    if len(ctx.changes) < 2:
        return []
    merged = ctx.tree(ctx.merged).files
    added: dict[str, dict[str, set[str]]] = {}
    removed: dict[str, set[str]] = {}
    for c in ctx.changes:
        lost: set[str] = set()
        for f in c.changed:
            if not f["path"].endswith((".py", ".pyi")):
                continue
            before = _words(ctx.text(c.start_commit, c.source_of(f["path"])) if f["status"] != "added" else "")
            after = _words(ctx.text(c.commit, f["path"]) if f["status"] != "removed" else "")
            lost |= set(before - after)
            if f["path"] in merged:
                added.setdefault(f["path"], {})[c.id] = set(after - before)
        removed[c.id] = lost
    return sorted(path for path, by in added.items()
                  if any(words & removed[other] for sid, words in by.items() for other in removed if other != sid))


_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


def _words(text: str | None) -> Counter[str]:
    return Counter(_WORD.findall(text or ""))


def _write_tree(ctx: CheckContext, commit: str, into: Path) -> None:
    """The `.py`/`.pyi` files of `commit` under `into`, through a scratch index (the repository's own
    index and working tree stay as they are)."""
    paths = [p for p in ctx.tree(commit).files if p.endswith((".py", ".pyi"))]
    into.mkdir(parents=True)
    env = {**os.environ, "GIT_INDEX_FILE": str(into.parent / f"{into.name}.index")}
    git = ["git", "-C", str(ctx.repo.root), "-c", "core.quotePath=false"]
    subprocess.run([*git, "read-tree", commit], env=env, check=True, capture_output=True)
    subprocess.run([*git, "checkout-index", f"--prefix={into}/", "-z", "--stdin"], env=env, check=True,
                   capture_output=True, input="\0".join(paths).encode())


def _start(command: str, root: Path, files: list[str]) -> subprocess.Popen[bytes]:
    extra = [d for d in ("src", "lib") if (root / d).is_dir()]
    config = {"include": [f for f in files if (root / f).exists()], "extraPaths": extra,
              "typeCheckingMode": "basic", "pythonVersion": f"{sys.version_info[0]}.{sys.version_info[1]}",
              "reportMissingModuleSource": "none", "enableTypeIgnoreComments": True}
    (root / "pyrightconfig.json").write_text(json.dumps(config))
    return subprocess.Popen([command, "--outputjson", "--pythonpath", sys.executable, "-p", str(root)],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _errors(proc: subprocess.Popen[bytes], root: Path) -> list[dict[str, Any]]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise Skipped(f"pyright took longer than {TIMEOUT:.0f} s")
    try:
        data = json.loads(out.decode(errors="replace"))
    except ValueError:
        raise RuntimeError(f"pyright gave no report (exit {proc.returncode}): "
                           f"{(err or out).decode(errors='replace').strip()[:300]}") from None
    errors = []
    for d in data.get("generalDiagnostics", []):
        if d.get("severity") != "error" or d.get("rule") not in RULES:
            continue
        try:
            rel = Path(d["file"]).resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
        errors.append({"file": rel, "rule": d["rule"], "message": d.get("message", "").split("\n")[0],
                       "line": int(d.get("range", {}).get("start", {}).get("line", 0)) + 1})
    return errors


def _key(path: str, error: dict[str, Any]) -> tuple[str, str, str]:
    return (path, error["rule"], error["message"])


def _finding(ctx: CheckContext, error: dict[str, Any]) -> Finding | None:
    """The finding for a new error, when one subtask touched its file and another removed its name."""
    users = ctx.touchers(error["file"])
    names = _QUOTED.findall(error["message"])
    name = names[0].rsplit(".", 1)[-1] if names else None
    if not users or name is None:
        return None
    removers = [c.id for c in ctx.changes if _removed(ctx, c.id, name)]
    involved = ctx.sort_ids([*users, *removers])
    if not removers or len(involved) < 2:
        return None
    where = f"{error['file']}:{error['line']}"
    using = [u for u in users if u not in removers] or users
    return Finding(KIND, involved, [error["file"]],
                   f"{where}: {error['message']} (pyright {error['rule']}; new on the merged tree: "
                   f"{', '.join(removers)} removed `{name}`, {', '.join(using)} uses it)",
                   line=error["line"], symbol=name)


def _removed(ctx: CheckContext, sid: str, name: str) -> bool:
    """Did subtask `sid` leave fewer whole-word uses of `name` in some Python file it changed?"""
    change = ctx.change(sid)
    word = re.compile(rf"\b{re.escape(name)}\b")
    for f in change.changed:
        if not f["path"].endswith((".py", ".pyi")) or f["status"] == "added":
            continue
        before = ctx.text(change.start_commit, change.source_of(f["path"])) or ""
        after = ctx.text(change.commit, f["path"]) if f["status"] != "removed" else ""
        if len(word.findall(before)) > len(word.findall(after or "")):
            return True
    return False
