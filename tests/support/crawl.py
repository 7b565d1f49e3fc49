"""Crawling the site's pages and reading what a person sees on them, for the language checks."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from html.parser import HTMLParser
from urllib.parse import urldefrag, urlsplit

from flask.testing import FlaskClient

# What a page shows that is not the page's own text: code, sources, data marked translate="no".
SKIPPED = frozenset({"script", "style", "pre", "code", "textarea", "svg", "option", "iframe", "kbd", "samp"})
VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
                  "track", "wbr"})
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt")
WORD = re.compile(r"[A-Za-z][A-Za-z']{2,}")
# Latin words a Chinese page may show as they are: the product, language names, acronyms, units.
KEPT = frozenset({"Mailroom", "English", "UTC", "HTML", "CSRF", "SMTP", "JSON", "Markdown", "URL", "ID",
                  "MB", "KB", "GMT"})


class PageText(HTMLParser):
    """The visible text segments of a page and its same-site links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segments: list[str] = []
        self.links: list[str] = []
        self.stack: list[tuple[str, bool]] = []

    def _skipping(self) -> bool:
        """Whether the current element is inside code, a source, or data marked translate="no"."""
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note links, shown attributes and whether this element's text is the page's own."""
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        skip = tag in SKIPPED or values.get("translate") == "no"
        if not (skip or self._skipping()):
            self.segments += [str(values[name]) for name in SHOWN_ATTRIBUTES if values.get(name)]
            if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
                self.segments.append(str(values["value"]))
        if tag not in VOID:
            self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        """Close the innermost open element of this name."""
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        """Keep text that is shown and not code or data."""
        text = " ".join(data.split())
        if text and not self._skipping():
            self.segments.append(text)


def read(page: str) -> PageText:
    """The segments and links of a page."""
    parser = PageText()
    parser.feed(page)
    parser.close()
    return parser


def english_sentences(page: str, data: Iterable[str]) -> set[str]:
    """Segments with an English word, leaving out the data the test put in (names, subjects)."""
    known = sorted(set(data), key=len, reverse=True)
    found = set()
    for segment in read(page).segments:
        bare = segment
        for value in known:
            bare = bare.replace(value, " ")
        if any(word not in KEPT for word in WORD.findall(bare)):
            found.add(segment)
    return found


def local_links(page: str, base: str) -> list[str]:
    """Same-site paths linked from a page, without fragments."""
    paths = []
    for href in read(page).links:
        target, _ = urldefrag(href)
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        paths.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return paths


def crawl(client: FlaskClient, seeds: Iterable[str], skip: Callable[[str], bool],
          limit: int = 60) -> dict[str, str]:
    """Every HTML page reachable from ``seeds`` by links, as this client sees them (path → page)."""
    pages: dict[str, str] = {}
    seen: set[str] = set()
    queue = list(seeds)
    while queue and len(pages) < limit:
        path = queue.pop(0)
        # One visit per page: the same page with other query values (?hours=6) shows the same words.
        page_key = urlsplit(path).path
        if page_key in seen or skip(path):
            continue
        seen.add(page_key)
        response = client.get(path)
        if response.status_code in {301, 302, 303, 307, 308}:
            queue.append(urlsplit(response.location).path)
            continue
        if not response.content_type.startswith("text/html"):
            continue
        pages[path] = response.get_data(as_text=True)
        queue += [link for link in local_links(pages[path], path) if link not in pages]
    return pages
