"""Each subtask's change, parsed with unidiff into files and hunks for attribution."""

from __future__ import annotations

from typing import Any

from unidiff import PatchSet


def parse_diff(text: str) -> list[dict[str, Any]]:
    """Files and hunks of a unified diff, as plain records."""
    files = []
    for patched in PatchSet(text):
        if patched.is_added_file:
            status = "added"
        elif patched.is_removed_file:
            status = "removed"
        elif getattr(patched, "is_rename", False) and patched.source_file[2:] != patched.target_file[2:]:
            status = "renamed"
        else:
            status = "modified"
        files.append({
            "path": patched.path,
            "source_path": patched.source_file[2:] if patched.source_file.startswith("a/") else None,
            "status": status,
            "binary": patched.is_binary_file,
            "added": patched.added,
            "removed": patched.removed,
            "hunks": [{
                "source_start": h.source_start, "source_length": h.source_length,
                "target_start": h.target_start, "target_length": h.target_length,
                "section": h.section_header, "added": h.added, "removed": h.removed,
            } for h in patched],
        })
    return files


def changed_paths(files: list[dict[str, Any]]) -> list[str]:
    """Every path a change touches (both sides of a rename)."""
    paths: set[str] = set()
    for f in files:
        paths.add(f["path"])
        if f.get("source_path") and f["source_path"] != f["path"]:
            paths.add(f["source_path"])
    return sorted(paths)
