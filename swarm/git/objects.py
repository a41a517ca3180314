"""Commit objects written by swarm itself, so the commit at the end of a subtask needs no git process.

A commit is a small text object: its tree, its parents, who wrote it and when,
and the message. `ObjectWriter` writes it into the repository's object store
exactly as `git commit-tree` would (the same identity, the message cleaned up
as `git commit -F` cleans it, a loose object compressed with zlib and named by
its SHA-1), so git reads it like any other. It is made once per repository from
one `git var -l` (identity and configuration as git itself resolves them), and
only where that is safe: a repository with SHA-256 objects, shared permissions,
a commit encoding of its own or commit signing gets None, and callers use git.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile
import threading
import time
import zlib
from pathlib import Path

from swarm.git.runner import GitRunner

__all__ = ["ObjectReader", "ObjectWriter", "clean_message", "object_writer", "read_tree", "tree_body"]

# Settings under which a commit git makes differs from the one written here: git is used instead.
_UNSAFE = {"extensions.objectformat": ("sha1",), "extensions.compatobjectformat": (),
           "core.sharedrepository": ("false", "umask", "0"), "i18n.commitencoding": ("utf-8", "utf8"),
           "commit.gpgsign": ("false",)}


class ObjectReader:
    """Reads objects through one `git cat-file --batch` process."""

    def __init__(self, runner: GitRunner) -> None:
        # A hand-written reader rather than GitPython's: one process shared by threads, under a lock.
        self._proc = runner.popen("cat-file", "--batch", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.DEVNULL)
        self._lock = threading.Lock()

    def read(self, spec: str) -> bytes | None:
        """The content of `spec` (a blob id or `commit:path`), or None when there is no such object."""
        found = self.object(spec)
        return found[1] if found is not None and found[0] == "blob" else None

    def object(self, spec: str) -> tuple[str, bytes] | None:
        """The type and content of the object `spec` names, or None when there is none."""
        assert self._proc.stdin is not None and self._proc.stdout is not None
        if "\n" in spec:
            return None
        with self._lock:
            self._proc.stdin.write(spec.encode() + b"\n")
            self._proc.stdin.flush()
            header = self._proc.stdout.readline().decode(errors="replace").split()
            if len(header) != 3:  # "<spec> missing" or "ambiguous"
                return None
            data = self._proc.stdout.read(int(header[2]) + 1)[:-1]
        return header[1], data

    def close(self) -> None:
        if self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()


def read_tree(body: bytes) -> dict[str, tuple[str, str]]:
    """A tree object's entries: name -> (mode, object id); names keep undecodable bytes (surrogateescape)."""
    entries, at = {}, 0
    while at < len(body):
        space = body.index(b" ", at)
        nul = body.index(b"\0", space)
        mode = body[at:space].decode()
        entries[body[space + 1:nul].decode("utf-8", "surrogateescape")] = (mode, body[nul + 1:nul + 21].hex())
        at = nul + 21
    return entries


def tree_body(entries: dict[str, tuple[str, str]]) -> bytes:
    """The tree object of `entries`, in git's order (a folder sorts as if its name ended in `/`)."""
    def key(name: str) -> bytes:
        raw = name.encode("utf-8", "surrogateescape")
        return raw + b"/" if entries[name][0] == "40000" else raw

    return b"".join(f"{entries[n][0]} ".encode() + n.encode("utf-8", "surrogateescape") + b"\0" +
                    bytes.fromhex(entries[n][1]) for n in sorted(entries, key=key))


def clean_message(message: str) -> str:
    """The message as `git commit -F` stores it: no trailing spaces, runs of blank lines made one, no blank
    lines at either end, one newline at the end."""
    lines = [line.rstrip() for line in message.splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out) + "\n" if out else ""


def _timestamp() -> str:
    now = time.time()
    offset = time.localtime(now).tm_gmtoff // 60
    sign = "+" if offset >= 0 else "-"
    return f"{int(now)} {sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


class ObjectWriter:
    """Writes loose objects (and commits) into one repository's object store."""

    def __init__(self, objects_dir: Path, author: str, committer: str, *, fixed_author: bool = False,
                 fixed_committer: bool = False) -> None:
        """`author`/`committer`: git's `Name <email> <seconds> <zone>`; a `fixed_` one keeps its date
        (set by GIT_AUTHOR_DATE / GIT_COMMITTER_DATE), the others take the time of each commit."""
        self.dir = objects_dir
        self._author = author
        self._committer = committer
        self._fixed = (fixed_author, fixed_committer)

    def write(self, kind: str, body: bytes) -> str:
        """Store one object; its name. An object that exists already is left as it is."""
        data = f"{kind} {len(body)}\0".encode() + body
        oid = hashlib.sha1(data).hexdigest()
        folder = self.dir / oid[:2]
        path = folder / oid[2:]
        if path.exists():
            return oid
        folder.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="tmp_obj_")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(zlib.compress(data))
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, path)  # never over an object of the same name (as git: first one stays)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
        return oid

    def _ident(self, which: int) -> str:
        ident = (self._author, self._committer)[which]
        if self._fixed[which]:
            return ident
        who = ident.rsplit(" ", 2)[0]
        return f"{who} {_timestamp()}"

    def commit(self, tree: str, parents: list[str], message: str) -> str:
        """A commit of `tree` on `parents` with `message` (cleaned up as `git commit -F` does)."""
        head = f"tree {tree}\n" + "".join(f"parent {p}\n" for p in parents)
        body = f"{head}author {self._ident(0)}\ncommitter {self._ident(1)}\n\n{clean_message(message)}"
        return self.write("commit", body.encode())


async def object_writer(runner: GitRunner, common_dir: Path) -> ObjectWriter | None:
    """The writer for a repository (through `runner`, so with swarm's own settings), or None where git's own
    commit could differ from it."""
    out = await runner.arun("var", "-l", check=False)
    if out.code != 0:
        return None
    values: dict[str, str] = {}
    for line in out.text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.lower() if "." in key else key] = value.strip()  # config keys are case-insensitive
    for key, allowed in _UNSAFE.items():
        if key in values and values[key].lower() not in allowed:
            return None
    author, committer = values.get("GIT_AUTHOR_IDENT", ""), values.get("GIT_COMMITTER_IDENT", "")
    pattern = r".* <[^<>]*> \d+ [+-]\d{4}"
    objects = common_dir / "objects"
    if not (re.fullmatch(pattern, author) and re.fullmatch(pattern, committer) and objects.is_dir()):
        return None
    env = runner.env()
    return ObjectWriter(objects, author, committer, fixed_author="GIT_AUTHOR_DATE" in env,
                        fixed_committer="GIT_COMMITTER_DATE" in env)
