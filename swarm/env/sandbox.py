"""The bubblewrap sandbox: what an agent's shell can see and change.

Inside it the system is visible read-only, so toolchains work (a virtualenv,
node, compilers), and only the worktree and the command's private TMPDIR and
HOME are writable. Hidden behind empty folders: the user's home (toolchain
folders on PATH, and the repository's git dir, are shown again read-only),
every swarm worktree other than this one, and the repository's `.swarm/`
records. The worktree's `.git` file is read-only. The shell has its own PID
namespace (no other process's `/proc/<pid>/environ`), and no network unless
the `network` setting allows it.

The mode comes from the `sandbox` setting (SWARM_SANDBOX): `auto` confines
where bubblewrap works and otherwise refuses an agent's shell, `require`
stops the run where it does not work, `off` runs everything unconfined.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from swarm.env.policy import current_policy

__all__ = ["Sandbox", "agent_shell_allowed", "bwrap_problem", "network_allowed", "sandbox_available",
           "sandbox_mode", "sandbox_note", "worktrees_base"]



def sandbox_mode() -> str:
    """The `sandbox` setting of the run in progress (swarm.env.policy): auto, require or off."""
    return current_policy().sandbox


def network_allowed() -> bool:
    """The `network` setting: whether a sandboxed shell keeps the network."""
    return current_policy().network


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot confine a shell here (None when it can), probed once with the flags swarm uses."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return "bubblewrap (bwrap) is not installed (apt-get install bubblewrap)"
    try:
        probe = subprocess.run([bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
                                "--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent",
                                "--new-session", "true"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bwrap could not be started: {e}"
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        return f"bwrap is refused here ({reason}); user namespaces may be disabled"
    return None


def sandbox_available() -> bool:
    """Whether agents' shells are confined in this process: the setting allows it and bubblewrap works."""
    return sandbox_mode() != "off" and bwrap_problem() is None


def agent_shell_allowed() -> bool:
    """An agent's bash runs only confined, or unconfined when the user chose `sandbox = off`."""
    return sandbox_mode() == "off" or bwrap_problem() is None


def sandbox_note() -> str:
    """One line saying what happens to an agent's shell in this process (the start of every run says it)."""
    if sandbox_mode() == "off":
        return "sandbox OFF (--sandbox off): the agents' bash runs unconfined, with your rights"
    problem = bwrap_problem()
    if problem:
        return (f"no sandbox: {problem}; the agents' bash is refused (the file tools work), "
                "--sandbox off runs it unconfined")
    net = "network allowed" if network_allowed() else "no network"
    return ("sandbox: bubblewrap (system read-only, writes only in the worktree, private HOME, no other "
            f"worktrees or records, own PID namespace, {net})")


def worktrees_base() -> Path:
    """The folder holding every repository's swarm worktrees (all hidden from a sandboxed shell but its own)."""
    override = current_policy().worktrees
    if override:
        return Path(override).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "swarm" / "worktrees"


def _git_dirs(worktree: Path) -> tuple[Path | None, Path | None]:
    """(admin dir, common git dir) of a linked worktree, read before any agent ran in it."""
    try:
        line = (worktree / ".git").read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None, None
    if not line.startswith("gitdir: "):
        return None, None
    admin = (worktree / line[len("gitdir: "):]).resolve()
    try:
        common = (admin / (admin / "commondir").read_text(encoding="utf-8").strip()).resolve()
    except OSError:
        common = admin.parent.parent
    return admin, common


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _venv_base(prefix: Path) -> list[Path]:
    """The base Python a virtualenv's interpreter links to (`home = ...` in its pyvenv.cfg)."""
    try:
        lines = (prefix / "pyvenv.cfg").read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        key, _, value = line.partition("=")
        if key.strip() == "home" and value.strip():
            base = Path(value.strip()).resolve()
            return [base.parent if base.name == "bin" else base]
    return []


