"""Commits as git bundles: how a start commit travels to a cluster node and a subtask's branch comes back."""

from __future__ import annotations

import tempfile
from pathlib import Path

from swarm.git.repo import GitRepo


def create_bundle(repo: GitRepo, ref: str, *, exclude: tuple[str, ...] = ()) -> bytes:
    """A bundle of `ref` (a full ref name) without the objects reachable from `exclude` (commits the other side has)."""
    # Only commits this repository has can be left out; the others are unknown here.
    known = [c for c in exclude if repo.git("rev-parse", "--verify", "-q", f"{c}^{{commit}}", check=False)]
    with tempfile.TemporaryDirectory(prefix="swarm-bundle-") as tmp:
        path = Path(tmp) / "out.bundle"
        repo.git("bundle", "create", "-q", str(path), ref, *(f"^{c}" for c in known))
        return path.read_bytes()


def fetch_bundle(repo: GitRepo, data: bytes, src_ref: str, dst_ref: str) -> str:
    """Fetch `src_ref` from a bundle into `dst_ref` (forced); return the commit it names."""
    with tempfile.TemporaryDirectory(prefix="swarm-bundle-") as tmp:
        path = Path(tmp) / "in.bundle"
        path.write_bytes(data)
        repo.git("fetch", "-q", "--no-tags", str(path), f"+{src_ref}:{dst_ref}")
    return repo.git("rev-parse", dst_ref)
