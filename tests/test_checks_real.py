"""The checks on real third-party code: the real-code corpus, and the new checks' rules on real files.

The corpus (tests/corpus/real/*.toml, run by scripts/corpus.py --set real)
plants contradictions in the click, flask and attrs sdists from PyPI; each
case's probe shows it is real (it passes on the base and on each branch,
and fails on the merged tree). Recall must stay at 90% or more, and a clean
case must never get a finding. Skipped only when PyPI cannot be reached.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conftest import load_corpus

from swarm.checks.names import shaped, tokens
from swarm.checks.parse import problems

corpus = load_corpus()

CASES = corpus.load_cases(corpus.REAL)
BY_NAME = {c.name: c for c in CASES}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where = tmp_path_factory.mktemp("real-corpus")

    async def run() -> list[Any]:
        return [await corpus.run_case(case, where) for case in CASES]

    return {o.case.name: o for o in asyncio.run(run())}


def test_real_corpus_is_big_and_varied():
    planted = [c for c in CASES if not c.clean]
    assert len(planted) >= 25 and len([c for c in CASES if c.clean]) >= 5
    assert {c.sdist.split("==")[0] for c in CASES} >= {"click", "flask", "attrs"}
    assert {e["kind"] for c in planted for e in c.expect} >= {"names", "parse", "test", "symbol", "link", "config"}
    assert all(c.probe or c.policy or c.test_command for c in CASES)


def test_real_corpus_recall_and_no_false_positives(outcomes):
    print(corpus.table(list(outcomes.values())))
    totals = corpus.totals(list(outcomes.values()))
    assert totals["recall"] >= 0.9
    assert totals["false_positives"] == 0


@pytest.mark.parametrize("name", [c.name for c in CASES if c.clean])
def test_real_clean_case_has_no_finding(outcomes, name):
    assert outcomes[name].report.findings == [], [f.message for f in outcomes[name].report.findings]


@pytest.mark.parametrize("name", ["flask_cli_option_renamed", "flask_env_var_renamed", "flask_css_class_renamed",
                                  "click_method_via_instance", "click_plain_method_renamed"])
def test_names_finds_a_retired_name_newly_used(outcomes, name):
    """One finding for the cause, naming the subtask that retired the name and the one that used it."""
    found = [f for f in outcomes[name].report.findings if f.kind == "names"]
    expected = set(BY_NAME[name].expect[0]["subtasks"])
    assert len(found) == 1 and set(found[0].subtasks) == expected, [f.message for f in found]


@pytest.mark.parametrize("name", ["click_pyproject_duplicate_table", "flask_json_duplicate_key",
                                  "flask_tox_duplicate_option", "attrs_yaml_duplicate_key",
                                  "flask_template_misnested_tags"])
def test_parse_finds_a_file_the_merge_leaves_invalid(outcomes, name):
    found = [f for f in outcomes[name].report.findings if f.kind == "parse"]
    assert len(found) == 1 and set(found[0].subtasks) == set(BY_NAME[name].expect[0]["subtasks"])


@pytest.mark.parametrize("name", ["click_test_regression_app_dir", "click_test_regression_short_help"])
def test_bisection_blames_the_pair_whose_merge_breaks_a_test(outcomes, name):
    """Blame by imports named only the test's author; bisection names the behaviour change too."""
    (finding,) = [f for f in outcomes[name].report.findings if f.kind == "test"]
    assert set(finding.subtasks) == set(BY_NAME[name].expect[0]["subtasks"])
    assert "fail on their merge" in finding.message


@pytest.mark.parametrize("name", ["flask_env_var_renamed", "flask_tox_duplicate_option",
                                  "click_test_regression_app_dir", "clean_flask_css_and_templates"])
def test_cases_are_real(tmp_path, name):
    """The probe passes on the base and on each branch alone, and fails on the merged tree (clean: passes)."""
    case = BY_NAME[name]
    args = asyncio.run(corpus.build(case, tmp_path))
    assert corpus.prove(case, args) == ""


def test_name_shapes():
    assert all(shaped(t) for t in ["--extra-files", "FLASK_SKIP_DOTENV", "blog.update", "write_usage",
                                   "formatterClass", "update.html"])
    assert not any(shaped(t) for t in ["about", "TODO", "self", "__init__", "e.g", "abc"])
    assert tokens('<div class="about byline">', "templates/x.html") >= {".about", ".byline"}
    assert tokens(".post .about { color: slategray; }", "static/style.css") >= {".post", ".about"}
    assert ".5em" not in tokens("  margin: 0 .5em;", "static/style.css")


def test_parse_problems():
    assert problems('{"a": 1, "a": 2}', "x.json") and not problems('{"a": 1}', "x.json")
    assert problems("[t]\nx = 1\n[t]\ny = 2\n", "pyproject.toml")
    assert problems("[s]\na = 1\na = 2\n", "tox.ini")
    yaml = "jobs:\n  test:\n    steps:\n      - run: a\n        name: x\n      - run: b\n        name: y\n"
    assert not problems(yaml, "ci.yml")
    assert problems(yaml + "jobs:\n  other: 1\n", "ci.yml")
    assert not problems("script: |\n  a: 1\n  a: 1\n", "x.yaml")  # a block scalar is text, not keys
    assert problems("<main><div></main></div>", "t.html")
    assert not problems("<ul><li>a<li>b</ul>{% if x %}<p>{% endif %}", "t.html")
