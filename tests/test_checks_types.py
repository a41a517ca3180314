"""The types check on real code: pyright finds a method renamed in one class while another class keeps the
name and a new caller uses the renamed class's instance; without pyright the check says it was skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conftest import load_corpus

from swarm.checks.types import find_pyright

ROOT = Path(__file__).resolve().parents[1]
corpus = load_corpus()

CASE = {c.name: c for c in corpus.load_cases(corpus.REAL)}["click_instance_method_renamed_other_class_keeps_name"]


def test_pyright_finds_the_instance_method_the_name_checks_cannot(tmp_path):
    if find_pyright() is None:
        pytest.fail("pyright is missing: scripts/setup.sh installs it (npm)")
    outcome = asyncio.run(corpus.run_case(CASE, tmp_path))
    found = outcome.report.findings
    assert [f.kind for f in found] == ["types"], [f.message for f in found]
    assert found[0].subtasks == ["ctx", "hint"] and found[0].files == ["src/click/usage_hint.py"]
    assert 'attribute "get_usage" for class "Context"' in found[0].message and found[0].line == 7
    assert outcome.report.checks["types"]["status"] == "fail"


def test_without_pyright_the_check_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("SWARM_PYRIGHT", str(tmp_path / "no-such-pyright"))
    outcome = asyncio.run(corpus.run_case(CASE, tmp_path))
    status = outcome.report.checks["types"]
    assert status["status"] == "skipped" and "pyright is not installed" in status["reason"]
    assert "setup.sh" in status["reason"]
    assert outcome.report.checks["symbol"]["status"] == "pass"  # the other checks still ran
    assert not [f for f in outcome.report.findings if f.kind == "types"]


def test_an_error_already_on_the_base_is_not_new(tmp_path):
    """The same case with the caller's error already in the base: pyright reports it on both trees."""
    if find_pyright() is None:
        pytest.fail("pyright is missing: scripts/setup.sh installs it (npm)")
    hint = CASE.subtasks[1]["write"]["src/click/usage_hint.py"]
    # The base already calls get_usage on a HelpFormatter, which never had one: the error is the base's own,
    # even though ctx now removes get_usage and hint edits the file.
    broken = "from .formatting import HelpFormatter\n\n\ndef old_hint() -> str:\n" \
             "    return HelpFormatter().get_usage()\n"
    case = corpus.Case(**{**CASE.__dict__, "name": "types_base_error", "expect": [],
                          "base": {**CASE.base, "src/click/old_hint.py": broken},
                          "subtasks": [CASE.subtasks[0], {**CASE.subtasks[1], "write": {
                              "src/click/old_hint.py": "from .core import Command, Context\n" + broken + "\n\n" +
                              hint.split("\n\n\n", 1)[1]}, "scope": ["src/click/old_hint.py"]}]})
    outcome = asyncio.run(corpus.run_case(case, tmp_path))
    messages = [f.message for f in outcome.report.findings if f.kind == "types"]
    assert len(messages) == 1 and 'class "Context"' in messages[0], messages


def test_setup_installs_the_pyright_the_check_expects():
    from swarm.checks.types import PYRIGHT_VERSION

    assert f"PYRIGHT_VERSION={PYRIGHT_VERSION}\n" in (ROOT / "scripts" / "setup.sh").read_text()
