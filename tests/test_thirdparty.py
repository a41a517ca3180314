"""`swarm run --plan` on real third-party code: attrs 26.1.0, unpacked from its PyPI sdist into a git repo.

What this proves: on a real code base that swarm's authors did not write, a
plan whose cross-file rename is split across two agents (one renames the
definition in its module, the other updates the callers in another module),
run next to two unrelated agents, yields a merged branch that is a working
attrs: every subtask's commit lands in ``swarm/<run>/merged``, the old name is
gone everywhere, the new one is in both modules, and attrs's own test files
give the same pass/fail counts on the merged commit as on the base commit.
Neither half of the rename is importable on its own (``_next_gen`` would
import a name ``_make`` no longer has), so equal counts need both halves merged.

The renamed helper is ``attr._make._frozen_setattrs``, the ``__setattr__``
that attrs attaches to frozen classes; ``attr._next_gen.define`` compares a
base class's ``__setattr__`` against it to inherit frozen-ness, and
``tests/test_next_gen.py`` covers both (``test_frozen``,
``test_subclass_frozen``, ``test_catches_frozen_on_setattr``).

attrs's ``tests/conftest.py`` imports hypothesis, which is not among this
project's test dependencies, so attrs's tests run with ``--noconftest`` on
files that need neither hypothesis nor that conftest's fixtures.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import git, swarm, text, tool, turn, write_plan
from sdists import sdist_dir, unpack_into_repo

OLD = "_frozen_setattrs"
NEW = "_raise_frozen_setattr"
ATTRS_TESTS = ["tests/test_next_gen.py", "tests/test_filters.py", "tests/test_validators.py",
               "tests/test_cmp.py", "tests/test_hooks.py"]
ATTRS_TEST_COMMAND = ("python -m pytest -q -x -p no:cacheprovider --noconftest " + " ".join(ATTRS_TESTS))
CHANGELOG = "changelog.d/1501.change.md"

SHARED = f"""Contract all subtasks follow:
- attr._make.{OLD}(self, name, value) becomes attr._make.{NEW}(self, name, value): same body, same
  behaviour (raises FrozenInstanceError, lets BaseException's traceback attributes through).
- A clean rename: no alias keeps the old name alive, anywhere in the repository.
- Edit only the files your subtask owns. Until both halves of the rename are merged, importing attr
  fails in a checkout that has only one of them; check your own files compile and leave the tests to
  the merged branch."""

PLAN = {
    "task": f"Rename the private helper attr._make.{OLD} to {NEW} across src/attr, document "
            "filters._split_what better, and add a changelog fragment.",
    "test_command": f"PYTHONPATH=src {ATTRS_TEST_COMMAND}",
    "shared": SHARED,
    "subtasks": [
        {"id": "rename-def", "title": f"Rename {OLD} to {NEW} where it is defined",
         "instructions": f"In src/attr/_make.py rename the function {OLD} to {NEW}: its definition, the "
                         "assignment to __setattr__ in _ClassBuilder, and the identity check in "
                         "_has_frozen_base_class. Do not touch other files.",
         "files": ["src/attr/_make.py"], "depends_on": []},
        {"id": "rename-callers", "title": f"Switch the callers of {OLD} to {NEW}",
         "instructions": f"src/attr/_next_gen.py imports {OLD} from ._make and compares base classes' "
                         f"__setattr__ with it in define(); switch both to {NEW}. The definition is renamed "
                         "by another subtask.",
         "files": ["src/attr/_next_gen.py"], "depends_on": []},
        {"id": "filters-doc", "title": "Document filters._split_what",
         "instructions": "Expand the docstring of _split_what in src/attr/filters.py: say what *what* holds "
                         "and what each of the three frozensets is.",
         "files": ["src/attr/filters.py"], "depends_on": []},
        {"id": "changelog", "title": "Add a changelog fragment",
         "instructions": f"Add {CHANGELOG}, a towncrier fragment (see changelog.d/) saying that frozen "
                         "classes now get their __setattr__ from an internal helper with a clearer name; "
                         "no user-visible change.",
         "files": [CHANGELOG], "depends_on": []},
    ],
}

MAKE = "src/attr/_make.py"
NEXT_GEN = "src/attr/_next_gen.py"
FILTERS = "src/attr/filters.py"

SCRIPT = {"workers": {
    "rename-def": [
        turn(text(f"Finding every use of {OLD} first."), tool("grep", pattern=OLD, path="src/attr")),
        turn(tool("read", file_path=MAKE, view_range=[555, 575])),
        turn(text("Three occurrences in _make.py; _next_gen.py belongs to another subtask."),
             tool("edit", file_path=MAKE, old_string=f"def {OLD}(self, name, value):",
                  new_string=f"def {NEW}(self, name, value):"),
             tool("edit", file_path=MAKE, old_string=f'self._cls_dict["__setattr__"] = {OLD}\n',
                  new_string=f'self._cls_dict["__setattr__"] = {NEW}\n'),
             tool("edit", file_path=MAKE, old_string=f"return cls.__setattr__ is {OLD}\n",
                  new_string=f"return cls.__setattr__ is {NEW}\n")),
        turn(tool("bash", command=f"python -c \"import ast; ast.parse(open('{MAKE}').read()); print('ok')\"")),
        turn(text(f"Renamed {OLD} to {NEW} in src/attr/_make.py (definition, frozen __setattr__ "
                  "assignment, _has_frozen_base_class).")),
    ],
    "rename-callers": [
        turn(text(f"Looking for {OLD} in _next_gen.py."), tool("grep", pattern=OLD, path=NEXT_GEN)),
        turn(tool("read", file_path=NEXT_GEN, view_range=[13, 20])),
        turn(tool("edit", file_path=NEXT_GEN, old_string=f"    NOTHING,\n    {OLD},\n",
                  new_string=f"    NOTHING,\n    {NEW},\n"),
             tool("edit", file_path=NEXT_GEN, old_string=f"if base_cls.__setattr__ is {OLD}:",
                  new_string=f"if base_cls.__setattr__ is {NEW}:")),
        turn(tool("bash", command=f"python -c \"import ast; ast.parse(open('{NEXT_GEN}').read()); print('ok')\"")),
        turn(text(f"src/attr/_next_gen.py now imports and compares against {NEW}.")),
    ],
    "filters-doc": [
        turn(tool("read", file_path=FILTERS)),
        turn(tool("edit", file_path=FILTERS,
                  old_string="    Returns a tuple of `frozenset`s of classes and attributes.\n",
                  new_string="    Returns a tuple of `frozenset`s of classes and attributes.\n"
                             "\n"
                             "    *what* mixes types, field names (`str`) and `attrs.Attribute`\n"
                             "    instances; they are split into three frozensets, in that order.\n")),
        turn(text("Expanded the _split_what docstring.")),
    ],
    "changelog": [
        turn(tool("glob", pattern="changelog.d/*")),
        turn(tool("read", file_path="changelog.d/towncrier_template.md.jinja")),
        turn(tool("write", file_path=CHANGELOG,
                  content=f"Frozen classes now get their `__setattr__` from the internal helper "
                          f"`attr._make.{NEW}`, whose name says what it does.\nNo user-visible change.\n")),
        turn(text(f"Added {CHANGELOG}.")),
    ],
}}

_COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed)\b")


def run_attrs_tests(repo: Path, commit: str, where: Path) -> tuple[dict[str, int], str]:
    """attrs's own tests on `commit`, in a detached worktree, importing that checkout's attr."""
    git(repo, "worktree", "add", "--detach", str(where), commit)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.update(PYTHONPATH=str(where / "src"), PYTHONDONTWRITEBYTECODE="1")
    # The checkout's attr is the one imported (nothing installed shadows it).
    probe = subprocess.run([sys.executable, "-c", "import attr; print(attr.__file__)"], cwd=where, env=env,
                           capture_output=True, text=True)
    assert probe.returncode == 0, f"import attr fails on {commit}:\n{probe.stderr[-2000:]}"
    assert Path(probe.stdout.strip()).is_relative_to(where / "src"), probe.stdout
    proc = subprocess.run([sys.executable, *ATTRS_TEST_COMMAND.split()[1:]], cwd=where, env=env,
                          capture_output=True, text=True, timeout=120)
    summary = (proc.stdout.strip().splitlines() or [""])[-1]
    counts = {("error" if kind.startswith("error") else kind): int(n) for n, kind in _COUNT.findall(summary)}
    return counts, proc.stdout[-3000:] + proc.stderr[-2000:]


def tool_errors(server) -> list[str]:
    """Every tool_result the agents sent back marked as an error (a scripted edit that did not apply)."""
    errors = []
    for record in server.requests:
        for message in record["body"].get("messages", []):
            if message.get("role") != "user" or isinstance(message.get("content"), str):
                continue
            for block in message["content"]:
                if block.get("type") == "tool_result" and block.get("is_error"):
                    errors.append(f"{record['key']} turn {record['turn']}: {block.get('content')}")
    return sorted(set(errors))


def test_cross_file_rename_in_attrs_keeps_its_tests_green(scripted, tmp_path):
    repo = unpack_into_repo(sdist_dir("attrs", "26.1.0"), tmp_path / "attrs")
    base = git(repo, "rev-parse", "HEAD")
    # Guard the script against the real source: the old name is where the script expects it, the new one nowhere.
    assert git(repo, "grep", "-c", OLD, "--", "src").splitlines() == [f"{MAKE}:3", f"{NEXT_GEN}:2"]
    assert subprocess.run(["git", "grep", "-q", NEW], cwd=repo).returncode == 1

    server = scripted(SCRIPT)
    plan = write_plan(tmp_path / "plan.json", PLAN)
    # Agents' `python` is this interpreter, as a developer's would be their project's.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    proc = swarm(repo, "run", "--plan", str(plan), "--json", server=server, env={"PATH": path}, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    result = json.loads(proc.stdout)
    assert tool_errors(server) == []

    assert result["state"] == "done"
    subtasks = {s["id"]: s for s in result["subtasks"]}
    assert list(subtasks) == ["rename-def", "rename-callers", "filters-doc", "changelog"]
    for sid, sub in subtasks.items():
        assert sub["state"] == "done" and sub["merged"], (sid, sub["error"])
    assert subtasks["rename-def"]["files_changed"] == [MAKE]
    assert subtasks["rename-callers"]["files_changed"] == [NEXT_GEN]
    assert subtasks["filters-doc"]["files_changed"] == [FILTERS]
    assert subtasks["changelog"]["files_changed"] == [CHANGELOG]
    assert result["conflicts"] == []

    merged = result["merged_commit"]
    assert git(repo, "rev-parse", result["merged_branch"]) == merged
    assert git(repo, "rev-parse", "HEAD") == base and git(repo, "status", "--porcelain") == ""
    # The old name is gone from the whole tree; the new one is where the old one was.
    old_hits = subprocess.run(["git", "grep", "-n", OLD, merged], cwd=repo, capture_output=True, text=True)
    assert old_hits.returncode == 1 and old_hits.stdout == "", old_hits.stdout
    new_hits = git(repo, "grep", "-c", NEW, merged, "--", "src")
    assert sorted(new_hits.splitlines()) == [f"{merged}:{MAKE}:3", f"{merged}:{NEXT_GEN}:2"]
    assert git(repo, "grep", "-l", NEW, merged, "--", CHANGELOG) == f"{merged}:{CHANGELOG}"
    assert "they are split into three frozensets" in git(repo, "show", f"{merged}:{FILTERS}")
    changed = git(repo, "diff", "--name-only", base, merged).splitlines()
    assert sorted(changed) == sorted([MAKE, NEXT_GEN, FILTERS, CHANGELOG])

    base_counts, base_out = run_attrs_tests(repo, base, tmp_path / "check-base")
    merged_counts, merged_out = run_attrs_tests(repo, merged, tmp_path / "check-merged")
    assert base_counts.get("passed", 0) > 0, base_out
    assert merged_counts == base_counts, f"base: {base_counts}\nmerged: {merged_counts}\n{merged_out}"
