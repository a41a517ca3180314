"""Python in a worktree tests the worktree: shadowing an editable install of the user's checkout.

A project installed in editable mode (`pip install -e .`) in the user's
environment puts the user's checkout on `sys.path` through a `.pth` file (or a
setuptools finder module, or a legacy `.egg-link`). Tests run inside a worktree
then import the user's checkout, not the worktree. This module finds which of
the repository's folders the interpreter's editable installs point into, so that
everything run in a worktree gets the worktree's copies of those folders first
on `PYTHONPATH` (entries from `PYTHONPATH` come before `.pth` entries and before
setuptools' finder, which is appended to `sys.meta_path`).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_SITE_DIRS = ("import json, site, sys; "
              "print(json.dumps([sys.executable, sys.prefix, site.getsitepackages() + [site.getusersitepackages()]]))")


@dataclass(frozen=True)
class PythonEnv:
    """The interpreter commands in a worktree run, and the repository folders its editable installs use."""

    executable: str | None
    prefix: str | None
    roots: tuple[str, ...]  # repository-relative folders ("src", "" for the top) that an editable install maps

    def describe(self) -> str:
        """One line for the start of a run: which Python tests use and what is shadowed."""
        if self.executable is None:
            return "no python on PATH"
        where = f"python {self.executable}"
        if not self.roots:
            return f"{where} (this repository is not installed in editable mode there)"
        shown = ", ".join(f"{r}/" if r else "the top folder" for r in self.roots)
        return f"{where}: its editable install of this repository is shadowed by each worktree's {shown}"

    def pythonpath(self, worktree: Path, current: str | None = None) -> str | None:
        """PYTHONPATH for a command run in `worktree`: the worktree's copies of the roots first."""
        if not self.roots:
            return current
        entries = [str(worktree / r) if r else str(worktree) for r in self.roots]
        if current:
            entries.append(current)
        return os.pathsep.join(entries)


def _pth_paths(pth: Path) -> list[Path]:
    """The folders a `.pth` file adds, and those a setuptools editable finder it imports maps to."""
    paths: list[Path] = []
    try:
        lines = pth.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return paths
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("import "):
            # `import __editable___pkg_1_0_finder; __editable___pkg_1_0_finder.install()`
            module = line.split()[1].rstrip(";").split(";")[0]
            paths += _finder_paths(pth.parent / f"{module}.py")
        else:
            paths.append(Path(line))
    return paths


def _finder_paths(finder: Path) -> list[Path]:
    """The package folders in a setuptools editable finder's MAPPING, as their parent folders."""
    try:
        tree = ast.parse(finder.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "MAPPING" for t in node.targets):
            try:
                mapping = ast.literal_eval(node.value)
            except ValueError:
                return []
            # A mapped package `pkg -> /repo/src/pkg` is found from its parent folder.
            return [Path(p).parent for p in mapping.values()]
    return []


def _egg_link_paths(link: Path) -> list[Path]:
    try:
        first = link.read_text(encoding="utf-8").splitlines()[:1]
    except OSError:
        return []
    return [Path(first[0].strip())] if first and first[0].strip() else []


def editable_roots(repo_root: Path, site_dirs: list[str]) -> tuple[str, ...]:
    """Repository-relative folders that editable installs in `site_dirs` put on sys.path."""
    root = repo_root.resolve()
    found: list[str] = []
    for site_dir in site_dirs:
        folder = Path(site_dir)
        if not folder.is_dir():
            continue
        candidates: list[Path] = []
        for entry in sorted(folder.iterdir()):
            if entry.suffix == ".pth":
                candidates += _pth_paths(entry)
            elif entry.suffix == ".egg-link":
                candidates += _egg_link_paths(entry)
        for path in candidates:
            try:
                rel = path.resolve().relative_to(root)
            except (OSError, ValueError):
                continue
            text = "" if str(rel) == "." else rel.as_posix()
            if text not in found and not text.startswith(".swarm"):
                found.append(text)
    return tuple(found)


@functools.lru_cache(maxsize=32)
def _site_of(python: str) -> tuple[str, str, tuple[str, ...]] | None:
    """The interpreter's executable, prefix and site folders: asked once (a tenth of a second on the run's
    critical path), then kept on disk while the interpreter and its venv's pyvenv.cfg are unchanged."""
    key = _site_key(python)
    cache = _site_cache()
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    hit = known.get(python) if isinstance(known, dict) else None
    if isinstance(hit, dict) and hit.get("key") == key and isinstance(hit.get("site"), list) and len(hit["site"]) == 3:
        executable, prefix, dirs = hit["site"]
        return str(executable), str(prefix), tuple(str(d) for d in dirs)
    site = _ask_site(python)
    if site is not None and key is not None:
        known = known if isinstance(known, dict) else {}
        known[python] = {"key": key, "site": [site[0], site[1], list(site[2])]}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f"{cache.name}.{os.getpid()}")
            tmp.write_text(json.dumps(known))
            os.replace(tmp, cache)
        except OSError:
            pass
    return site


def _site_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "swarm" / "python-sites.json"


def _site_key(python: str) -> str | None:
    """What the answer depends on: the interpreter file and its venv's configuration."""
    try:
        real = os.path.realpath(python)
        parts = [real, str(os.stat(real).st_mtime_ns)]
        cfg = Path(python).parent.parent / "pyvenv.cfg"
        parts.append(str(cfg.stat().st_mtime_ns) if cfg.is_file() else "-")
    except OSError:
        return None
    return "|".join(parts)


def _ask_site(python: str) -> tuple[str, str, tuple[str, ...]] | None:
    try:
        proc = subprocess.run([python, "-c", _SITE_DIRS], capture_output=True, text=True, timeout=30,
                              env={"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": ""})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    executable, prefix, dirs = json.loads(proc.stdout)
    return executable, prefix, tuple(dirs)


def python_env(repo_root: Path, path: str | None = None) -> PythonEnv:
    """The Python that `python` (else `python3`) on `path` runs, and what of this repository it installs editable."""
    python = shutil.which("python", path=path) or shutil.which("python3", path=path)
    if python is None:
        return PythonEnv(None, None, ())
    site = _site_of(python)
    if site is None:
        return PythonEnv(python, None, ())
    executable, prefix, dirs = site
    return PythonEnv(executable, prefix, editable_roots(repo_root, list(dirs)))
