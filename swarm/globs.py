"""The one glob dialect of swarm: what git's `:(glob)` pathspec matches.

Every glob a user or a plan gives swarm (subtask scopes, `--each`, `review
--drop/--keep/--file`) means what `git ls-files -- ':(glob)PATTERN'` lists
from the top of the repository. Paths and patterns are repository-relative
and compared byte by byte, case-sensitively:

- `*` matches any run of characters inside one path segment, `?` one
  character other than `/`, `[abc]`, `[a-z]`, `[!a]` / `[^a]` and
  `[[:alpha:]]` one character of a set (never `/`); `\\` quotes the next
  character.
- `**` between slashes (or at either end) crosses folders: `**/` matches zero
  or more folders (`**/test_*.py` is a test file at any depth, the top
  included), `/**` everything below (`src/**`), `/**/` zero or more folders in
  the middle (`a/**/b`). Elsewhere `**` is a plain `*` (`src/**.py` is
  `src/*.py`).
- A pattern matches the whole path. Only the part before its first wildcard
  also matches as a folder: `docs` and `docs/` cover everything under docs/,
  `src/*` covers `src/a.py` but not `src/sub/deep.py`.
- A pattern without a slash is anchored at the top, as a pathspec is (unlike
  a .gitignore line): `*.md` is README.md, not docs/a.md; write `**/*.md` for
  every folder.
- git's own quirk is kept: the literal part before the first wildcard is
  compared first and the rest matched on its own, so `src/s**` reads as
  `src/s` followed by a leading `**` and covers all of `src/sub/`.
- `./`, `.` segments and repeated slashes are dropped; a leading `/` is taken
  as the top of the repository; `""` and `.` match every path.

tests/test_globs.py checks a table of these cases against git itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

__all__ = ["Glob", "compile_glob", "match", "match_any", "select"]

_MATCH, _NOMATCH, _ABORT_ALL, _ABORT_TO_STARSTAR = 0, 1, -1, -2
_SPECIAL = frozenset(b"*?[\\")
_CLASSES = {
    b"alnum": bytes.isalnum, b"alpha": bytes.isalpha, b"digit": bytes.isdigit, b"lower": bytes.islower,
    b"upper": bytes.isupper, b"space": bytes.isspace,
    b"blank": lambda c: c in b" \t", b"cntrl": lambda c: c < b" " or c == b"\x7f",
    b"graph": lambda c: b"!" <= c <= b"~", b"print": lambda c: b" " <= c <= b"~",
    b"punct": lambda c: b"!" <= c <= b"~" and not c.isalnum(),
    b"xdigit": lambda c: c in b"0123456789abcdefABCDEF",
}


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _wild(p: bytes, pi: int, t: bytes, ti: int) -> int:
    """git's `dowild` (wildmatch.c) with WM_PATHNAME, on pattern p[pi:] and text t[ti:].

    The start of `p` counts as a folder boundary for `**`, as it does in git.
    """
    while pi < len(p):
        pc = p[pi]
        tc = t[ti] if ti < len(t) else None
        if tc is None and pc != ord("*"):
            return _ABORT_ALL
        if pc == ord("\\"):
            pi += 1
            if pi >= len(p) or tc != p[pi]:
                return _NOMATCH
        elif pc == ord("?"):
            if tc == ord("/"):
                return _NOMATCH
        elif pc == ord("*"):
            pi += 1
            if pi < len(p) and p[pi] == ord("*"):
                before = pi - 2
                while pi < len(p) and p[pi] == ord("*"):
                    pi += 1
                at_boundary = before < 0 or p[before] == ord("/")
                if at_boundary and (pi == len(p) or p[pi] == ord("/") or p[pi:pi + 2] == b"\\/"):
                    if pi < len(p) and p[pi] == ord("/") and _wild(p, pi + 1, t, ti) == _MATCH:
                        return _MATCH
                    match_slash = True
                else:
                    match_slash = False
            else:
                match_slash = False
            if pi == len(p):
                return _MATCH if match_slash or b"/" not in t[ti:] else _NOMATCH
            if not match_slash and p[pi] == ord("/"):
                slash = t.find(b"/", ti)
                if slash < 0:
                    return _NOMATCH
                # One star before a slash takes the rest of this segment; both slashes are consumed.
                pi, ti = pi + 1, slash + 1
                continue
            while ti < len(t):
                if p[pi] not in _SPECIAL:
                    # A literal follows the star: skip ahead to its next occurrence.
                    while ti < len(t) and (match_slash or t[ti] != ord("/")) and t[ti] != p[pi]:
                        ti += 1
                    if ti >= len(t) or t[ti] != p[pi]:
                        return _NOMATCH
                found = _wild(p, pi, t, ti)
                if found != _NOMATCH:
                    if not match_slash or found != _ABORT_TO_STARSTAR:
                        return found
                elif not match_slash and t[ti] == ord("/"):
                    return _ABORT_TO_STARSTAR
                ti += 1
            return _ABORT_ALL
        elif pc == ord("["):
            pi, verdict = _bracket(p, pi, tc)
            if verdict != _MATCH:
                return verdict
        elif tc != pc:
            return _NOMATCH
        pi += 1
        ti += 1
    return _MATCH if ti >= len(t) else _NOMATCH


def _bracket(p: bytes, pi: int, tc: int) -> tuple[int, int]:
    """Match one character against the set starting at p[pi] == '['; return (index of its ']', verdict)."""
    pi += 1
    pc = p[pi] if pi < len(p) else 0
    negated = pc in (ord("!"), ord("^"))
    if negated:
        pi += 1
        pc = p[pi] if pi < len(p) else 0
    prev = 0
    matched = False
    while True:
        if not pc:
            return pi, _ABORT_ALL
        if pc == ord("\\"):
            pi += 1
            pc = p[pi] if pi < len(p) else 0
            if not pc:
                return pi, _ABORT_ALL
            matched = matched or tc == pc
        elif pc == ord("-") and prev and pi + 1 < len(p) and p[pi + 1] != ord("]"):
            pi += 1
            pc = p[pi]
            if pc == ord("\\"):
                pi += 1
                pc = p[pi] if pi < len(p) else 0
                if not pc:
                    return pi, _ABORT_ALL
            matched = matched or prev <= tc <= pc
            pc = 0
        elif pc == ord("[") and p[pi + 1:pi + 2] == b":":
            start = pi + 2
            end = p.find(b"]", start)
            if end < 0:
                return pi, _ABORT_ALL
            if end - start - 1 < 0 or p[end - 1] != ord(":"):
                matched = matched or tc == ord("[")  # no ":]": a plain "[" in the set
            else:
                test = _CLASSES.get(p[start:end - 1])
                if test is None:
                    return pi, _ABORT_ALL
                matched = matched or test(bytes([tc]))
                pi = end
                pc = 0
        else:
            matched = matched or tc == pc
        prev = pc
        pi += 1
        pc = p[pi] if pi < len(p) else 0
        if pc == ord("]"):
            break
    if matched == negated or tc == ord("/"):
        return pi, _NOMATCH
    return pi, _MATCH


def _normalize(pattern: str) -> bytes:
    """The pattern as git sees it from the top: no `.` or empty segments, a trailing slash kept."""
    trailing = pattern.endswith("/") and pattern.strip("/") not in ("", ".")
    parts: list[str] = []
    for part in pattern.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return b"\0"  # above the top of the repository: matches no path
            parts.pop()
            continue
        parts.append(part)
    return _bytes("/".join(parts) + ("/" if trailing and parts else ""))


class Glob:
    """One compiled pattern of the dialect above."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self._p = _normalize(pattern)
        self._literal = next((i for i, c in enumerate(self._p) if c in _SPECIAL), len(self._p))

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r})"

    def match(self, path: str) -> bool:
        """Whether the file `path` (repository-relative, `/`-separated) is covered by the pattern."""
        p, name = self._p, _bytes(path)
        if not p:
            return True
        # The whole pattern read literally, as the path itself or a folder above it.
        if name.startswith(p) and (len(name) == len(p) or p.endswith(b"/") or name[len(p)] == ord("/")):
            return True
        n = self._literal
        if n == len(p) or not name.startswith(p[:n]):
            return False
        return _wild(p[n:], 0, name[n:], 0) == _MATCH


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> Glob:
    """The compiled `pattern` (cached: plans reuse a handful of patterns over many paths)."""
    return Glob(pattern)


def match(pattern: str, path: str) -> bool:
    """Whether `pattern` covers the file `path`."""
    return compile_glob(pattern).match(path)


def match_any(patterns: Iterable[str], path: str) -> bool:
    """Whether any of `patterns` covers `path` (blank patterns are ignored)."""
    return any(compile_glob(p).match(path) for p in patterns if p.strip())


def select(patterns: Iterable[str], paths: Iterable[str]) -> list[str]:
    """The paths some pattern covers, in their order."""
    globs = [compile_glob(p) for p in patterns if p.strip()]
    return [path for path in paths if any(g.match(path) for g in globs)]
