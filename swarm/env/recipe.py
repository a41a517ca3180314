"""The worktree recipe: what makes a worktree a development environment (DESIGN.md).

    [tool.swarm.worktree]                 pyproject.toml (or [worktree] in .swarm/config.toml)
    setup = ["npm ci --prefer-offline"]   run in each fresh worktree, sandboxed, before its agent
    copy = [".env.local"]                 ignored files copied from the user's checkout (globs)
    link = ["node_modules"]               ignored folders linked in (read-only in the sandbox)
    env = { NODE_ENV = "test" }           extra variables for everything run in the worktree
    ports = 10                            the size of each worktree's block of ports (SWARM_PORT..)

The recipe is a plain value: the local executor applies it to a worktree on
this machine (`prepare`), and anything else that builds a worktree (a remote
node) can read the same fields. `.swarm/config.toml` wins over pyproject.toml
field by field.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from swarm.errors import ConfigError
from swarm.globs import match_any

# Files whose content decides what `setup` installs: a slot set up for the same ones need not run it again.
LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "poetry.lock",
             "uv.lock", "Pipfile.lock", "pdm.lock", "requirements.txt", "requirements-dev.txt", "pyproject.toml",
             "setup.py", "setup.cfg", "Cargo.lock", "go.sum", "Gemfile.lock", "composer.lock")


@dataclass(frozen=True)
class WorktreeRecipe:
    """The `[tool.swarm.worktree]` table, as a value."""

    setup: tuple[str, ...] = ()
    copy: tuple[str, ...] = ()
    link: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    ports: int = 10
    lockfiles: tuple[str, ...] = LOCKFILES

    def to_dict(self) -> dict[str, Any]:
        return {"setup": list(self.setup), "copy": list(self.copy), "link": list(self.link), "env": dict(self.env),
                "ports": self.ports, "lockfiles": list(self.lockfiles)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "worktree recipe") -> "WorktreeRecipe":
        """The recipe of a table; a wrong type is a ConfigError naming `source`."""
        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key, [])
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{source}: `{key}` must be a list of strings")
            return tuple(value)

        unknown = set(data) - {"setup", "copy", "link", "env", "ports", "lockfiles"}
        if unknown:
            raise ConfigError(f"{source}: unknown key {sorted(unknown)[0]!r}; known: setup, copy, link, env, ports, "
                              "lockfiles")
        env = data.get("env", {})
        if not isinstance(env, dict):
            raise ConfigError(f"{source}: `env` must be a table of NAME = \"value\"")
        ports = data.get("ports", 10)
        if not isinstance(ports, int) or not 1 <= ports <= 1000:
            raise ConfigError(f"{source}: `ports` must be a whole number from 1 to 1000")
        for path in (*strings("copy"), *strings("link")):
            if path.startswith("/") or ".." in Path(path).parts:
                raise ConfigError(f"{source}: {path!r} must be a path inside the repository")
        return cls(strings("setup"), strings("copy"), strings("link"), {str(k): str(v) for k, v in env.items()},
                   ports, strings("lockfiles") if "lockfiles" in data else LOCKFILES)

    @property
    def empty(self) -> bool:
        return not (self.setup or self.copy or self.link or self.env)

    def setup_key(self, worktree: Path) -> str:
        """What a slot's setup depends on: the commands and the content of the lockfiles in `worktree`."""
        digest = hashlib.sha256(json.dumps(self.setup).encode())
        for name in self.lockfiles:
            path = worktree / name
            if path.is_file():
                digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
        return digest.hexdigest()


def _read(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # the settings loader already reported a broken file


def load_recipe(repo_root: Path) -> WorktreeRecipe:
    """The repository's recipe: pyproject.toml's [tool.swarm.worktree], then .swarm/config.toml's [worktree]."""
    table: dict[str, Any] = {}
    sources = []
    project = _read(repo_root / "pyproject.toml").get("tool", {}).get("swarm", {}).get("worktree")
    if isinstance(project, dict):
        table.update(project)
        sources.append("pyproject.toml [tool.swarm.worktree]")
    local = _read(repo_root / ".swarm" / "config.toml")
    local = local.get("swarm", local).get("worktree")
    if isinstance(local, dict):
        table.update(local)
        sources.append(".swarm/config.toml [worktree]")
    return WorktreeRecipe.from_dict(table, " / ".join(sources) or "worktree recipe")


def exclude_links(common_dir: Path, names: tuple[str, ...]) -> None:
    """Keep linked folders out of every commit: a symlink is a file, so `vendor/` in .gitignore misses it."""
    exclude = common_dir / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    missing = [f"/{n.strip('/')}" for n in names if f"/{n.strip('/')}" not in lines]
    if missing:
        with exclude.open("a") as handle:
            handle.write(("\n" if lines and lines[-1] else "") + "\n".join(missing) + "\n")


def copy_and_link(recipe: WorktreeRecipe, source: Path, worktree: Path, common_dir: Path | None = None) -> list[str]:
    """Copy `copy` files and link `link` folders from the user's checkout; say what was done."""
    done: list[str] = []
    if recipe.link and common_dir is not None:
        exclude_links(common_dir, recipe.link)
    if recipe.copy:
        for path in _ignored_files(source):
            if match_any(recipe.copy, path):
                target = _own_path(worktree, path)
                if target.is_dir():
                    shutil.rmtree(target)
                shutil.copy2(source / path, target)
                done.append(f"copied {path}")
    for name in recipe.link:
        origin = source / name
        if not origin.exists():
            continue
        target = worktree / name
        if target.is_symlink() and os.readlink(target) == str(origin.resolve()) and \
                Path(os.path.realpath(target.parent)) == (worktree.resolve() / name).parent:
            continue  # a pooled slot keeps its link
        target = _own_path(worktree, name)
        if target.is_dir():
            shutil.rmtree(target)
        target.symlink_to(origin.resolve(), target_is_directory=origin.is_dir())
        done.append(f"linked {name}")
    return done


def _own_path(worktree: Path, rel: str) -> Path:
    """`worktree/rel` made safe to write with swarm's (the user's) rights: every folder on the way is a real
    folder of the worktree, and nothing is at the path itself.

    A pooled slot keeps ignored files between uses, so an agent could have left a symlink there
    (`.env.local -> ~/.bashrc`, `config -> ~`): it is removed, never followed.
    """
    here = worktree.resolve()
    parts = Path(rel).parts
    for part in parts[:-1]:
        here = here / part
        if here.is_symlink() or (here.exists() and not here.is_dir()):
            here.unlink()
        here.mkdir(exist_ok=True)
    target = here / parts[-1]
    if target.is_symlink() or target.is_file():
        target.unlink()
    return target


def _ignored_files(root: Path) -> list[str]:
    """Ignored files of the user's checkout, as repository paths (never `.git` or `.swarm`)."""
    from swarm.git.runner import GitRunner

    out = GitRunner(root).run("ls-files", "-z", "--others", "--ignored", "--exclude-standard", check=False)
    return [p for p in out.raw.split("\0") if p and not p.startswith((".swarm/", ".git/"))]
