"""`swarm test`: suites split into shards, each shard in its own reused worktree, results gathered into one.

Small synthetic suites in real git repositories, run through the real CLI in
a subprocess; one test runs click's own suite from its PyPI sdist and checks
the counts against plain pytest.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import git, swarm, write_plan
from sdists import sdist_dir, unpack_into_repo
from swarm.git.repo import GitRepo
from swarm.testrun import run_tests

# `python -m pytest` in a command means the python on PATH: make that this interpreter.
PATH_ENV = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
PYTEST = ["python", "-m", "pytest", "tests"]

# Each test writes the same file in its working folder and reads it back a moment later: two shards sharing a
# folder would overwrite each other's file. It also fails if a previous run's file is still there.
WRITER = '''
def test_{name}():
    out = Path("shared-output.txt")
    out.write_text("{name}")
    time.sleep(0.05)
    assert out.read_text() == "{name}"
    out.unlink()
    marker = Path("leftover-{name}.txt")
    assert not marker.exists(), "a file from an earlier run is still in the worktree"
    marker.write_text("x")
'''


def suite(files: int = 6, tests_per_file: int = 2) -> dict[str, str]:
    out = {}
    for f in range(files):
        body = "\n".join(WRITER.format(name=f"f{f}_t{t}") for t in range(tests_per_file))
        out[f"tests/test_file{f}.py"] = "import time\nfrom pathlib import Path\n\n" + body
    return out


def swarm_test(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return swarm(repo, "test", *args, env={**PATH_ENV, **(env or {})}, timeout=300)


def reports_of(proc: subprocess.CompletedProcess[str]) -> list[dict]:
    assert proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def junit_cases(path: Path) -> list[ET.Element]:
    return list(ET.parse(path).getroot().iter("testcase"))


def case_id(case: ET.Element) -> str:
    return next(p.get("value") for p in case.iter("property") if p.get("name") == "nodeid")


def test_shards_run_in_their_own_worktrees_and_add_up(make_repo, tmp_path):
    repo = make_repo(suite())
    head = git(repo, "rev-parse", "HEAD")
    junit = tmp_path / "results.xml"
    proc = swarm_test(repo, "--shards", "2", "--json", "--junit", str(junit), "--", *PYTEST)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    [report] = reports_of(proc)
    assert report["ok"] and report["commit"] == head
    assert report["totals"]["passed"] == 12 and report["totals"]["failed"] == 0
    assert sorted(report["outcomes"]) == sorted(f"tests/test_file{f}.py::test_f{f}_t{t}"
                                                for f in range(6) for t in range(2))
    # Both shards ran a part, each in its own pooled worktree, at the same time.
    shards = report["shards"]
    assert len(shards) == 2 and all(s["tests"] > 0 for s in shards)
    assert sum(s["tests"] for s in shards) == 12
    pool = Path(os.environ["XDG_CACHE_HOME"]) / "swarm" / "worktrees"
    worktrees = {Path(s["worktree"]) for s in shards}
    assert len(worktrees) == 2 and all(pool in w.parents and w.parent.name == "_test" for w in worktrees)
    assert "test files dealt out by size (a first run" in proc.stderr and "shard 2/2" in proc.stderr

    # One JUnit file with every test once, and totals that add up.
    cases = junit_cases(junit)
    assert sorted(case_id(c) for c in cases) == sorted(report["outcomes"])
    root = ET.parse(junit).getroot()
    assert root.get("tests") == "12" and root.get("failures") == "0"

    # The user's checkout is untouched; the worktrees are reused (and cleaned) by the next run.
    assert git(repo, "status", "--porcelain") == "" and not (repo / "shared-output.txt").exists()
    again = swarm_test(repo, "--shards", "2", "--json", "--", *PYTEST)
    assert again.returncode == 0, again.stderr + again.stdout
    assert {Path(s["worktree"]) for s in reports_of(again)[0]["shards"]} == worktrees
    assert git(repo, "worktree", "list").count("_test/shard-") == 2
    removed = swarm_test(repo, "--remove-worktrees")
    assert removed.returncode == 0 and "_test/shard-" not in git(repo, "worktree", "list")
    assert not any(w.exists() for w in worktrees)


def test_second_run_is_balanced_by_recorded_durations(make_repo):
    files = {"tests/test_slow.py": "import time\n\ndef test_slow():\n    time.sleep(1.0)\n"}
    for i in range(5):
        files[f"tests/test_quick{i}.py"] = f"import time\n\ndef test_quick{i}():\n    time.sleep(0.15)\n"
    repo = make_repo(files)

    first = swarm_test(repo, "--shards", "2", "--json", "--", *PYTEST)
    assert first.returncode == 0, first.stderr
    # No history yet: the suite is cut by file, three files a shard.
    assert sorted(s["tests"] for s in reports_of(first)[0]["shards"]) == [3, 3]
    durations = json.loads((repo / ".swarm" / "test-durations.json").read_text())
    assert durations["tests"]["tests/test_slow.py::test_slow"] >= 1.0

    second = swarm_test(repo, "--shards", "2", "--json", "--", *PYTEST)
    assert second.returncode == 0, second.stderr
    assert "planned from durations of 6 tests" in second.stderr and "collecting" not in second.stderr
    # The slow test gets a shard to itself; the five quick ones share the other.
    shards = reports_of(second)[0]["shards"]
    assert sorted(s["tests"] for s in shards) == [1, 5]
    alone = next(s for s in shards if s["tests"] == 1)
    assert "tests/test_slow.py" in " ".join(Path(alone["junit"]).read_text().split())


def test_a_failing_shard_fails_the_run_and_lists_what_to_rerun(make_repo, tmp_path):
    files = suite(files=4, tests_per_file=1)
    files["tests/test_broken.py"] = ("import pytest\n\n@pytest.fixture\ndef db():\n    raise RuntimeError('no db')\n\n"
                                     "def test_needs_db(db):\n    pass\n\ndef test_math():\n    assert 1 + 1 == 3\n\n"
                                     "def test_fine():\n    pass\n")
    repo = make_repo(files)
    junit = tmp_path / "results.xml"
    proc = swarm_test(repo, "--shards", "2", "--junit", str(junit), "--", *PYTEST)
    assert proc.returncode == 1, proc.stderr + proc.stdout
    failed_ids = ["tests/test_broken.py::test_math", "tests/test_broken.py::test_needs_db"]
    # Streamed as they happen, then listed, with a command that runs just them.
    assert "FAILED tests/test_broken.py::test_math" in proc.stderr
    assert "ERROR tests/test_broken.py::test_needs_db" in proc.stderr
    assert "5 passed, 1 failed, 1 errors, 0 skipped" in proc.stdout
    for test_id in failed_ids:
        assert f"\n  {test_id}\n" in proc.stdout
    rerun = re.search(r"re-run them: (.+)", proc.stdout).group(1)
    assert rerun.startswith("python -m pytest ") and all(i in rerun for i in failed_ids)
    redo = subprocess.run(rerun.split(), cwd=repo, env={**os.environ, **PATH_ENV}, capture_output=True, text=True)
    assert "1 failed, 1 error" in redo.stdout

    root = ET.parse(junit).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("7", "1", "1")


def test_a_shard_that_hangs_is_stopped_at_the_timeout(make_repo):
    repo = make_repo({"tests/test_hang.py": "import time\n\ndef test_quick():\n    pass\n\n"
                                            "def test_hang():\n    time.sleep(60)\n"})
    proc = swarm_test(repo, "--shards", "1", "--timeout", "5", "--", *PYTEST)
    assert proc.returncode == 1
    assert "shard 1/1: timed out after 5s in tests/test_hang.py::test_hang" in proc.stdout


def test_stale_plan_still_runs_every_test_exactly_once(make_repo):
    files = suite(files=3, tests_per_file=1)
    files["tests/test_many.py"] = "".join(f"def test_case{i}():\n    pass\n\n" for i in range(40))
    repo = make_repo(files)
    assert swarm_test(repo, "--shards", "2", "--", *PYTEST).returncode == 0
    # New tests since the durations were recorded: a new file, and new cases in a known file.
    (repo / "tests/test_new.py").write_text("def test_new_one():\n    pass\n\ndef test_new_two():\n    pass\n")
    with (repo / "tests/test_many.py").open("a") as handle:
        handle.write("def test_added():\n    pass\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "more tests")
    proc = swarm_test(repo, "--shards", "2", "--json", "--", *PYTEST)
    assert proc.returncode == 0, proc.stderr
    [report] = reports_of(proc)
    assert report["totals"]["passed"] == 3 + 41 + 2
    assert sum(s["tests"] for s in report["shards"]) == 46  # each test ran in one shard only


def test_matrix_runs_commands_side_by_side(make_repo, tmp_path):
    repo = make_repo({"tests/test_flavour.py": "import os\n\ndef test_flavour():\n"
                                               "    assert os.environ.get('FLAVOUR', 'plain') in ('plain', 'spicy')\n"})
    junit = tmp_path / "matrix.xml"
    proc = swarm_test(repo, "--json", "--junit", str(junit), "--matrix", "python -m pytest tests",
                      "--matrix", "FLAVOUR=spicy python -m pytest tests")
    assert proc.returncode == 0, proc.stderr
    reports = reports_of(proc)
    assert [r["label"] for r in reports] == ["python", "FLAVOUR=spicy python"]
    assert all(r["ok"] and r["totals"]["passed"] == 1 for r in reports)
    worktrees = [s["worktree"] for r in reports for s in r["shards"]]
    assert len(worktrees) == len(set(worktrees)) == 2
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["python", "FLAVOUR=spicy python"]

    failing = swarm_test(repo, "--matrix", "python -m pytest tests", "--matrix",
                         "FLAVOUR=sour python -m pytest tests")
    assert failing.returncode == 1
    assert "FLAVOUR=sour python: 1 failed:" in failing.stdout


RUNNER = '''"""A test runner that splits itself: python run.py SHARD SHARDS JUNIT."""
import sys

shard, shards, junit = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
cases = [f"case{i}" for i in range(6)]
mine = [c for i, c in enumerate(cases) if i % shards == shard - 1]
with open(junit, "w") as out:
    out.write("<testsuite>" + "".join(
        f'<testcase classname="runner" name="{c}">' + ('<failure message="boom"/>' if c == "case5" else "")
        + "</testcase>" for c in mine) + "</testsuite>")
print(f"shard {shard} of {shards}: {mine}")
sys.exit(1 if "case5" in mine else 0)
'''


def test_shard_placeholders_let_a_runner_split_itself(make_repo):
    repo = make_repo({"run.py": RUNNER})
    proc = swarm_test(repo, "--shards", "3", "--json", "--", "python", "run.py", "{shard}", "{shards}", "{junit}")
    assert proc.returncode == 1, proc.stderr
    [report] = reports_of(proc)
    assert [s["argv"][2:4] for s in report["shards"]] == [["1", "3"], ["2", "3"], ["3", "3"]]
    assert report["totals"]["passed"] == 5 and report["failed"] == ["runner::case5"]
    logs = [Path(s["log"]).read_text() for s in report["shards"]]
    assert logs[0].startswith("shard 1 of 3: ['case0', 'case3']")

    # Another runner without placeholders runs once, and says why.
    once = swarm_test(repo, "--shards", "2", "--", "python", "-c", "print('all at once')")
    assert once.returncode == 0, once.stderr
    assert "ran as one shard" in once.stdout and "exit codes only" in once.stdout


def test_shards_run_the_commits_code_not_the_working_copy(make_repo, tmp_path):
    repo = make_repo({"pkg/__init__.py": "VALUE = 'committed'\n",
                      "src/lib/__init__.py": "VALUE = 'committed'\n",
                      "conftest.py": "import pytest\n\n@pytest.fixture\ndef expected():\n    return 'committed'\n",
                      "tests/test_value.py": "import pkg\n\ndef test_value(expected):\n"
                                             "    assert pkg.VALUE == expected\n",
                      "tests/test_lib.py": "import lib\n\ndef test_lib():\n    assert lib.VALUE == 'committed'\n"})
    for name in ("pkg/__init__.py", "src/lib/__init__.py", "conftest.py"):
        (repo / name).write_text((repo / name).read_text().replace("'committed'", "'uncommitted'"))
    proc = swarm_test(repo, "--shards", "1", "--", *PYTEST, env={"PYTHONPATH": "src"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "your uncommitted changes are not tested" in proc.stderr
    assert "imported from your checkout" not in proc.stdout

    # An absolute PYTHONPATH into the checkout makes the shards import the working copy: swarm says so.
    leak = swarm_test(repo, "--shards", "1", "--", *PYTEST, env={"PYTHONPATH": str(repo / "src")})
    assert leak.returncode == 1
    assert "imported from your checkout" in leak.stdout and "src/lib/__init__.py" in leak.stdout


def test_a_rootdir_outside_the_worktree_is_refused(make_repo, tmp_path):
    repo = make_repo(suite(files=2, tests_per_file=1))
    home = tmp_path / "elsewhere"
    home.mkdir()
    (home / "pytest.ini").write_text("[pytest]\n")  # above the worktrees: pytest would take it as rootdir
    proc = swarm_test(repo, "--shards", "2", "--", *PYTEST, env={"SWARM_WORKTREES": str(home)})
    assert proc.returncode == 1
    assert "outside the shard's worktree" in proc.stdout and "--rootdir=." in proc.stdout
    fixed = swarm_test(repo, "--shards", "2", "--", *PYTEST, "--rootdir=.", env={"SWARM_WORKTREES": str(home)})
    assert fixed.returncode == 0, fixed.stdout


def test_run_option_tests_the_runs_merged_branch(make_repo, tmp_path):
    repo = make_repo({"app.py": "def greet():\n    return 'hi'\n",
                      "tests/test_app.py": "from app import greet\n\ndef test_greet():\n    assert greet() == 'hello'\n"})
    plan = {"task": "Say hello", "subtasks": [{"id": "hello", "files": ["app.py"],
                                               "command": "sed -i s/hi/hello/ app.py"}]}
    ran = swarm(repo, "run", "--plan", str(write_plan(tmp_path / "plan.json", plan)), "--json")
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout)
    assert swarm_test(repo, "--shards", "1", "--", *PYTEST).returncode == 1  # HEAD still says hi
    proc = swarm_test(repo, "--shards", "1", "--json", "--run", result["run_id"], "--", *PYTEST)
    assert proc.returncode == 0, proc.stderr
    assert reports_of(proc)[0]["commit"] == result["merged_commit"]

    missing = swarm_test(repo, "--run", "nope", "--", *PYTEST)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_run_tests_api_reports_outcomes_per_test(make_repo, monkeypatch):
    repo = make_repo({"tests/test_mix.py": "import pytest\n\ndef test_ok():\n    pass\n\n"
                                           "def test_bad():\n    assert False\n\n"
                                           "@pytest.mark.skip(reason='later')\ndef test_later():\n    pass\n\n"
                                           "@pytest.mark.xfail\ndef test_known():\n    assert False\n"})
    git_repo = GitRepo(repo)
    monkeypatch.setenv("PATH", PATH_ENV["PATH"])
    report = asyncio.run(run_tests(git_repo, git_repo.resolve("HEAD"), "python -m pytest tests", shards=2))
    assert report.outcomes == {"tests/test_mix.py::test_ok": "passed", "tests/test_mix.py::test_bad": "failed",
                               "tests/test_mix.py::test_later": "skipped", "tests/test_mix.py::test_known": "xfailed"}
    assert not report.ok and report.failed == ["tests/test_mix.py::test_bad"]
    assert report.totals["passed"] == 1 and report.totals["xfailed"] == 1
    assert len(report.shards) == 2 and all(s.seconds > 0 for s in report.shards)


def test_bad_commands_are_input_errors(make_repo):
    repo = make_repo({"tests/test_a.py": "def test_a():\n    pass\n"})
    missing = swarm_test(repo, "--", "no-such-runner-xyz", "-q")
    assert missing.returncode == 2 and "cannot run 'no-such-runner-xyz'" in missing.stderr
    refused = swarm_test(repo, "--shards", "2", "--", "python", "-m", "pytest", "--no-such-option")
    assert refused.returncode == 2 and "did not get as far as collecting" in refused.stderr
    nothing = swarm_test(repo)
    assert nothing.returncode == 2 and "give a test command" in nothing.stderr


CLICK_VERSION = "8.5.1"


def test_clicks_suite_in_two_shards_matches_plain_pytest(tmp_path):
    repo = unpack_into_repo(sdist_dir("click", CLICK_VERSION), tmp_path / "click")
    env = {**os.environ, **PATH_ENV, "PYTHONPATH": "src"}  # each checkout tests its own click
    plain = subprocess.run(["python", "-m", "pytest", "tests", "-q", "-p", "no:cacheprovider"], cwd=repo, env=env,
                           capture_output=True, text=True, timeout=600)
    passed = int(re.search(r"(\d+) passed", plain.stdout).group(1))
    assert plain.returncode == 0 and passed > 2000, plain.stdout[-2000:]

    junit = tmp_path / "click.xml"
    proc = swarm_test(repo, "--shards", "2", "--json", "--junit", str(junit), "--", "python", "-m", "pytest",
                      "tests", env={"PYTHONPATH": "src"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    [report] = reports_of(proc)
    assert report["totals"]["passed"] == passed
    assert all(s["tests"] > 0 for s in report["shards"])
    skipped = int(re.search(r"(\d+) skipped", plain.stdout).group(1))
    cases = junit_cases(junit)
    assert len(cases) == len({case_id(c) for c in cases}) == passed + skipped + report["totals"]["xfailed"]


def test_a_test_relying_on_another_files_imports_passes_in_its_shard(make_repo):
    # test_b uses `pkg.extra` without importing it: only test_a's import makes it an attribute of pkg, as in
    # click's pager tests. Plain pytest passes; so must every split, with test_a's tests in the other shard.
    repo = make_repo({"pkg/__init__.py": "", "pkg/extra.py": "VALUE = 3\n",
                      "tests/test_a.py": "import pkg.extra\n\n\ndef test_a():\n    assert pkg.extra.VALUE == 3\n",
                      "tests/test_b.py": "import pkg\n\n\ndef test_b():\n    assert pkg.extra.VALUE == 3\n"})
    proc = swarm_test(repo, "--shards", "2", "--json", "--", *PYTEST, env={"PYTHONPATH": "."})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [report] = reports_of(proc)
    assert report["totals"]["passed"] == 2
    assert [s["tests"] for s in report["shards"]] == [1, 1]


def test_a_first_run_deals_out_the_test_files_pytest_would_find_without_collecting():
    from swarm.testrun.balance import size_plan, test_files

    tracked = [("pyproject.toml", 10), ("src/pkg/test_helpers.py", 5), ("tests/test_a.py", 900),
               ("tests/test_b.py", 300), ("tests/sub/c_test.py", 600), ("tests/conftest.py", 50),
               ("tests/.hidden/test_x.py", 10), ("build/test_old.py", 10), ("docs/test_doc.py", 10),
               ("web/pytest.ini", 1), ("web/tests/test_w.py", 40)]
    everything = test_files(tracked, "", [])
    assert sorted(everything) == ["docs/test_doc.py", "src/pkg/test_helpers.py", "tests/sub/c_test.py",
                                  "tests/test_a.py", "tests/test_b.py", "web/tests/test_w.py"]
    assert sorted(test_files(tracked, "", ["-q", "tests", "-k", "x"])) == ["tests/sub/c_test.py", "tests/test_a.py",
                                                                           "tests/test_b.py"]
    assert list(test_files(tracked, "", ["tests/test_b.py::test_one"])) == ["tests/test_b.py"]
    # From a folder with its own pytest.ini, ids (and so the plan's files) are relative to it.
    assert list(test_files(tracked, "web", [])) == ["tests/test_w.py"]
    plan = size_plan(test_files(tracked, "", ["tests"]), 2)
    assert plan.files == {"tests/test_a.py": [0], "tests/sub/c_test.py": [1], "tests/test_b.py": [1]}
