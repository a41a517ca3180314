"""Relative links in Markdown and HTML pages that point at files the merged tree does not have.

Pages looked at: those a subtask added or changed, and pages that mention a
file some subtask removed or renamed (one `git grep` for the names). Links
with a scheme (http:, mailto:), protocol-relative or site-absolute links,
and pure #anchors are not judged; #fragment and ?query are dropped. A link
already broken in the base version of the page is not reported.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import unquote

from swarm.checks.context import CheckContext, Tree
from swarm.checks.model import Finding

KIND = "link"
PAGES = (".md", ".markdown", ".html", ".htm")
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_CODE = re.compile(r"`[^`\n]*`")
_INLINE = re.compile(r"!?\[[^\]\n]*\]\(\s*(?:<([^>\n]+)>|([^)\s]+))(?:\s+[\"'(][^)]*)?\)")
_REFDEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


class _Attrs(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value:
                self.urls.append((value, self.getpos()[0]))


def _blank(match: re.Match[str]) -> str:
    """Code blanked out with its line breaks kept, so the links after it keep their line numbers."""
    return re.sub(r"[^\n]", " ", match.group(0))


def located_links(text: str, path: str) -> list[tuple[str, int]]:
    """Every link target written in a page with the line it is on (Markdown links and reference
    definitions, HTML href/src); code spans and fenced blocks are not read."""
    found: list[tuple[str, int]] = []
    if path.endswith((".md", ".markdown")):
        prose = _CODE.sub(_blank, _FENCE.sub(_blank, text))

        def line(at: int) -> int:
            return prose.count("\n", 0, at) + 1
        found += [(m.group(1) or m.group(2), line(m.start())) for m in _INLINE.finditer(prose)]
        found += [(m.group(1), line(m.start(1))) for m in _REFDEF.finditer(prose)]
        text = prose
    parser = _Attrs()
    try:
        parser.feed(text)
        parser.close()
    except Exception:  # HTMLParser gives up on some broken markup; the Markdown links still count
        pass
    return found + parser.urls


def links(text: str, path: str) -> list[str]:
    """Every link target written in a page (Markdown links and reference definitions, HTML href/src)."""
    return [url for url, _ in located_links(text, path)]


def target(page: str, url: str) -> str | None:
    """The repository path a relative link points at, or None when the link is not a relative file link."""
    url = url.strip()
    if not url or url.startswith(("#", "/", "{", "$", "<")) or _SCHEME.match(url) or "{{" in url:
        return None
    url = unquote(url.split("#", 1)[0].split("?", 1)[0])
    if not url:
        return None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), url))
    return None if resolved.startswith("../") or resolved == ".." else resolved


def _broken(ctx: CheckContext, commit: str, page: str) -> Counter[str]:
    text = ctx.text(commit, page)
    if text is None:
        return Counter()
    tree = ctx.tree(commit)
    out: Counter[str] = Counter()
    for url in links(text, page):
        path = target(page, url)
        if path is not None and path != "." and not _exists(tree, path):
            out[path] += 1
    return out


def _exists(tree: Tree, path: str) -> bool:
    """A file or folder, or a page written without its extension (as static site generators link)."""
    return tree.exists(path) or (posixpath.splitext(path)[1] == "" and
                                 any(path + ext in tree.files for ext in PAGES))


def _uses(ctx: CheckContext, commit: str, page: str, path: str) -> int:
    text = ctx.text(commit, page)
    return 0 if text is None else sum(1 for url in links(text, page) if target(page, url) == path)


def _lines(ctx: CheckContext, page: str, path: str) -> list[int]:
    """The lines of the merged `page` that link to `path`."""
    text = ctx.text(ctx.merged, page) or ""
    return sorted({line for url, line in located_links(text, page) if target(page, url) == path})


def check(ctx: CheckContext) -> list[Finding]:
    """One finding per missing target (one cause), listing every page and line that links to it."""
    merged_tree = ctx.tree(ctx.merged)
    pages = {p: old for p, old in ctx.merged_paths().items() if p.lower().endswith(PAGES)}
    gone = {p for c in ctx.changes for p in c.paths() if not merged_tree.exists(p)}
    if gone:
        names = {posixpath.basename(p) for p in gone}
        for page in ctx.grep(ctx.merged, names, ["*.md", "*.markdown", "*.html", "*.htm"], whole_words=False):
            pages.setdefault(page, page)
    added = {f["path"]: c.id for c in ctx.changes for f in c.changed if f["status"] in ("added", "renamed")}
    by_target: dict[str, list[str]] = {}
    for page, old in sorted(pages.items()):
        now = _broken(ctx, ctx.merged, page)
        if not now:
            continue
        before = _broken(ctx, ctx.base, old)
        for path, n in sorted(now.items()):
            if n > before[path]:
                by_target.setdefault(path, []).append(page)
    return [_finding(ctx, path, linking, added) for path, linking in sorted(by_target.items())]


def _finding(ctx: CheckContext, path: str, pages: list[str], added: dict[str, str]) -> Finding:
    """The finding for one missing target: who removed or renamed it, who added the links, and where they are."""
    adders = ctx.sort_ids(sid for page in pages for sid in ctx.touchers(page)
                          if _uses(ctx, ctx.change(sid).commit, page, path)
                          > _uses(ctx, ctx.change(sid).start_commit, ctx.change(sid).source_of(page), path))
    removers = [c.id for c in ctx.changes if c.status(path) == "removed"]
    moved = [f["path"] for c in ctx.changes for f in c.changed if f["status"] == "renamed" and f["source_path"] == path]
    near = moved[:1] or difflib.get_close_matches(path, [p for p in added if p not in pages], n=1, cutoff=0.6)
    guess = [added[near[0]]] if near else []
    touchers = ctx.sort_ids(sid for page in pages for sid in ctx.touchers(page))
    involved = ctx.sort_ids(adders + removers + guess) or touchers or [c.id for c in ctx.changes]
    places = [f"{page}:{line}" for page in pages for line in (_lines(ctx, page, path) or [0])]
    places = [p.removesuffix(":0") for p in places]
    shown = ", ".join(places[:12]) + (f" and {len(places) - 12} more" if len(places) > 12 else "")
    parts = [f"{path} is not in the merged tree and {len(places)} link(s) still point at it: {shown}"]
    if removers:
        what = f"renamed it to {moved[0]}" if moved else "removed or renamed it"
        parts.append(f"{', '.join(removers)} {what}")
    if adders:
        parts.append(f"the links were added by {', '.join(adders)}")
    if near and not (moved and removers):
        parts.append(f"did you mean {near[0]} (added by {added[near[0]]})?")
    elif near:
        parts.append(f"point them at {near[0]}")
    return Finding(KIND, involved, [*pages, path], "; ".join(parts),
                   extra={"target": path, "places": places, "removed_by": removers, "linked_by": adders})
