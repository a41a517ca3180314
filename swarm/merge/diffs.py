"""The one diff model: a git diff cut into files and hunks, for attribution, review and patches.

Hunks are parsed by unidiff (positions, counts, the lines' kinds, and a check
that each hunk is as long as its header says). What unidiff does not know
about git is read here from each file's extended header: both names of a
rename, additions and deletions, modes (a symlink is mode 120000) and binary
files. Names come from `rename from/to` and the `---`/`+++` lines, which git
quotes C-style when they hold unusual bytes (swarm asks for
`core.quotePath=true`, so the header is plain ASCII); the `diff --git` line is
read only for a file without them, where both names are the same.

The text of each file and hunk is kept exactly as git wrote it, so a file
rebuilt from a subset of its hunks is still a patch `git apply --3way`
accepts: hunks keep their old-side line numbers and the full blob ids on the
`index` line let the three-way fallback find the old version. A file without
hunks (a rename, a mode change, a binary file) is one indivisible unit.

Diffs travel as bytes decoded with `surrogateescape`, so files in any
encoding survive the round trip; `printable` makes a line safe to show.
`FilePatch.record` is the plain form saved in `diffs/<id>.json`.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field
from typing import Any, Iterable

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

from swarm.errors import SwarmError

SYMLINK_MODE = "120000"


def printable(line: str) -> str:
    """A diff line with undecodable bytes shown as U+FFFD, safe for a terminal or a page."""
    return line.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _unquote(name: str) -> str:
    """Undo git's C-style quoting of unusual names ("a/t\\303\\251st")."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    raw = codecs.escape_decode(name[1:-1].encode("utf-8", "surrogateescape"))[0]
    return raw.decode("utf-8", "surrogateescape")  # type: ignore[union-attr]


def _side(name: str) -> str | None:
    """A `---`/`+++` name without its a/ or b/ prefix; None for /dev/null."""
    name = name.rstrip("\n")
    if name.endswith("\t"):  # git ends the name with a tab when it holds a space
        name = name[:-1]
    name = _unquote(name)
    if name == "/dev/null":
        return None
    return name[2:] if name[:2] in ("a/", "b/") else name


@dataclass
class Hunk:
    """One `@@` section of a file's diff, with its text as git wrote it."""

    header: str
    lines: list[str]
    index: int  # 1-based, within its file
    old_start: int
    old_length: int
    new_start: int
    new_length: int
    section: str
    added: int
    removed: int

    def text(self) -> str:
        return self.header + "".join(self.lines)


@dataclass
class FilePatch:
    """One file's part of a diff: its header lines, its hunks, and what happened to it."""

    path: str
    old_path: str | None  # set when it differs from `path` (a rename)
    status: str  # added, removed, modified, renamed
    header: list[str]
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False
    old_mode: str | None = None
    new_mode: str | None = None

    @property
    def added(self) -> int:
        return sum(h.added for h in self.hunks)

    @property
    def removed(self) -> int:
        return sum(h.removed for h in self.hunks)

    @property
    def paths(self) -> set[str]:
        return {p for p in (self.path, self.old_path) if p}

    @property
    def is_symlink(self) -> bool:
        return (self.new_mode or self.old_mode) == SYMLINK_MODE

    @property
    def kind(self) -> str:
        """The status as shown to a person ("mode" for a change of mode only)."""
        if self.status == "modified" and not self.hunks and not self.binary and self.old_mode != self.new_mode:
            return "mode"
        return self.status

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

    def record(self) -> dict[str, Any]:
        """The plain form saved in `diffs/<id>.json` and read by the checks."""
        return {
            "path": self.path,
            "source_path": None if self.status == "added" else (self.old_path or self.path),
            "status": self.status,
            "binary": self.binary,
            "symlink": self.is_symlink,
            "mode": self.new_mode,
            "added": self.added,
            "removed": self.removed,
            "hunks": [{"source_start": h.old_start, "source_length": h.old_length, "target_start": h.new_start,
                       "target_length": h.new_length, "section": h.section, "added": h.added,
                       "removed": h.removed} for h in self.hunks],
        }


