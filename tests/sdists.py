"""Real third-party source for tests: a PyPI sdist, unpacked into a fresh git repository.

`sdist_dir` downloads the sdist once with pip into the test cache
(``<repo>/.pytest_cache/swarm-sdists/``) and reuses it afterwards;
`unpack_into_repo` copies its tree (extracted once, also cached) into a new
folder and commits it on branch main, so every test gets a repository of its
own. Only an unreachable registry skips the calling test; any other failure
fails it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import pytest

CACHE_DIR = Path(__file__).resolve().parents[1] / ".pytest_cache" / "swarm-sdists"
DOWNLOAD_TIMEOUT = 600.0
_ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
# pip's words when it cannot talk to the index at all (DNS, refused, proxy, TLS, timeouts).
_UNREACHABLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Name or service not known|"
    r"Temporary failure in name resolution|nodename nor servname|getaddrinfo failed|Network is unreachable|"
    r"No route to host|Connection refused|Connection reset|ConnectTimeout|ReadTimeout|timed out|ProxyError|"
    r"Max retries exceeded|SSLError|CERTIFICATE_VERIFY_FAILED|RemoteDisconnected|HTTP ?error:? 5\d\d", re.I)


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _split_archive_name(filename: str) -> tuple[str, str] | None:
    """('attrs', '26.1.0') for 'attrs-26.1.0.tar.gz'; None for anything that is not an sdist archive."""
    for suffix in _ARCHIVE_SUFFIXES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            if "-" in stem:
                project, version = stem.rsplit("-", 1)
                return project, version
    return None


def _cached_archive(folder: Path, name: str, version: str) -> Path | None:
    if not folder.is_dir():
        return None
    for path in sorted(folder.iterdir()):
        parts = _split_archive_name(path.name)
        if path.is_file() and parts and _canonical(parts[0]) == _canonical(name) and parts[1] == version:
            return path
    return None


def _short_reason(output: str) -> str:
    """pip's network failure in a few words, e.g. 'network error: [Errno 111] Connection refused'."""
    errno = re.findall(r"\[Errno -?\d+\][^'\"()\n]*", output)
    if errno:
        return f"network error: {errno[-1].strip().rstrip(':,.')}"
    hits = [line.strip() for line in output.splitlines() if _UNREACHABLE.search(line)]
    line = hits[-1] if hits else "no output"
    match = _UNREACHABLE.search(line)
    if match and len(line) > 160:  # pip's retry lines are long reprs; keep the part around the cause
        line = "..." + line[max(match.start() - 40, 0):][:160] + "..."
    return f"network error: {line}"


def sdist_dir(name: str, version: str) -> Path:
    """The sdist archive of `name`==`version`, downloaded from PyPI into the cache on first use.

    Skips the calling test when the registry cannot be reached; fails it on
    any other download problem (a bad name or version, a broken archive).
    """
    found = _cached_archive(CACHE_DIR, name, version)
    if found is not None:
        return found
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    # Download into a private folder, then move into place, so concurrent test runs never see half a file.
    with tempfile.TemporaryDirectory(dir=CACHE_DIR, prefix=".download-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               "--disable-pip-version-check", "--no-input", "--retries", "2", "--timeout", "20",
               f"{name}=={version}", "-d", tmp]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.skip(f"cannot download {name}=={version} from PyPI: pip download timed out "
                        f"after {DOWNLOAD_TIMEOUT:g}s")
        output = proc.stdout + proc.stderr
        if proc.returncode != 0:
            if _UNREACHABLE.search(output):
                pytest.skip(f"cannot download {name}=={version} from PyPI: {_short_reason(output)}")
            pytest.fail(f"pip download {name}=={version} failed (exit {proc.returncode}):\n{output[-4000:]}",
                        pytrace=False)
        downloaded = _cached_archive(Path(tmp), name, version)
        if downloaded is None:
            pytest.fail(f"pip download {name}=={version} left no sdist archive in {tmp}: "
                        f"{sorted(p.name for p in Path(tmp).iterdir())}\n{output[-2000:]}", pytrace=False)
        target = CACHE_DIR / downloaded.name
        os.replace(downloaded, target)
    return target


def _extract(archive: Path, into: Path) -> Path:
    """Extract `archive` under `into` and return its single top-level folder (or `into` if there is none)."""
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(into)
    else:
        with tarfile.open(archive) as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(into, filter="data")
            else:  # Python < 3.11.4: no filters; sdists from PyPI are trusted test inputs here
                tf.extractall(into)
    entries = list(into.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return into


def _unpacked_tree(archive: Path) -> Path:
    """The archive's tree without its top-level folder, extracted once into the cache."""
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    tree = CACHE_DIR / "unpacked" / f"{archive.name}-{digest}"
    if tree.is_dir():
        return tree
    tree.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=tree.parent, prefix=".extract-"))
    try:
        top = _extract(archive, staging)
        try:
            os.replace(top, tree)
        except OSError:
            if not tree.is_dir():  # another run won the race: use its copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return tree


def _git(repo: Path, *args: str) -> None:
    env = dict(os.environ)
    for key, value in (("GIT_AUTHOR_NAME", "Test User"), ("GIT_AUTHOR_EMAIL", "user@example.test"),
                       ("GIT_COMMITTER_NAME", "Test User"), ("GIT_COMMITTER_EMAIL", "user@example.test")):
        env.setdefault(key, value)
    subprocess.run(["git", "-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null", *args], cwd=repo,
                   env=env, check=True, capture_output=True, text=True)


def unpack_into_repo(archive: Path, dest: Path) -> Path:
    """Put the sdist's files (without their top-level folder) in `dest` as one commit on branch main.

    `dest` must not exist yet or be empty. Returns `dest`.
    """
    archive = Path(archive)
    if dest.exists() and any(dest.iterdir()):
        raise ValueError(f"{dest} is not empty")
    if archive.resolve().parent == CACHE_DIR.resolve():
        shutil.copytree(_unpacked_tree(archive), dest, symlinks=True, dirs_exist_ok=True)
    else:
        dest.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(_extract(archive, Path(tmp)), dest, symlinks=True, dirs_exist_ok=True)
    _git(dest, "init", "-q", "-b", "main")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", f"Unpack {archive.name}")
    return dest
