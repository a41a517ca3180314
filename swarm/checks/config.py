"""Config keys one subtask removed or renamed that Python code still reads by the old name.

Keys come from the config files some subtask changed (JSON, TOML, INI/cfg,
YAML, .env), compared between the base and the merged tree. Code that reads
a lost key is found with one `git grep` for the quoted key, then `ast`: a
subscript `cfg["key"]`, a `.get("key")`-style call, `"key" in cfg`. Any dict
can have a key of that name, so a read counts only when the key was renamed
(a new key holds the old value), when a subtask added the read, or when the
reading file names the config file.
"""

from __future__ import annotations

import ast
import configparser
import json
import posixpath
import re
import tomllib
from typing import Any

from swarm.checks.context import CheckContext
from swarm.checks.model import Finding

KIND = "config"
_READERS = {"get", "pop", "setdefault", "getint", "getfloat", "getboolean", "has_option", "has_section", "getenv"}
_YAML_KEY = re.compile(r"^\s*(?:-\s+)?([A-Za-z_][\w.-]*)\s*:(?:\s|$)", re.M)
_ENV_KEY = re.compile(r"^\s*(?:export\s+)?([A-Za-z_]\w*)\s*=(.*)$", re.M)


def is_config(path: str) -> bool:
    name = posixpath.basename(path).lower()
    return name.endswith((".json", ".toml", ".ini", ".cfg", ".yaml", ".yml")) or name == ".env" \
        or name.startswith(".env.") or name.endswith(".env")


def flatten(text: str, path: str) -> dict[tuple[str, ...], str] | None:
    """Every key of a config file, by its path of keys, with its value's text (None: not readable)."""
    name = path.lower()
    out: dict[tuple[str, ...], str] = {}

    def walk(value: Any, prefix: tuple[str, ...]) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                out[prefix + (str(k),)] = "" if isinstance(v, (dict, list)) else repr(v)
                walk(v, prefix + (str(k),))
        elif isinstance(value, list):
            for item in value:
                walk(item, prefix)

    try:
        if name.endswith(".json"):
            walk(json.loads(text), ())
        elif name.endswith(".toml"):
            walk(tomllib.loads(text), ())
        elif name.endswith((".ini", ".cfg")):
            parser = configparser.ConfigParser(interpolation=None, strict=False)
            parser.optionxform = str  # type: ignore[assignment,method-assign]
            parser.read_string(text)
            walk({s: dict(parser.items(s, raw=True)) for s in parser.sections()}, ())
        elif name.endswith((".yaml", ".yml")):
            out.update({(k,): "" for k in _YAML_KEY.findall(text)})
        else:
            out.update({(k,): v.strip() for k, v in _ENV_KEY.findall(text)})
    except (ValueError, configparser.Error, tomllib.TOMLDecodeError, RecursionError):
        return None
    return out


def _keys(ctx: CheckContext, commit: str, path: str) -> dict[tuple[str, ...], str]:
    text = ctx.text(commit, path)
    return (flatten(text, path) or {}) if text is not None else {}


def reads(source: str, keys: set[str]) -> list[tuple[str, int]]:
    """(key, line) for each place the code reads one of `keys` as a config key."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found = []

    def literal(node: ast.AST | None) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in keys:
            return node.value
        return None

    for node in ast.walk(tree):
        hit = None
        if isinstance(node, ast.Subscript):
            hit = literal(node.slice)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in _READERS:
                hit = next((k for k in map(literal, node.args[:2]) if k), None)
        elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
            hit = literal(node.left)
        if hit:
            found.append((hit, getattr(node, "lineno", 0)))
    return found


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per file and lost key it still reads."""
    lost: dict[str, tuple[str, str | None]] = {}  # key -> (config file, new name when renamed)
    merged_keys: set[str] = set()
    changed = {p: old for p, old in ctx.merged_paths().items() if is_config(p)}
    for path in changed:
        merged_keys |= {k[-1] for k in _keys(ctx, ctx.merged, path)}
    for path, old in sorted(changed.items()):
        before, after = _keys(ctx, ctx.base, old), _keys(ctx, ctx.merged, path)
        if not before or not after:
            continue
        gone = [k for k in before if k not in after and k[-1] not in merged_keys and len(k[-1]) >= 3]
        for where in gone:
            renamed = next((n[-1] for n, v in after.items() if n not in before and n[:-1] == where[:-1]
                            and v and v == before[where]), None)
            lost.setdefault(where[-1], (path, renamed))
    if not lost:
        return []
    patterns = [f'"{k}"' for k in lost] + [f"'{k}'" for k in lost]
    findings = []
    for user in ctx.grep(ctx.merged, patterns, ["*.py"], whole_words=False):
        source = ctx.text(ctx.merged, user) or ""
        seen: set[str] = set()
        for key, line in reads(source, set(lost)):
            if key in seen:
                continue
            seen.add(key)
            finding = _finding(ctx, user, source, key, line, *lost[key])
            if finding is not None:
                findings.append(finding)
    return findings


def _count(ctx: CheckContext, commit: str, path: str, key: str) -> int:
    source = ctx.text(commit, path)
    return 0 if source is None else sum(1 for k, _ in reads(source, {key}) if k == key)


def _finding(ctx: CheckContext, user: str, source: str, key: str, line: int, config: str,
             renamed: str | None) -> Finding | None:
    adders = [sid for sid in ctx.touchers(user)
              if _count(ctx, ctx.change(sid).commit, user, key)
              > _count(ctx, ctx.change(sid).start_commit, ctx.change(sid).source_of(user), key)]
    stem = posixpath.basename(config).rsplit(".", 1)[0] or posixpath.basename(config)
    names_config = re.search(rf"\b{re.escape(stem)}\b", source, re.I) is not None
    if not (renamed or adders or names_config):
        return None
    removers = []
    for c in ctx.changes:
        if config in c.paths() or c.source_of(config) != config:
            before = {k[-1] for k in _keys(ctx, c.start_commit, c.source_of(config))}
            after = {k[-1] for k in _keys(ctx, c.commit, config)}
            if key in before and key not in after:
                removers.append(c.id)
    involved = ctx.sort_ids(removers + adders) or ctx.touchers(config)
    what = f'renamed it to "{renamed}"' if renamed else "removed it"
    msg = f'{user}:{line} reads config key "{key}", but {", ".join(removers) or "a subtask"} {what} in {config}'
    if adders:
        msg += f"; the read was added by {', '.join(adders)}"
    return Finding(KIND, involved, [user, config], msg, line=line, symbol=key)
