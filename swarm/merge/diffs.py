"""Each subtask's change, parsed with unidiff into files and hunks for attribution."""

from __future__ import annotations

import re
from typing import Any

from unidiff import PatchSet, PatchedFile
from unidiff.errors import UnidiffParseError

# git ends a ---/+++ line with a tab when the path has a space; unidiff would read an empty timestamp.
_TRAILING_TAB = re.compile(r"^((?:---|\+\+\+) .*)\t$", re.MULTILINE)


def _record(patched: PatchedFile, status: str | None = None) -> dict[str, Any]:
    if status is None:
        if patched.is_added_file:
            status = "added"
        elif patched.is_removed_file:
            status = "removed"
        elif getattr(patched, "is_rename", False) and patched.source_file[2:] != patched.target_file[2:]:
            status = "renamed"
        else:
            status = "modified"
    source = patched.source_file[2:] if patched.source_file.startswith("a/") else None
    path = patched.path if status != "added" else patched.target_file[2:]
    return {
        "path": path,
        "source_path": source,
        "status": status,
        "binary": patched.is_binary_file,
        "added": patched.added,
        "removed": patched.removed,
        "hunks": [{
            "source_start": h.source_start, "source_length": h.source_length,
            "target_start": h.target_start, "target_length": h.target_length,
            "section": h.section_header, "added": h.added, "removed": h.removed,
        } for h in patched],
    }


def _segment(text: str) -> dict[str, Any] | None:
    """One file's diff whose `diff --git` line unidiff cannot split (a path with spaces):
    parsed from its ---/+++ lines, with the status read from git's extended header."""
    header, sep, body = text.partition("\n--- ")
    if not sep:
        return None
    files = list(PatchSet("--- " + body))
    if not files:
        return None
    status = "renamed" if "\nrename from " in header else None
    return _record(files[0], status)


def parse_diff(text: str) -> list[dict[str, Any]]:
    """Files and hunks of a unified diff (`git diff` output), as plain records."""
    text = _TRAILING_TAB.sub(r"\1", text)
    try:
        return [_record(patched) for patched in PatchSet(text)]
    except UnidiffParseError:
        pass
    # Parse file by file; only the files unidiff cannot split fall back to their ---/+++ lines.
    out = []
    for chunk in re.split(r"^(?=diff --git )", text, flags=re.MULTILINE):
        if not chunk.strip():
            continue
        try:
            out += [_record(patched) for patched in PatchSet(chunk)]
        except UnidiffParseError:
            record = _segment(chunk)
            if record is not None:
                out.append(record)
    return out


def changed_paths(files: list[dict[str, Any]]) -> list[str]:
    """Every path a change touches (both sides of a rename)."""
    paths: set[str] = set()
    for f in files:
        paths.add(f["path"])
        if f.get("source_path") and f["source_path"] != f["path"]:
            paths.add(f["source_path"])
    return sorted(paths)