def _lines(text: str) -> list[str]:
    # Only "\n" ends a line in a diff; a "\r" inside a line belongs to the file's content.
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _same_names(rest: str) -> tuple[str, str]:
    """Both names of a `diff --git A B` line whose two sides name the same file."""
    rest = rest.rstrip("\n")
    if rest.startswith('"'):
        end = rest.index('" ', 1) + 1
        return rest[:end], rest[end + 1:]
    half = (len(rest) - 1) // 2
    return rest[:half], rest[half + 1:]


def _hunks(body: list[str], path: str) -> list[Hunk]:
    """The hunks of one file (its lines after `+++`), parsed by unidiff, with their text kept."""
    starts = [i for i, line in enumerate(body) if line.startswith("@@")]
    if not starts:
        return []
    try:
        parsed = PatchSet(["--- a\n", "+++ b\n", *body])  # the names were read above
    except UnidiffParseError as e:
        raise SwarmError(f"cannot read git's diff of {printable(path)}: {e}") from None
    found = [h for f in parsed for h in f]
    if len(found) != len(starts):
        raise SwarmError(f"cannot read git's diff of {printable(path)}: {len(starts)} hunk headers, "
                         f"{len(found)} hunks")
    ends = starts[1:] + [len(body)]
    return [Hunk(header=body[s], lines=body[s + 1:e], index=k, old_start=h.source_start,
                 old_length=h.source_length, new_start=h.target_start, new_length=h.target_length,
                 section=h.section_header, added=h.added, removed=h.removed)
            for k, (s, e, h) in enumerate(zip(starts, ends, found), 1)]


def _file_patch(block: list[str]) -> FilePatch:
    end = next((i for i, line in enumerate(block) if line.startswith(("--- ", "@@"))), len(block))
    if end < len(block) and block[end].startswith("--- "):
        end += 2 if end + 1 < len(block) and block[end + 1].startswith("+++ ") else 1
    header, body = block[:end], block[end:]
    old: str | None = None
    new: str | None = None
    sides = False
    status = "modified"
    binary = False
    old_mode = new_mode = None
    for line in header:
        value = line.rstrip("\n")
        if line.startswith("--- "):
            old, sides = _side(line[4:]), True
        elif line.startswith("+++ "):
            new, sides = _side(line[4:]), True
        elif line.startswith("rename from "):
            old, status = _unquote(value[12:]), "renamed"
        elif line.startswith("rename to "):
            new = _unquote(value[10:])
        elif line.startswith("new file mode "):
            status, new_mode = "added", value[14:]
        elif line.startswith("deleted file mode "):
            status, old_mode = "removed", value[18:]
        elif line.startswith("old mode "):
            old_mode = value[9:]
        elif line.startswith("new mode "):
            new_mode = value[9:]
        elif line.startswith("index ") and " " in value[6:]:
            old_mode = old_mode or value.rsplit(" ", 1)[1]
            new_mode = new_mode or value.rsplit(" ", 1)[1]
        elif line.startswith(("GIT binary patch", "Binary files ")):
            binary = True
    if not sides and status != "renamed":
        # No ---/+++ lines (binary, mode only): the name is on the `diff --git a/X b/X` line.
        a, b = _same_names(header[0][len("diff --git "):])
        old = None if status == "added" else _side(a)
        new = None if status == "removed" else _side(b)
    path = new or old or "?"
    return FilePatch(path=path, old_path=old if old and old != path else None, status=status, header=header,
                     hunks=[] if binary else _hunks(body, path), binary=binary, old_mode=old_mode,
                     new_mode=new_mode)


def parse_patches(text: str) -> list[FilePatch]:
    """The files of a `git diff`, each with its hunks."""
    blocks: list[list[str]] = []
    for line in _lines(text):
        if line.startswith("diff --git "):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    return [_file_patch(block) for block in blocks]


def parse_diff(text: str) -> list[dict[str, Any]]:
    """Files and hunks of a `git diff`, as the plain records of `diffs/<id>.json`."""
    return [fp.record() for fp in parse_patches(text)]


def changed_paths(files: list[dict[str, Any]]) -> list[str]:
    """Every path a change touches (both sides of a rename)."""
    paths: set[str] = set()
    for f in files:
        paths.add(f["path"])
        if f.get("source_path") and f["source_path"] != f["path"]:
            paths.add(f["source_path"])
    return sorted(paths)
