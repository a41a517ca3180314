"""Make README's review screenshots: docs/images/review-terminal.png and docs/images/review-html.png.

    .venv/bin/python scripts/screenshots.py        (needs chromium: apt-get install -y chromium)

Runs `swarm demo` (offline, scripted model) in a temporary folder, reviews
the run with `--drop docs`, renders the terminal review to SVG with rich's
recording console and the HTML report with `swarm review --html`, and has
headless Chromium take both screenshots.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
CHROMIUM = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def swarm(repo: Path, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "swarm", *args], cwd=repo, check=True, capture_output=True, text=True)


def shoot(browser: str, page: Path, out: Path, size: str, profile: Path) -> None:
    subprocess.run([browser, *CHROMIUM, f"--user-data-dir={profile}", f"--screenshot={out}", f"--window-size={size}",
                    page.as_uri()], check=True, capture_output=True, timeout=120)
    print(f"wrote {out.relative_to(ROOT)}")


def main() -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium is not installed: apt-get install -y chromium")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="swarm-shots-") as tmp:
        work = Path(tmp)
        os.environ["XDG_CACHE_HOME"] = str(work / "cache")
        for name in [n for n in os.environ if n.startswith("ANTHROPIC_")]:
            del os.environ[name]  # the scripted model, so the pictures do not depend on a live one
        demo = work / "demo"
        swarm(work, "demo", "--dir", str(demo))
        swarm(demo, "review", "--drop", "docs")
        swarm(demo, "review", "--html", str(work / "review.html"))

        from swarm.git.repo import GitRepo
        from swarm.review.rebuild import load_reviewed
        from swarm.run.records import RunRecords, resolve_run
        from swarm.review.selection import Selection, load_review
        from swarm.ui.terminal import render_review

        repo = GitRepo.discover(demo)
        records = RunRecords(repo.root, resolve_run(repo.root, None))
        reviewed = load_reviewed(repo, records)
        console = Console(record=True, width=112, force_terminal=True, color_system="truecolor",
                          file=open(os.devnull, "w"))
        console.print("[bold green]$[/bold green] swarm review")
        console.print(render_review(load_review(repo, records), selection=Selection.from_dict(reviewed or {}),
                                    reviewed=reviewed))
        svg = work / "review.svg"
        console.save_svg(str(svg), title="swarm review")
        # The SVG scales to its box: show it at its own width, and let the window keep the top of it.
        frame = work / "terminal.html"
        frame.write_text('<html><body style="margin:0;background:#fff"><img src="review.svg" style="width:1160px">'
                         "</body></html>")
        profile = work / "chromium"
        shoot(browser, frame, IMAGES / "review-terminal.png", "1160,820", profile)
        shoot(browser, work / "review.html", IMAGES / "review-html.png", "1280,1560", profile)
        swarm(demo, "clean", "--all", "--force")


if __name__ == "__main__":
    main()
