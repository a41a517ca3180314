"""Structured files that parse on every branch and not once the branches are merged.

Two subtasks adding the same key at different places of one file merge
cleanly and leave an invalid file: a TOML table or key defined twice, a
JSON object or YAML mapping with a duplicate key, an INI option set twice
(tox, setup.cfg), HTML whose tags no longer nest. Every such file some
subtask touched is parsed in the merged tree; a problem that neither the
base nor any one branch has is a finding naming the subtasks that touched it.

Parsers: tomllib, json (duplicate keys refused), configparser (strict), a
line-based YAML key checker (duplicate keys in one mapping; PyYAML, when
installed, for the rest of the syntax), and a tag-nesting checker for HTML
and templates (template tags stripped, void and optional end tags allowed).
"""

from __future__ import annotations

import configparser
import json
import posixpath
import re
import tomllib
from html.parser import HTMLParser
from typing import Any, Callable

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding

KIND = "parse"
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_OPTIONAL_END = frozenset("li p dt dd tr td th thead tbody tfoot option optgroup colgroup caption html head "
                          "body rt rp".split())
_TEMPLATE_TAG = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.S)
_YAML_KEY = re.compile(r"""^(\s*)(-\s+)?(?:"([^"]+)"|'([^']+)'|([^\s#'"{\[][^:#]*?))\s*:(?:\s|$)""")
_BLOCK_SCALAR = re.compile(r":\s*[|>][+-]?\d*\s*(?:#.*)?$")


def _dupes(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
    return dict(pairs)


def _json(text: str) -> list[str]:
    try:
        json.loads(text, object_pairs_hook=_dupes)
    except ValueError as e:
        return [str(e)]
    return []


def _toml(text: str) -> list[str]:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return [str(e)]
    return []


def _ini(text: str) -> list[str]:
    try:
        configparser.ConfigParser(interpolation=None, strict=True).read_string(text)
    except configparser.Error as e:
        return [str(e).splitlines()[0]]
    return []


def _yaml(text: str) -> list[str]:
    """Duplicate keys within one block mapping (what YAML forbids and most loaders let pass silently)."""
    problems: list[str] = []
    stack: list[tuple[int, set[str]]] = [(0, set())]
    block: int | None = None  # indentation of the key whose block scalar we are inside
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip(" "))
        if block is not None:
            if not stripped or indent > block:
                continue
            block = None
        if not stripped or stripped.startswith("#"):
            continue
        if stripped in ("---", "...") and indent == 0:
            stack = [(0, set())]
            continue
        m = _YAML_KEY.match(line)
        dash = line.lstrip(" ").startswith("- ")
        if dash:
            while stack and stack[-1][0] > indent:
                stack.pop()
        if m is None:
            continue
        key = m.group(3) or m.group(4) or (m.group(5) or "").strip()
        at = indent + (len(m.group(2)) if m.group(2) else 0)
        while stack and stack[-1][0] > at:
            stack.pop()
        if m.group(2) or not stack or stack[-1][0] < at:
            stack.append((at, set()))
        keys = stack[-1][1]
        if key in keys:
            problems.append(f"line {number}: duplicate key {key!r}")
        keys.add(key)
        if _BLOCK_SCALAR.search(line):
            block = at
    try:
        import yaml  # optional: full syntax when PyYAML is there
    except ImportError:
        return problems
    try:
        list(yaml.safe_load_all(text))
    except yaml.YAMLError as e:
        problems.append(str(e).splitlines()[0])
    return problems


class _Nesting(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        pass

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if tag not in self.stack:
            self.problems.append(f"line {self.getpos()[0]}: </{tag}> closes nothing")
            return
        while self.stack:
            top = self.stack.pop()
            if top == tag:
                return
            if top not in _OPTIONAL_END:
                self.problems.append(f"line {self.getpos()[0]}: </{tag}> closes <{tag}> while <{top}> is open")


def _html(text: str) -> list[str]:
    parser = _Nesting()
    try:
        parser.feed(_TEMPLATE_TAG.sub("", text))
        parser.close()
    except Exception as e:  # HTMLParser rarely gives up; when it does, that is not this check's finding
        return [] if not parser.problems else parser.problems + [str(e)]
    left = [t for t in parser.stack if t not in _OPTIONAL_END]
    return parser.problems + ([f"<{left[-1]}> is never closed"] if left else [])


def parser_for(path: str) -> Callable[[str], list[str]] | None:
    """The problem finder for a structured file, by its name (None: not a structured file)."""
    name = posixpath.basename(path).lower()
    if name.endswith(".json") and name not in ("tsconfig.json", "jsconfig.json") and "devcontainer" not in name:
        return _json
    if name.endswith(".toml"):
        return _toml
    if name.endswith((".yaml", ".yml")):
        return _yaml
    if name.endswith((".ini", ".cfg")) or name in (".coveragerc", ".flake8", ".pylintrc"):
        return _ini
    if name.endswith((".html", ".htm")):
        return _html
    return None


def problems(text: str | None, path: str) -> list[str]:
    """What is wrong with `path` holding `text` (empty: it parses)."""
    finder = parser_for(path)
    return [] if text is None or finder is None else finder(text)


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per structured file that the merge, and no single branch, leaves unparseable."""
    findings = []
    for path, old in sorted(ctx.merged_paths().items()):
        if parser_for(path) is None:
            continue
        merged = problems(ctx.text(ctx.merged, path), path)
        if not merged:
            continue
        worst = len(problems(ctx.text(ctx.base, old), old))
        touchers = ctx.touchers(path)
        alone = {}
        for sid in touchers:
            change = ctx.change(sid)
            alone[sid] = len(problems(ctx.text(change.commit, path), path))
        if len(merged) <= max([worst, *alone.values()]):
            continue  # already so in the base or on one branch: not the merge's doing
        involved = [sid for sid in touchers if alone[sid] <= worst] or touchers
        shown = "; ".join(merged[:3]) + (f" and {len(merged) - 3} more" if len(merged) > 3 else "")
        findings.append(Finding(KIND, ctx.sort_ids(involved), [path],
                                f"{path} does not parse in the merged tree ({shown}); it does on the branches of "
                                f"{', '.join(ctx.sort_ids(involved))} alone: their edits combine into an "
                                f"invalid file"))
    return findings
