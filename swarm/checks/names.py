"""Names one subtask retired while another added a new use of them, in any kind of file.

Git merges a rename in one branch and a new use of the old name in another
without a word, whatever the files are: a CLI option renamed in code while a
docs page shows the old flag, an environment variable renamed while a script
exports the old one, a CSS class renamed while a new template uses it, a
method renamed while new code calls it on an instance. The symbol check sees
only what Python imports resolve; this check sees names as text.

A name is an identifier-like token that does not read as a common word:
`--flag`, `ENV_NAME`, `dotted.key` or `page.html`, `snake_case`, `camelCase`,
`kebab-case` (four characters or more, outside a small stop list); a CSS
class (a selector in a stylesheet, a `class="..."` in markup); or a Python
name of any shape that a subtask's removed lines define (`def indent`).

A subtask *retired* a name when its removed lines hold it, its added lines
do not, and afterwards its tree holds it nowhere (history files aside), or,
for a defined Python name, defines it nowhere. Another subtask's added lines
that use the name (not define it) and are still in the merged tree make one
finding per retired name, listing every file with a new use.
"""

from __future__ import annotations

import ast
import posixpath
import re
from dataclasses import dataclass, field

from swarm.checks.context import CheckContext
from swarm.merge.diffs import parse_patches
from swarm.checks.model import Finding

KIND = "names"
_WORD = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*[A-Za-z0-9]|(?<!\w)[A-Za-z_]\w*(?:[.-][A-Za-z_]\w*)*")
_PYDEF = re.compile(r"^\s*(?:async\s+def|def|class)\s+([A-Za-z_]\w*)|^\s*([A-Za-z_]\w*)\s*(?::[^=]*)?=(?!=)")
_SELECTOR = re.compile(r"\.(-?[A-Za-z_][\w-]*)")
_CLASS_ATTR = re.compile(r"""\bclass(?:Name)?\s*=\s*["']([^"'{}]*)["']""")
_CSS = (".css", ".scss", ".sass", ".less")
_MARKUP = (".html", ".htm", ".jinja", ".jinja2", ".j2", ".xml", ".svg", ".vue", ".jsx", ".tsx", ".md", ".rst", ".txt")
_PROSE = (".md", ".rst", ".txt", ".adoc")
_HISTORY = re.compile(r"(?i)^(changes|changelog|history|news|release[-_ ]?notes)\b")
# Tokens shaped like names that are words all the same, or belong to every project.
STOP = frozenset("""
    TODO FIXME NOTE XXX HACK README LICENSE CHANGELOG HTTP HTTPS JSON YAML TOML HTML UTF-8 utf-8 ASCII
    e.g i.e etc.  self.assertEqual self.assertTrue self.assertFalse self.assertIn os.path os.environ
    sys.path sys.argv __init__ __main__ __name__ __file__ __all__ __version__ __doc__ NULL None True False
    built-in well-known read-only non-empty so-called up-to-date
""".split())
# Plain words that a Python module may define and every code base calls on something else.
_COMMON = frozenset("""
    self args kwargs name value data path text list dict type test main init setup teardown update items keys
    values close open read write call copy save load send start stop reset clear apply parse format render
    index count append extend insert remove pop sort join split strip lower upper replace encode decode
    first last next iter size length width height
""".split())


def shaped(token: str) -> bool:
    """Does `token` read as a name (not a common word)?"""
    if len(token) < 4 or token in STOP or (token.startswith("__") and token.endswith("__")):
        return False
    core = token.strip("_")
    return (token.startswith("--") or "_" in core or "." in token or "-" in token
            or re.search(r"[a-z][A-Z]", token) is not None
            or (token.isupper() and sum(c.isalpha() for c in token) >= 4))


def tokens(line: str, path: str) -> set[str]:
    """The names in one line of `path`: shaped tokens (and the shaped parts of dotted ones), CSS classes as `.x`."""
    out: set[str] = set()
    for match in _WORD.finditer(line):
        word = match.group(0)
        parts = [word, *word.split(".")] if "." in word and not word.startswith("--") else [word]
        out |= {p for p in parts if shaped(p)}
    lower = path.lower()
    if lower.endswith(_CSS):
        out |= {"." + c for c in _SELECTOR.findall(re.sub(r"\{[^}]*\}?|:[^,{]*$", "", line))}
    elif lower.endswith(_MARKUP) or "/templates/" in f"/{lower}":
        out |= {"." + c for attr in _CLASS_ATTR.findall(line) for c in attr.split()}
    return out


def python_defs(line: str) -> set[str]:
    """Names a line of Python defines (def, class, assignment), when they are not everyday words."""
    m = _PYDEF.match(line)
    name = (m.group(1) or m.group(2)) if m else None
    return {name} if name and len(name) >= 4 and name not in _COMMON and not name.startswith("__") else set()