def _toolchains(home: Path) -> list[Path]:
    """Folders under `home` a shell needs to run the tools on PATH: each PATH entry's prefix, and Python's."""
    found: list[Path] = []
    for entry in os.environ.get("PATH", "").split(os.pathsep):
        if not entry or not os.path.isabs(entry):
            continue
        path = Path(entry).resolve()
        # ~/.venv/bin -> ~/.venv (its lib/ too); but ~/bin stays ~/bin, never the whole home.
        prefix = path.parent if path.name == "bin" and path.parent != home else path
        found.append(prefix)
        found += _venv_base(prefix)
    for prefix in (sys.prefix, sys.base_prefix):
        found.append(Path(prefix).resolve())
    return [p for p in dict.fromkeys(found) if _inside(p, home) and p != home and p.exists()]


@dataclass
class Sandbox:
    """The bubblewrap layout of one worktree's shell; `argv` wraps a command in it."""

    worktree: Path
    home: Path = field(default_factory=Path.home)
    worktrees: Path = field(default_factory=worktrees_base)
    readable: list[Path] = field(default_factory=list)  # shown again read-only (e.g. linked folders)
    network: bool = field(default_factory=network_allowed)

    def __post_init__(self) -> None:
        self.worktree = self.worktree.resolve()
        self.home = self.home.resolve()
        self.worktrees = self.worktrees.resolve()
        self.admin_dir, self.common_dir = _git_dirs(self.worktree)
        self.repo_root = self.common_dir.parent if self.common_dir and self.common_dir.name == ".git" else None
        # Folders linked into the worktree (DESIGN's `link`) stay readable where their source is hidden.
        links = []
        try:
            for entry in self.worktree.iterdir():
                if entry.is_symlink() and entry.exists():
                    links.append(entry.resolve())
        except OSError:
            pass
        self.readable = [*self.readable, *links]

    def hidden(self) -> list[Path]:
        """The folders replaced by empty ones, in mount order."""
        # A HOME of / (some containers) cannot be hidden without hiding the system.
        out = [self.home] if len(self.home.parts) > 1 else []
        if not _inside(self.worktrees, self.home):
            out.append(self.worktrees)
        if self.repo_root is not None and (self.repo_root / ".swarm").is_dir():
            out.append(self.repo_root / ".swarm")
        return out

    def shown_again(self) -> list[Path]:
        """Read-only folders inside hidden ones: toolchains, the repository's git dir, linked folders."""
        hidden = self.hidden()
        wanted = [*_toolchains(self.home), *([self.common_dir] if self.common_dir else []), *self.readable]
        return [p for p in dict.fromkeys(wanted) if any(_inside(p, h) for h in hidden)
                and not _inside(p, self.worktrees) and p.exists()]

    def argv(self, shell: list[str], scratch: Path) -> list[str]:
        """bwrap's argv running `shell` in the worktree; `scratch` (TMPDIR and HOME) is writable too."""
        args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
        for folder in self.hidden():
            if folder.exists():
                args += ["--tmpfs", str(folder)]
        for folder in self.shown_again():
            args += ["--ro-bind", str(folder), str(folder)]
        wt = str(self.worktree)
        args += ["--bind", wt, wt]
        if (self.worktree / ".git").exists():
            # Git metadata is swarm's: the agent may read it (git status, git log), never change it.
            args += ["--ro-bind", wt + "/.git", wt + "/.git"]
        if self.admin_dir is not None and self.admin_dir.exists():
            args += ["--ro-bind", str(self.admin_dir), str(self.admin_dir)]
        args += ["--bind", str(scratch), str(scratch)]
        args += ["--unshare-pid", "--unshare-ipc", "--die-with-parent", "--new-session"]
        if not self.network:
            args.append("--unshare-net")
        return [*args, "--chdir", wt, *shell]

    def describe(self) -> list[str]:
        """What this sandbox does, one fact a line (for `swarm doctor`)."""
        lines = ["the system: visible read-only (toolchains on PATH work)",
                 f"writable: the worktree ({self.worktree}) and a private TMPDIR and HOME, new for every command",
                 f"hidden: {', '.join(str(p) for p in self.hidden())}"]
        shown = self.shown_again()
        if shown:
            lines.append(f"shown again read-only: {', '.join(str(p) for p in shown)}")
        lines += ["other worktrees: hidden (only this worktree is mounted from " + str(self.worktrees) + ")",
                  "git metadata: the worktree's .git and its admin folder are read-only",
                  "processes: its own PID namespace (no other process's /proc/<pid>/environ)",
                  "network: " + ("allowed (setting network = true)" if self.network else "none")]
        return lines
