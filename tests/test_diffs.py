"""The one diff model (swarm.merge.diffs) on real `git diff` output: names, kinds, hunks, and patches that apply again."""

from __future__ import annotations

import os

from conftest import git
from swarm.git.index import ScratchIndex, diff_text
from swarm.git.repo import GitRepo
from swarm.merge.diffs import parse_diff, parse_patches, printable

LONG = "".join(f"line {i}\n" for i in range(1, 41))


def test_every_kind_of_file_change_is_read(make_repo):
    root = make_repo({"long.txt": LONG, "old name.py": "x = 1\n" * 10, "latin.txt": "caf\n", "run.sh": "echo\n",
                      "gone.txt": "bye\n", "pic.bin": "a"})
    repo = GitRepo(root)
    base = repo.resolve("HEAD")
    (root / "long.txt").write_text(LONG.replace("line 2\n", "line two\n").replace("line 38\n", "line 38!\n"))
    git(root, "mv", "old name.py", "new näme.py")
    (root / "new näme.py").write_text("x = 1\n" * 9 + "x = 2\n")
    (root / "latin.txt").write_bytes("café\n".encode("latin-1"))
    os.chmod(root / "run.sh", 0o755)
    (root / "gone.txt").unlink()
    (root / "pic.bin").write_bytes(bytes(range(256)))
    os.symlink("long.txt", root / "link")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "change")
    head = repo.resolve("HEAD")

    files = {f.path: f for f in parse_patches(diff_text(repo, base, head))}
    assert sorted(files) == ["gone.txt", "latin.txt", "link", "long.txt", "new näme.py", "pic.bin", "run.sh"]
    assert [h.index for h in files["long.txt"].hunks] == [1, 2]
    assert (files["long.txt"].added, files["long.txt"].removed) == (2, 2)
    renamed = files["new näme.py"]
    assert (renamed.status, renamed.old_path, renamed.added) == ("renamed", "old name.py", 1)
    assert files["gone.txt"].status == "removed" and files["link"].is_symlink and files["link"].status == "added"
    assert files["pic.bin"].binary and not files["pic.bin"].hunks
    assert files["run.sh"].kind == "mode" and files["run.sh"].new_mode == "100755"
    assert printable(files["latin.txt"].hunks[0].lines[-1]) == "+caf\ufffd\n"

    records = {r["path"]: r for r in parse_diff(diff_text(repo, base, head))}
    assert records["new näme.py"]["source_path"] == "old name.py" and records["link"]["symlink"] is True
    assert records["gone.txt"]["status"] == "removed" and records["link"]["source_path"] is None

    # A patch rebuilt from part of a file's hunks, and the binary and non-UTF-8 files whole, applies on the base.
    patch = files["long.txt"].text([2]) + files["pic.bin"].text() + files["latin.txt"].text() + renamed.text()
    with ScratchIndex(repo, base) as index:
        assert index.apply(patch) == []
        tree = index.write_tree()
    kept = git(root, "show", f"{tree}:long.txt")
    assert "line two" not in kept and "line 2\n" in kept and "line 38!" in kept
    assert git(root, "rev-parse", f"{tree}:pic.bin") == git(root, "rev-parse", f"{head}:pic.bin")
    assert git(root, "rev-parse", f"{tree}:latin.txt") == git(root, "rev-parse", f"{head}:latin.txt")
    assert git(root, "rev-parse", f"{tree}:new näme.py") == git(root, "rev-parse", f"{head}:new näme.py")