@dataclass
class Lines:
    """One subtask's added and removed lines, by file."""

    added: dict[str, list[str]] = field(default_factory=dict)
    removed: dict[str, list[str]] = field(default_factory=dict)


def diff_lines(ctx: CheckContext, start: str, commit: str) -> Lines:
    """Added and removed lines of `start..commit` (renames followed, binaries skipped): from the subtask's
    diff when the run has it in memory, else from one `git diff -U0`."""
    known = ctx.repo.known_diff(start, commit)
    if known is not None:
        return _patch_lines(known)
    out = ctx.git("diff", "-U0", "-M", "--no-color", "--no-ext-diff", start, commit)
    lines = Lines()
    old = new = ""
    for line in out.splitlines():
        if line.startswith("--- "):
            old = line[6:] if line.startswith("--- a/") else ""
        elif line.startswith("+++ "):
            new = line[6:] if line.startswith("+++ b/") else ""
        elif line.startswith("+") and new:
            lines.added.setdefault(new, []).append(line[1:])
        elif line.startswith("-") and old:
            lines.removed.setdefault(old, []).append(line[1:])
    return lines


def _patch_lines(text: str) -> Lines:
    """`diff_lines` of a whole diff's text (its context lines are neither added nor removed)."""
    lines = Lines()
    for patch in parse_patches(text):
        old = None if patch.status == "added" else (patch.old_path or patch.path)
        new = None if patch.status == "removed" else patch.path
        for hunk in patch.hunks:
            for line in hunk.lines:
                if line.startswith("+") and new:
                    lines.added.setdefault(new, []).append(line[1:].rstrip("\n"))
                elif line.startswith("-") and old:
                    lines.removed.setdefault(old, []).append(line[1:].rstrip("\n"))
    return lines


def _defines(token: str, line: str) -> bool:
    """Does an added line define `token` rather than use it (a def, an assignment, a key, a selector)?"""
    if token.startswith("."):
        return False  # handled by where it is: a selector in a stylesheet defines, markup uses
    t = re.escape(token)
    return re.search(rf"(?:def|class)\s+{t}\b|^\s*{t}\s*(?::[^=]*)?[:=](?!=)|[\"']{t}[\"']\s*:", line) is not None


def _uses(token: str, path: str, line: str, py_only: bool) -> bool:
    if token.startswith("."):
        return not path.lower().endswith(_CSS) and "." + token[1:] in tokens(line, path)
    if py_only:
        return path.endswith(".py") and re.search(rf"\.{re.escape(token)}\b|\b{re.escape(token)}\s*\(", line) is not None
    return token in tokens(line, path) and not _defines(token, line)


def _history(path: str) -> bool:
    return _HISTORY.match(posixpath.basename(path)) is not None


def _prose(path: str) -> bool:
    return path.lower().endswith(_PROSE) or path.startswith(("docs/", "doc/"))


def _still_there(ctx: CheckContext, commit: str, candidates: dict[str, bool],
                 from_code: frozenset[str] | set[str] = frozenset()) -> set[str]:
    """Candidates `commit` still holds: as a definition (Python names) or anywhere but history files (others);
    a name the subtask removed from code counts as gone when only prose (docs) still mentions it."""
    words = {t.lstrip("."): t for t in candidates}
    found: set[str] = set()
    args = ["grep", "-I", "-o", "-w", "-F", "--full-name", "-n"]
    for word in sorted(words):
        args += ["-e", word]
    out = ctx.git(*args, commit, "--", ".", check=False)
    css_files: dict[str, set[str]] = {}
    for line in out.splitlines():
        _, path, _, word = (line.split(":", 3) + ["", "", ""])[:4]
        token = words.get(word)
        if token is None or _history(path) or (token in from_code and _prose(path)):
            continue
        if token.startswith("."):
            if path.lower().endswith(_CSS + _MARKUP) or "/templates/" in f"/{path}":
                css_files.setdefault(path, set()).add(token)
        elif not candidates[token]:
            found.add(token)
    for token, py_only in candidates.items():
        if py_only and token not in found and _defined_in_python(ctx, commit, token):
            found.add(token)
    for path, css in css_files.items():
        text = ctx.text(commit, path) or ""
        present = {t for line in text.splitlines() for t in tokens(line, path)}
        found |= css & present
    return found


