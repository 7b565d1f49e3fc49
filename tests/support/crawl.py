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
# Attributes a person reads, and the data attributes whose words the page's scripts write later
# (countdowns, live progress, table cell labels on phones); the others hold ids, states and numbers.
SHOWN_ATTRIBUTES = ("title", "aria-label", "placeholder", "alt", "label")
SCRIPT_TEXT = re.compile(r"^data-(?!bs-)[a-z-]*(text|label|wait|every|updated|failed|following|retrying|done|"
                         r"checking|unexpected|unreachable|answer|requested|messages)$")
WORD = re.compile(r"[A-Za-z][A-Za-z']{2,}")
# Latin words a Chinese page may show as they are: the product, language names, acronyms, units.
KEPT = frozenset({"Mailroom", "English", "UTC", "HTML", "CSRF", "SMTP", "JSON", "Markdown", "URL", "ID",
                  "MB", "KB", "GMT"})


# A Chinese page may show these Latin words as they are, and nothing else outside data: proper names
# (the product; Gmail, whose clipping limit the dev mailbox measures against), the formats named by
# their own names (Markdown, HTML), the short names of time zones (UTC, GMT+8) and unit symbols
# (KB, MB, px), which Chinese writes the same way.
LATIN_ALLOWED = frozenset({"Mailroom", "Gmail", "Markdown", "HTML", "UTC", "GMT", "KB", "MB", "px"})
LATIN_RUN = re.compile(r"[A-Za-z]+")
# Addresses, links and host names are data, written as they are in every language; {wait} is filled in.
NOT_WORDS = re.compile(r"\{\w+\}|"
                       r"\S+@\S+|https?://\S+|\b[\w.-]+\.(?:com|org|net|test|example|cn|tw|invalid)\b")


def latin_left(segments: Iterable[str], data: Iterable[str]) -> set[str]:
    """Segments that still hold an ASCII letter run once data (names, addresses, codes) and the
    few allowed words are taken out: on a Chinese page, each is English left untranslated."""
    known = sorted(set(data), key=len, reverse=True)
    found = set()
    for segment in segments:
        bare = NOT_WORDS.sub(" ", segment)
        for value in known:
            bare = bare.replace(value, " ")
        if any(run not in LATIN_ALLOWED for run in LATIN_RUN.findall(bare)):
            found.add(segment)
    return found


def duplicate_ids(page: str) -> set[str]:
    """The element ids a page uses more than once (each must name one element)."""
    seen: set[str] = set()
    twice = set()
    for found in read_ids(page):
        (twice if found in seen else seen).add(found)
    return twice


def read_ids(page: str) -> list[str]:
    """Every id attribute of a page's elements, in order (scripts and templates included)."""
    parser = PageText()
    parser.feed(page)
    parser.close()
    return parser.ids


class PageText(HTMLParser):
    """The visible text segments of a page and its same-site links."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.segments: list[str] = []
        self.links: list[str] = []
        self.stack: list[tuple[str, bool]] = []
        self.ids: list[str] = []

    def _skipping(self) -> bool:
        """Whether the current element is inside code, a source, or data marked translate="no"."""
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Note links, shown attributes and whether this element's text is the page's own."""
        values = dict(attrs)
        if values.get("id") and not any(name == "template" for name, _ in self.stack):
            self.ids.append(str(values["id"]))
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        # Text tagged with another language (the menu's "English") is in that language on purpose.
        other_language = bool(values.get("lang")) and not str(values.get("lang")).startswith("zh")
        skip = tag in SKIPPED or values.get("translate") == "no" or (tag != "html" and other_language)
        if not (skip or self._skipping()):
            self.segments += [str(value) for name, value in attrs
                              if value and (name in SHOWN_ATTRIBUTES or SCRIPT_TEXT.match(name))]
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
