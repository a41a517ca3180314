"""A git diff cut into files and hunks that can be shown, chosen and put back together.

The text of `git diff --binary --full-index` is cut at each `diff --git` line,
and inside a file at each `@@` line. A file without hunks (a rename, a mode
change, a binary file) is one indivisible unit. A file rebuilt from a subset
of its hunks is still a patch `git apply --3way` accepts: the hunks keep their
old-side line numbers, and the full blob ids on the `index` line let the
three-way fallback find the old version of the file.

Patches travel as bytes decoded with `surrogateescape`, so files in any
encoding survive the round trip; `printable` makes a line safe to show.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Iterable


def printable(line: str) -> str:
    """A diff line with undecodable bytes shown as U+FFFD, safe for a terminal or a page."""
    return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unquote(path: str) -> str:
    """Undo git's C-style quoting of unusual paths ("a/t\\303\\251st")."""
    if not (path.startswith('"') and path.endswith('"')):
        return path
    raw = codecs.escape_decode(path[1:-1].encode("utf-8", "surrogateescape"))[0]
    return raw.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]


def _strip_prefix(path: str) -> str | None:
    path = _unquote(path.rstrip("\n").split("\t")[0])
    if path == "/dev/null":
        return None
    return path[2:] if path[:2] in ("a/", "b/") else path


@dataclass
class Hunk:
    """One `@@` section of a file's diff."""

    header: str
    lines: list[str]
    index: int  # 1-based, within its file

    @property
    def added(self) -> int:
        return sum(1 for line in self.lines if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for line in self.lines if line.startswith("-"))

    @property
    def old_start(self) -> int:
        return int(self.header.split()[1][1:].split(",")[0])

    @property
    def new_start(self) -> int:
        return int(self.header.split()[2][1:].split(",")[0])

    def text(self) -> str:
        return self.header + "".join(self.lines)


@dataclass
class FilePatch:
    """One file's part of a diff: its header lines and its hunks."""

    path: str
    old_path: str | None
    status: str  # added, deleted, modified, renamed, mode
    header: list[str]
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        return sum(h.removed for h in self.hunks)

    @property
    def paths(self) -> set[str]:
        return {p for p in (self.path, self.old_path) if p}

    def text(self, keep: Iterable[int] | None = None, content_only: bool = False) -> str:
        """The patch of this file with only the hunks numbered in `keep` ("" when none is left).

        `content_only` leaves out a rename: the hunks then edit the file under its
        new name, so taking some hunks out does not rename the file back.
        """
        if keep is None:
            kept = self.hunks
        else:
            wanted = set(keep)
            kept = [h for h in self.hunks if h.index in wanted]
            if self.hunks and not kept:
                return ""
        header = self._content_header() if content_only and self.status == "renamed" and kept else self.header
        return "".join(header) + "".join(h.text() for h in kept)

    def _content_header(self) -> list[str]:
        new = next(line for line in self.header if line.startswith("+++ "))[4:].rstrip("\n")
        old = new.replace("b/", "a/", 1)  # the same name, quoted the same way
        index = [line for line in self.header if line.startswith("index ")]
        return [f"diff --git {old} {new}\n", *index, f"--- {old}\n", f"+++ {new}\n"]


def _lines(text: str) -> list[str]:
    # Only "\n" ends a line in a diff; a "\r" inside a line belongs to the file's content.
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _file_patch(block: list[str]) -> FilePatch:
    header: list[str] = []
    i = 0
    while i < len(block) and not block[i].startswith("@@"):
        header.append(block[i])
        i += 1
    old: str | None = None
    new: str | None = None
    status = "modified"
    binary = False
    for line in header:
        if line.startswith("--- "):
            old = _strip_prefix(line[4:])
        elif line.startswith("+++ "):
            new = _strip_prefix(line[4:])
        elif line.startswith("rename from "):
            old, status = _unquote(line[12:].rstrip("\n")), "renamed"
        elif line.startswith("rename to "):
            new = _unquote(line[10:].rstrip("\n"))
        elif line.startswith("new file mode"):
            status = "added"
        elif line.startswith("deleted file mode"):
            status = "deleted"
        elif line.startswith(("GIT binary patch", "Binary files ")):
            binary = True
        elif line.startswith("old mode") and status == "modified":
            status = "mode"
    if old is None and new is None or binary and status == "modified":
        # No ---/+++ lines (binary, mode only): both names are on the `diff --git a/X b/X` line.
        rest = header[0][len("diff --git "):].rstrip("\n")
        if rest.startswith('"'):
            end = rest.index('" ', 1) + 1
            a, b = rest[:end], rest[end + 1:]
        else:
            half = (len(rest) - 1) // 2
            a, b = rest[:half], rest[half + 1:]
        old = old or (None if status == "added" else _strip_prefix(a))
        new = new or (None if status == "deleted" else _strip_prefix(b))
    path = new or old or "?"
    hunks: list[Hunk] = []
    for line in block[i:]:
        if line.startswith("@@"):
            hunks.append(Hunk(line, [], len(hunks) + 1))
        elif hunks:
            hunks[-1].lines.append(line)
    return FilePatch(path=path, old_path=old if old != path else None, status=status, header=header,
                     hunks=hunks, binary=binary)


def split_diff(text: str) -> list[FilePatch]:
    """The files of a `git diff`, each with its hunks."""
    blocks: list[list[str]] = []
    for line in _lines(text):
        if line.startswith("diff --git "):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    return [_file_patch(block) for block in blocks]