def _defined_in_python(ctx: CheckContext, commit: str, name: str) -> bool:
    """Does some Python file of `commit` define `name`: a def or class anywhere, an assignment at module
    or class level (a local variable is not what callers reach)? `git grep` picks the files, `ast` decides."""
    pattern = rf"(def|class)\s+{name}\b|^\s*{name}\s*(:[^=]*)?=[^=]"
    out = ctx.git("grep", "-l", "-E", "-e", pattern, commit, "--", "*.py", "*.pyi", check=False)
    for line in out.splitlines():
        try:
            tree = ast.parse(ctx.text(commit, line.split(":", 1)[1]) or "")
        except (SyntaxError, ValueError):
            return True  # cannot tell: assume it is there
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == name:
                return True
            if isinstance(node, (ast.Module, ast.ClassDef)):
                for stmt in node.body:
                    targets = stmt.targets if isinstance(stmt, ast.Assign) else \
                        [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
                    if any(isinstance(t, ast.Name) and t.id == name for t in targets):
                        return True
    return False


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per name a subtask retired and another subtask newly used."""
    lines = {c.id: diff_lines(ctx, c.start_commit, c.commit) for c in ctx.changes}
    added_tokens: dict[str, set[str]] = {}
    for sid, ls in lines.items():
        added_tokens[sid] = set()
        for path, rows in ls.added.items():
            for row in rows:
                added_tokens[sid] |= tokens(row, path)
                if path.endswith(".py"):
                    added_tokens[sid] |= {part for word in _WORD.findall(row) for part in word.split(".")}
    findings: list[Finding] = []
    for change in ctx.changes:
        mine = lines[change.id]
        removed: dict[str, bool] = {}  # token -> known only as a Python definition (a plain word)
        from_code: set[str] = set()
        for path, rows in mine.removed.items():
            for row in rows:
                for t in tokens(row, path):
                    removed.setdefault(t, False)
                    if not _prose(path):
                        from_code.add(t)
                if path.endswith((".py", ".pyi")):
                    for t in python_defs(row) - set(removed):
                        removed[t] = True
        kept = {t for path, rows in mine.added.items() for row in rows for t in tokens(row, path)}
        kept |= {t for rows in mine.added.values() for row in rows for t in python_defs(row)}
        others = set().union(*(added_tokens[s] for s in added_tokens if s != change.id)) if len(lines) > 1 else set()
        candidates = {t: py for t, py in removed.items() if t not in kept and (t in others or t.lstrip(".") in others)}
        if not candidates:
            continue
        present = _still_there(ctx, change.commit, candidates, from_code)
        gone = {t: py for t, py in candidates.items() if t not in present}
        found = [f for f in (_finding(ctx, change.id, t, py, lines) for t, py in sorted(gone.items())) if f]
        findings += _one_per_name(found)
    return findings


def _one_per_name(found: list[Finding]) -> list[Finding]:
    """`Cls.member` and `member` retired together are one cause: keep the part."""
    names = {f.symbol: f for f in found}
    out = []
    for f in found:
        parts = (f.symbol or "").split(".")
        twin = next((names[p] for p in parts if p != f.symbol and p in names), None)
        if twin is not None and set(twin.subtasks) == set(f.subtasks):
            continue
        out.append(f)
    return out


def _finding(ctx: CheckContext, retirer: str, token: str, py_only: bool, lines: dict[str, Lines]) -> Finding | None:
    users: dict[str, list[str]] = {}
    for sid, ls in lines.items():
        if sid == retirer:
            continue
        for path, rows in ls.added.items():
            if any(_defines(token, r) for r in rows) and not token.startswith("."):
                continue  # the other subtask brings its own definition of the name
            if any(_uses(token, path, r, py_only) for r in rows):
                merged = ctx.text(ctx.merged, path)
                if merged is not None and token.lstrip(".") in merged:
                    users.setdefault(sid, []).append(path)
    if not users:
        return None
    if token.startswith(".") and _css_defined(ctx, token, users):
        return None
    where = sorted(p for p, rows in lines[retirer].removed.items() if any(token.lstrip(".") in r for r in rows))
    files = sorted({p for ps in users.values() for p in ps})
    what = "CSS class " + token[1:] if token.startswith(".") else f'"{token}"'
    how = "defines it nowhere" if py_only else "mentions it nowhere"
    added = "; ".join(f"{sid} added a use in {', '.join(sorted(ps))}" for sid, ps in sorted(users.items()))
    msg = (f"{what}: {retirer} removed it (from {', '.join(where[:3])}{' and more' if len(where) > 3 else ''}) "
           f"and its tree {how}, but {added}: each branch alone is consistent, the merge is not")
    return Finding(KIND, ctx.sort_ids([retirer, *users]), files + [p for p in where if p not in files],
                   msg, symbol=token.lstrip("."))


def _css_defined(ctx: CheckContext, token: str, users: dict[str, list[str]]) -> bool:
    """A class the merged tree's stylesheets still define (another selector) is not a dangling use."""
    name = token[1:]
    for path in ctx.grep(ctx.merged, [name], ["*" + ext for ext in _CSS]):
        text = ctx.text(ctx.merged, path) or ""
        if any(token in tokens(line, path) for line in text.splitlines()):
            return True
    return False
