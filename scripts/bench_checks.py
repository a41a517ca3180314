#!/usr/bin/env python3
"""Time swarm.checks.run_checks on a real 7,000-file repository: the Django 5.1.4 sdist.

Sixteen subtasks make the kind of edits agents make (renames across the code
base, a module renamed, new functions and methods, a new test, doc and
template edits, a config key), each committed on its own branch from the
base; the branches are folded with swarm.merge.fold and run_checks (every
kind but `test`: no test command) looks at the result. Two contradictions are
planted so the numbers come from checks that do find things: `phone-rename`
renames phone2numeric while `phone-use` adds a module importing the old name,
and `readme` (scoped to docs/**) also edits README.rst. Anything else found
is a false positive and is printed.

    python scripts/bench_checks.py [--runs N]

Downloads the sdist once from PyPI through tests/sdists.py (cached in
.pytest_cache/).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from sdists import sdist_dir, unpack_into_repo  # noqa: E402

from swarm.checks import SubtaskChange, run_checks  # noqa: E402
from swarm.merge.diffs import parse_diff  # noqa: E402
from swarm.git.repo import GitRepo  # noqa: E402
from swarm.merge.fold import fold  # noqa: E402

VERSION = "5.1.4"
_GIT = ["git", "-c", "user.name=Bench", "-c", "user.email=bench@example.test", "-c", "commit.gpgsign=false",
        "-c", "core.hooksPath=/dev/null"]
EXPECTED = {("symbol", ("phone-rename", "phone-use")), ("scope", ("readme",))}
TARGET = 10.0  # seconds, median wall time of run_checks (issue 14: under 10 s for 16 subtasks)


def git(root: Path, *args: str) -> str:
    return subprocess.run([*_GIT, *args], cwd=root, check=True, capture_output=True, text=True).stdout.strip()


# -- edits -------------------------------------------------------------------------------------------


def rename_word(old: str, new: str, under: tuple[str, ...] = ("django", "tests")) -> Callable[[Path], None]:
    """Rename an identifier in every Python file that uses it (a complete rename)."""
    def edit(root: Path) -> None:
        files = git(root, "grep", "-l", "-w", old, "--", *[f"{u}/*.py" for u in under]).splitlines()
        for rel in files:
            path = root / rel
            path.write_text(re.sub(rf"\b{re.escape(old)}\b", new, path.read_text()))
    return edit


def replace(path: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        text = (root / path).read_text()
        if old not in text:
            raise SystemExit(f"bench edit: {old!r} not found in {path}")
        (root / path).write_text(text.replace(old, new, 1))
    return edit


def append(path: str, text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        with open(root / path, "a") as f:
            f.write(text)
    return edit


def write(path: str, text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return edit


def move(old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        git(root, "mv", old, new)
    return edit


SUBTASKS: list[tuple[str, list[str], list[Callable[[Path], None]]]] = [
    ("text-rename", ["django/**", "tests/**"], [rename_word("get_text_list", "join_text_list")]),
    ("text-new", ["django/utils/text.py"], [append("django/utils/text.py", '''

def truncate_middle(s, length, filler="..."):
    """Shorten `s` to `length` characters by cutting out its middle."""
    if len(s) <= length:
        return s
    keep = max(length - len(filler), 0)
    return s[: (keep + 1) // 2] + filler + s[len(s) - keep // 2:]
''')]),
    ("phone-rename", ["django/**", "tests/**"], [rename_word("phone2numeric", "phone_to_numeric")]),
    ("phone-use", ["django/utils/phone_format.py"], [write("django/utils/phone_format.py", '''
from django.utils.text import phone2numeric


def dial_string(phone):
    return phone2numeric(phone).replace("-", "")
''')]),
    ("html-rename", ["django/**", "tests/**"], [rename_word("avoid_wrapping", "keep_together")]),
    ("crypto-sig", ["django/utils/crypto.py"], [replace(
        "django/utils/crypto.py", "def constant_time_compare(val1, val2):\n",
        "def constant_time_compare(val1, val2, *, encoding=\"utf-8\"):\n")]),
    ("queryset-method", ["django/db/models/query.py"], [replace(
        "django/db/models/query.py", "    def last(self):\n",
        "    def first_or_none(self, *fields):\n"
        "        \"\"\"The first object ordered by `fields`, or None.\"\"\"\n"
        "        return (self.order_by(*fields) if fields else self).first()\n\n"
        "    def last(self):\n")]),
    ("duration-rename", ["django/**", "tests/**"], [rename_word("duration_string", "format_duration")]),
    ("termcolors-move", ["django/**", "tests/**"], [
        move("django/utils/termcolors.py", "django/utils/terminal_colors.py"),
        rename_word("termcolors", "terminal_colors")]),
    ("docs-md", ["docs/**"], [write("docs/internals/checks-notes.md", '''# Notes on checks

See the [contributing guide](contributing/index.txt), the [README](../../README.rst) and
[the utilities reference](../ref/utils.txt#module-django.utils.text).
Upstream: <https://www.djangoproject.com/>, [the tracker](https://code.djangoproject.com/),
[mail](mailto:django-developers@googlegroups.com), [top](#notes-on-checks).
''')]),
    ("docs-txt", ["docs/**"], [append("docs/ref/utils.txt",
                                      "\n.. note::\n\n    ``truncate_middle()`` shortens text in the middle.\n")]),
    ("admin-template", ["django/contrib/admin/templates/**"], [replace(
        "django/contrib/admin/templates/admin/base.html",
        "<a href=\"{% url 'admin:password_change' %}\">",
        "<a class=\"password-link\" href=\"{% url 'admin:password_change' %}\">")]),
    ("package-json", ["package.json"], [replace("package.json", '"test": "grunt test --verbose"',
                                                '"test": "grunt test --verbose",\n    "lint": "eslint ."')]),
    ("tests-new", ["tests/utils_tests/**"], [write("tests/utils_tests/test_truncate_middle.py", '''
from unittest import TestCase

from django.utils.text import truncate_middle


class TruncateMiddleTests(TestCase):
    def test_short_text_is_kept(self):
        self.assertEqual(truncate_middle("abc", 5), "abc")

    def test_long_text_is_cut(self):
        self.assertEqual(truncate_middle("abcdefghij", 7), "ab...ij")
''')]),
    ("dateformat-new", ["django/utils/dateformat.py"], [append("django/utils/dateformat.py", '''

def iso_week_label(value):
    "The ISO year and week of a date, as 2024-W07."
    return format(value, "o-\\\\WW")
''')]),
    ("readme", ["docs/**"], [replace("README.rst", "Django is a high-level Python web framework",
                                     "Django is a high-level, batteries-included Python web framework")]),
]


async def build(where: Path) -> dict:
    archive = sdist_dir("Django", VERSION)
    root = unpack_into_repo(archive, where / "django")
    repo = GitRepo(root)
    base = git(root, "rev-parse", "HEAD")
    changes = []
    for sid, scope, edits in SUBTASKS:
        git(root, "checkout", "-q", "--detach", base)
        for edit in edits:
            edit(root)
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", sid)
        commit = git(root, "rev-parse", "HEAD")
        changes.append(SubtaskChange(sid, scope, base, commit, parse_diff(await repo.diff(base, commit))))
    git(root, "checkout", "-q", "--detach", base)
    folded = await fold(repo, base, [(c.id, c.commit) for c in changes], {c.id: sorted(c.paths()) for c in changes})
    files = len(git(root, "ls-files").splitlines())
    return {"repo": repo, "base": base, "merged": folded.commit, "changes": changes, "conflicts": folded.conflicts,
            "files": files}


def read_speed(repo: GitRepo, commit: str, count: int = 300) -> tuple[int, float, float]:
    """Seconds to read `count` Python files: one `git cat-file --batch` process, then one `git show` each."""
    from swarm.checks.context import Blobs

    paths = [p for p in git(repo.root, "ls-tree", "-r", "--name-only", commit).splitlines() if p.endswith(".py")]
    paths = paths[:count]
    t0 = time.monotonic()
    blobs = Blobs(repo)
    for path in paths:
        blobs.read(f"{commit}:{path}")
    blobs.close()
    batch = time.monotonic() - t0
    t0 = time.monotonic()
    for path in paths:
        git(repo.root, "show", f"{commit}:{path}")
    return len(paths), batch, time.monotonic() - t0


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of run_checks (default 3)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="swarm-bench-checks-") as tmp:
        began = time.monotonic()
        setup = await build(Path(tmp))
        files = setup.pop("files")
        changed = sum(len(c.changed) for c in setup["changes"])
        print(f"Django {VERSION}: {files} files; {len(setup['changes'])} subtasks changing {changed} files; "
              f"{len(setup['conflicts'])} conflict(s); set-up {time.monotonic() - began:.1f}s")
        times, cpu = [], []
        report = None
        for _ in range(opts.runs):
            t0, c0 = time.monotonic(), time.process_time()
            report = await run_checks(**setup)
            times.append(time.monotonic() - t0)
            cpu.append(time.process_time() - c0)
        assert report is not None
        print(f"run_checks: median {statistics.median(times):.2f}s, max {max(times):.2f}s over {opts.runs} runs "
              f"({', '.join(f'{t:.2f}' for t in times)}); CPU median {statistics.median(cpu):.2f}s")
        print("per check (last run): " + ", ".join(f"{k} {v['seconds']:.2f}s/{v['count']}"
                                                 for k, v in report.checks.items()))
        n, batch, show = read_speed(setup["repo"], setup["merged"])
        print(f"reading {n} files: git cat-file --batch {batch * 1000:.0f} ms, one git show each {show * 1000:.0f} ms")
        found = {(f.kind, tuple(f.subtasks)) for f in report.findings}
        for f in report.findings:
            mark = "planted" if (f.kind, tuple(f.subtasks)) in EXPECTED else "UNEXPECTED"
            print(f"  [{mark}] {f.kind} {','.join(f.subtasks)}: {f.message[:200]}")
        missing = EXPECTED - found
        for kind, ids in sorted(missing):
            print(f"  [MISSED] {kind} {','.join(ids)}")
        ok = statistics.median(times) < TARGET and not missing and found <= EXPECTED
        print("PASS" if ok else "FAIL", f"(target: < {TARGET:g} s, the planted findings and nothing else)")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
