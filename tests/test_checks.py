"""The synthesis pass's consistency checks, on real git repositories.

The corpus (tests/corpus/cases/*.toml, run by scripts/corpus.py) plants
contradictions between parallel subtasks that git merges cleanly, next to
clean parallel changes: recall must stay at 90% or more, and a clean case
must never get a finding. The focused tests below pin each check's rules.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from conftest import git, load_corpus
from swarm.checks import KINDS, SubtaskChange, TestOutcome, run_checks
from swarm.checks.config import flatten, reads
from swarm.checks.link import links, target
from swarm.checks.scope import in_scope
from swarm.checks.test import failed_ids
from swarm.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
corpus = load_corpus()

CASES = corpus.load_cases()


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where = tmp_path_factory.mktemp("corpus")
    return {o.case.name: o for o in asyncio.run(_run_all(where))}


async def _run_all(where: Path) -> list[Any]:
    return [await corpus.run_case(case, where) for case in CASES]


def build(tmp_path: Path, base: dict[str, str], *subtasks: dict[str, Any], test_command: str | None = None,
          name: str = "case") -> dict[str, Any]:
    case = corpus.Case(name=name, description="", base=base, subtasks=list(subtasks), test_command=test_command)
    return asyncio.run(corpus.build(case, tmp_path))


def check(tmp_path: Path, base: dict[str, str], *subtasks: dict[str, Any], **kwargs: Any):
    args = build(tmp_path, base, *subtasks)
    return asyncio.run(run_checks(**args, **kwargs))


# -- the corpus -----------------------------------------------------------------------------


def test_corpus_is_big_enough():
    planted = [c for c in CASES if not c.clean]
    clean = [c for c in CASES if c.clean]
    assert len(planted) >= 15 and len(clean) >= 8
    assert {e["kind"] for c in planted for e in c.expect} >= {"symbol", "overlap", "duplicate", "scope", "config",
                                                              "link", "test"}


def test_corpus_recall_and_no_false_positives(outcomes):
    totals = corpus.totals(list(outcomes.values()))
    print(corpus.table(list(outcomes.values())))
    assert totals["recall"] >= 0.9
    assert totals["false_positives"] == 0


@pytest.mark.parametrize("name", [c.name for c in CASES if c.clean])
def test_clean_case_has_no_finding(outcomes, name):
    outcome = outcomes[name]
    assert outcome.report.findings == [], [f.message for f in outcome.report.findings]


@pytest.mark.parametrize("name", [c.name for c in CASES if not c.clean])
def test_planted_case_is_found_and_attributed(outcomes, name):
    outcome = outcomes[name]
    if outcome.case.known_miss:
        assert outcome.misses, f"{name} is found now: drop its known_miss"
        pytest.xfail(outcome.case.known_miss)
    assert not outcome.misses, f"missed {outcome.misses}; found {[f.to_dict() for f in outcome.report.findings]}"
    assert not outcome.unexpected, [f.message for f in outcome.unexpected]


# -- the entry point ---------------------------------------------------------------------------------


def test_report_says_status_time_and_count_per_kind(tmp_path):
    report = check(tmp_path, {"a.py": "x = 1\n"},
                   {"id": "one", "scope": ["b/**"], "write": {"a.py": "x = 2\n"}})
    assert list(report.checks) == list(KINDS)
    assert report.checks["scope"]["status"] == "fail" and report.checks["scope"]["count"] == 1
    assert report.checks["symbol"]["status"] == "pass"
    assert report.checks["test"]["status"] == "skipped"
    assert all(isinstance(v["seconds"], float) for v in report.checks.values())
    data = json.loads(json.dumps(report.to_dict()))
    assert data["findings"][0] == {"kind": "scope", "subtasks": ["one"], "files": ["a.py"], "severity": "warning",
                                   "message": "one changed 1 file(s) outside its scope (b/**): a.py"}


def test_kinds_pick_the_checks_and_unknown_kinds_are_refused(tmp_path):
    args = build(tmp_path, {"a.py": "x = 1\n"}, {"id": "one", "scope": ["b/**"], "write": {"a.py": "x = 2\n"}})
    report = asyncio.run(run_checks(**args, kinds={"overlap"}))
    assert list(report.checks) == ["overlap"] and report.findings == []
    with pytest.raises(ConfigError, match="unknown check kind.*sytnax"):
        asyncio.run(run_checks(**args, kinds={"sytnax"}))


def test_subtask_change_reads_a_diffs_record():
    record = {"subtask": "core", "base": "a" * 40, "commit": "b" * 40,
              "files": [{"path": "new.py", "source_path": "old.py", "status": "renamed", "hunks": []}]}
    change = SubtaskChange.from_record(record, ["src/**"])
    assert (change.id, change.files, change.start_commit, change.commit) == ("core", ["src/**"], "a" * 40, "b" * 40)
    assert change.paths() == {"new.py", "old.py"}
    assert change.status("old.py") == "removed" and change.source_of("new.py") == "old.py"


# -- scope --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path, globs, inside", [
    ("src/a.py", ["src/**"], True), ("src/x/a.py", ["src/*.py"], False), ("src/a.py", ["src/*.py"], True),
    ("a/b/test_x.py", ["**/test_*.py"], True), ("test_x.py", ["**/test_*.py"], True),
    ("docs/a.md", ["docs"], True), ("docs/a.md", ["docs/"], True), ("x/y.md", ["*.md"], False), ("x/y.md", ["**/*.md"], True),
    ("README.md", ["docs/**"], False), ("srcx/a.py", ["src/**"], False), ("pkg/mod01.py", ["pkg/mod0.py"], False),
    ("c.py", ["[!ab].py"], True), ("src/a/b/c.py", ["src/**/c.py"], True), ("anything", [], True),
])
def test_scope_globs(path, globs, inside):
    assert in_scope(path, globs) is inside


def test_a_subtask_without_globs_may_change_anything(tmp_path):
    report = check(tmp_path, {"a.py": "x = 1\n"}, {"id": "free", "write": {"a.py": "x = 2\n", "b/c.md": "# c\n"}})
    assert report.findings == []


# -- conflict and overlap -----------------------------------------------------------------------------------

BASE_FUNCS = {"m.py": "import os\n\n\ndef f(x):\n    a = x\n    b = a + 1\n    return b\n\n\n"
                      "def g(y):\n    return y\n"}


def test_a_textual_conflict_is_reported_once_with_both_subtasks(tmp_path):
    report = check(tmp_path, BASE_FUNCS,
                   {"id": "one", "replace": [{"path": "m.py", "old": "b = a + 1", "new": "b = a + 2"}]},
                   {"id": "two", "replace": [{"path": "m.py", "old": "b = a + 1", "new": "b = a * 2"}]})
    assert [(f.kind, f.subtasks, f.files) for f in report.findings] == [("conflict", ["one", "two"], ["m.py"])]
    assert "two was left out" in report.findings[0].message


def test_overlap_names_the_function_both_edited(tmp_path):
    report = check(tmp_path, BASE_FUNCS,
                   {"id": "one", "replace": [{"path": "m.py", "old": "    a = x\n", "new": "    a = int(x)\n"}]},
                   {"id": "two", "replace": [{"path": "m.py", "old": "    return b\n", "new": "    return -b\n"}]})
    [finding] = report.findings
    assert finding.kind == "overlap" and finding.subtasks == ["one", "two"]
    assert "f()" in finding.message


def test_imports_added_side_by_side_are_not_an_overlap(tmp_path):
    base = {"m.py": "import os\nimport re\nimport sys\n\n\ndef f():\n    return os, re, sys\n"}
    one = {"path": "m.py", "old": "import os\n", "new": "import json\nimport os\n"}
    two = {"path": "m.py", "old": "import sys\n", "new": "import sys\nimport time\n"}
    report = check(tmp_path, base, {"id": "one", "replace": [one]}, {"id": "two", "replace": [two]})
    assert report.findings == []


# -- duplicate ---------------------------------------------------------------------------------------------


def test_the_same_helper_body_under_other_parameter_names_is_a_duplicate(tmp_path):
    helper = "def clean(value):\n    return value.strip().lower()\n"
    report = check(tmp_path, {"a.py": "A = 1\n", "b.py": "B = 1\n"},
                   {"id": "one", "write": {"a.py": "A = 1\n\n\n" + helper}},
                   {"id": "two", "write": {"b.py": "B = 1\n\n\n" + helper.replace("value", "text")}})
    [finding] = report.findings
    assert (finding.kind, finding.symbol, finding.files) == ("duplicate", "clean", ["a.py", "b.py"])


def test_a_duplicate_consolidated_on_the_merged_tree_is_no_longer_reported(tmp_path):
    base = {"fmt.py": "def a():\n    return 1\n\n\ndef b():\n    return 2\n\n\ndef c():\n    return 3\n"}
    helper = "\n\ndef money(cents):\n    return cents / 100\n"
    one = {"path": "fmt.py", "old": "    return 1\n", "new": "    return 1\n" + helper}
    two = {"path": "fmt.py", "old": "    return 3\n", "new": "    return 3\n" + helper}
    args = build(tmp_path, base, {"id": "one", "replace": [one]}, {"id": "two", "replace": [two]})
    assert [f.kind for f in asyncio.run(run_checks(**args)).findings] == ["duplicate"]
    # What a synthesizer does: keep one copy, in a commit on top of the merge.
    root = args["repo"].root
    git(root, "checkout", "-q", "--detach", args["merged"])
    text = (root / "fmt.py").read_text()
    (root / "fmt.py").write_text(text[::-1].replace(helper[::-1], "", 1)[::-1])
    git(root, "commit", "-q", "-am", "synthesis: one money()")
    fixed = git(root, "rev-parse", "HEAD")
    assert asyncio.run(run_checks(**{**args, "merged": fixed})).findings == []


def test_same_names_in_test_files_and_common_entry_points_are_not_duplicates(tmp_path):
    report = check(tmp_path, {"README.md": "x\n"},
                   {"id": "one", "write": {"tests/test_a.py": "def test_ok(tmp):\n    assert tmp\n",
                                           "tool_a.py": "def main(argv):\n    return 0\n"}},
                   {"id": "two", "write": {"tests/test_b.py": "def test_ok(tmp):\n    assert tmp\n",
                                           "tool_b.py": "def main(argv):\n    return 1\n"}})
    assert report.findings == []


# -- symbol ---------------------------------------------------------------------------------------------------


def test_a_file_broken_by_its_own_subtask_names_that_subtask(tmp_path):
    report = check(tmp_path, {"m.py": "def f():\n    return 1\n"},
                   {"id": "one", "write": {"m.py": "def f(:\n    return 1\n"}},
                   {"id": "two", "write": {"n.py": "X = 2\n"}})
    [finding] = report.findings
    assert finding.kind == "symbol" and finding.subtasks == ["one"] and "does not parse" in finding.message


def test_optional_and_compiled_imports_are_not_judged(tmp_path):
    report = check(tmp_path, {"pkg/__init__.py": "", "pkg/_speedups.pyx": "# cython\n", "pkg/core.py": "X = 1\n"},
                   {"id": "one", "write": {"pkg/core.py": "try:\n    from pkg._fast import go\nexcept ImportError:\n"
                                                          "    go = None\nfrom pkg._speedups import blend\nX = 1\n"}})
    assert report.findings == []


def test_removed_name_used_by_an_unchanged_file_is_found_through_git_grep(tmp_path):
    report = check(tmp_path, {"lib/__init__.py": "", "lib/util.py": "def helper():\n    return 1\n",
                              "lib/far/__init__.py": "", "lib/far/away.py": "from lib.util import helper\n"},
                   {"id": "one", "write": {"lib/util.py": "def assist():\n    return 1\n"}})
    [finding] = report.findings
    assert finding.kind == "symbol" and finding.files == ["lib/far/away.py", "lib/util.py"]
    assert finding.subtasks == ["one"] and "broken by one" in finding.message


# -- link and config -------------------------------------------------------------------------------------------


def test_links_are_read_from_markdown_and_html_but_not_from_code():
    page = ("[a](a.md) ![i](<img/my logo.png> \"t\") `[x](code.md)`\n```\n[y](fenced.md)\n```\n"
            "[ref]: ref.md\n<a href=\"b.html\">b</a>\n")
    assert links(page, "docs/p.md") == ["a.md", "img/my logo.png", "ref.md", "b.html"]
    assert target("docs/p.md", "../x/y.md#part?q=1") == "x/y.md"
    assert target("docs/p.md", "my%20file.md") == "docs/my file.md"
    for url in ("https://e.org/a.md", "mailto:a@b.c", "#top", "/abs.md", "{{ url }}", "../../outside.md"):
        assert target("docs/p.md", url) is None


def test_config_keys_and_reads():
    assert set(flatten('{"a": {"b": 1}, "c": [{"d": 2}]}', "x.json")) == {("a",), ("a", "b"), ("c",), ("c", "d")}
    assert set(flatten("[s]\nKey = 1\n", "x.ini")) == {("s",), ("s", "Key")}
    assert set(flatten("[t]\nk = 1\n", "x.toml")) == {("t",), ("t", "k")}
    assert set(flatten("export TOKEN=1\n# c\nB=2\n", ".env")) == {("TOKEN",), ("B",)}
    assert flatten("{broken", "x.json") is None
    code = 'a = cfg["key"]\nb = cfg.get("key", 1)\nc = "key" in cfg\nd = ini.get("sec", "key")\nprint("key")\n'
    assert [line for _, line in reads(code, {"key"})] == [1, 2, 3, 4]


# -- test ---------------------------------------------------------------------------------------------------------


def test_failed_ids_come_from_pytest_summary_lines():
    out = ("FAILED tests/test_a.py::test_x - AssertionError: boom\nERROR tests/test_b.py - ImportError\n"
           "FAILED tests/test_a.py::TestK::test_y[1-2]\nPASSED tests/test_c.py::test_z\n")
    assert failed_ids(out) == {"tests/test_a.py::test_x", "tests/test_b.py", "tests/test_a.py::TestK::test_y[1-2]"}


def test_a_test_runner_can_be_plugged_in_and_timeouts_are_regressions(tmp_path):
    args = build(tmp_path, {"a.py": "x = 1\n"}, {"id": "one", "write": {"a.py": "x = 2\n"}})
    seen = []

    async def runner(repo, commit, command, timeout):
        seen.append(commit)
        return TestOutcome(exit_code=-1, timed_out=commit == args["merged"], seconds=1.0)

    report = asyncio.run(run_checks(**{**args, "test_command": "make test"}, test_runner=runner, test_timeout=9))
    assert sorted(seen) == sorted([args["base"], args["merged"]])
    [finding] = report.findings
    assert finding.kind == "test" and "timed out after 9s on the merged tree" in finding.message
    # A re-check on the same base reuses the base's run: only the merged commit runs again.
    seen.clear()
    again = asyncio.run(run_checks(**{**args, "test_command": "make test"}, test_runner=runner, test_timeout=9,
                                   test_baseline=report.test_baseline))
    assert seen == [args["merged"]] and len(again.findings) == 1


def test_a_name_renamed_away_from_a_module_with_getattr_is_still_found(tmp_path):
    # click/utils.py has a module __getattr__ (for deprecated names); a half-rename there broke `import click`.
    utils = ("def format_filename(name):\n    return name\n\n\n"
             "def __getattr__(name):\n    if name == 'old_echo':\n        return format_filename\n"
             "    raise AttributeError(name)\n")
    base = {"pkg/__init__.py": "from .utils import format_filename\n", "pkg/utils.py": utils,
            "pkg/cli.py": "from .utils import old_echo\n"}
    report = check(tmp_path, base, {"id": "rename", "write": {"pkg/utils.py": utils.replace("format_filename", "fmt_name")}},
                   {"id": "docs", "write": {"README.md": "docs\n"}})
    found = [f for f in report.findings if f.kind == "symbol"]
    assert len(found) == 1 and "format_filename" in found[0].message and "pkg/__init__.py" in found[0].files
    # the name the __getattr__ serves (spelled in it) still resolves: no finding for pkg/cli.py
    assert "old_echo" not in found[0].message
