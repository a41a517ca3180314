"""JUnit XML: reading each shard's file into test outcomes, and writing one merged file.

Outcomes are pytest's words: passed, failed, error, skipped, xfailed, xpassed.
swarm's pytest plugin gives every test case a `nodeid` property; a case
without one (a collection error, or another runner's XML) is named from its
classname and name.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
# When one test yields two cases (a failed call and a failed teardown), the worse one names it.
_RANK = {"failed": 5, "error": 4, "xpassed": 3, "passed": 2, "xfailed": 1, "skipped": 0}


@dataclass
class Case:
    """One <testcase>: its test id, outcome, seconds and the first line of its message."""

    id: str
    outcome: str
    seconds: float
    message: str
    element: ET.Element


def _case_id(case: ET.Element) -> str:
    for prop in case.iter("property"):
        if prop.get("name") == "nodeid" and prop.get("value"):
            return prop.get("value", "")
    classname, name = case.get("classname", ""), case.get("name", "")
    return f"{classname}::{name}" if classname else name


def _outcome(case: ET.Element) -> tuple[str, str]:
    for tag in ("failure", "error", "skipped"):
        found = case.find(tag)
        if found is None:
            continue
        message = (found.get("message") or found.text or "").strip().splitlines()
        first = message[0] if message else ""
        if tag == "skipped":
            if found.get("type") == "pytest.xfail":
                return "xfailed", first
            if first == "xfail-marked test passes unexpectedly":
                return "failed", first  # a strict xfail that passed: pytest counts it failed
            return "skipped", first
        return ("failed" if tag == "failure" else "error"), first
    for prop in case.iter("property"):
        if prop.get("name") == "outcome" and prop.get("value") == "xpassed":
            return "xpassed", ""
    return "passed", ""


def read_junit(path: Path) -> list[Case]:
    """The test cases of a JUnit XML file; an unreadable file reads as none (the shard's exit code tells why)."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return []
    cases = []
    for element in root.iter("testcase"):
        outcome, message = _outcome(element)
        try:
            seconds = float(element.get("time") or 0)
        except ValueError:
            seconds = 0.0
        cases.append(Case(_case_id(element), outcome, seconds, message, element))
    return cases


def worst(a: str | None, b: str) -> str:
    return b if a is None or _RANK[b] > _RANK[a] else a


def write_junit(path: Path, suites: list[tuple[str, list[Case], float]]) -> Path:
    """One JUnit file with a <testsuite> per (name, cases, seconds): a matrix gives one per command."""
    root = ET.Element("testsuites")
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    total_time = 0.0
    for name, cases, seconds in suites:
        counts = {"tests": len(cases), "failures": sum(c.outcome == "failed" for c in cases),
                  "errors": sum(c.outcome == "error" for c in cases),
                  "skipped": sum(c.outcome in ("skipped", "xfailed") for c in cases)}
        suite = ET.SubElement(root, "testsuite",
                              attrib={"name": name, "time": f"{seconds:.3f}", **{k: str(v) for k, v in counts.items()}})
        suite.extend(case.element for case in cases)
        for key, value in counts.items():
            totals[key] += value
        total_time = max(total_time, seconds)
    root.attrib.update({k: str(v) for k, v in totals.items()}, time=f"{total_time:.3f}", name="swarm test")
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
