"""Article bodies: Markdown rendered to HTML on the server, safely.

``markdown-it-py`` in CommonMark mode with raw HTML *disabled* (an author's
``<script>`` or ``<img onerror>`` comes out as text), and links and images
limited to an allow-list of schemes (http, https, mailto, and relative
links): ``javascript:``, ``data:``, ``vbscript:``, ``file:`` come out as
plain text. The desk inserts the result as HTML under a CSP without inline
script; nothing an author writes can add an attribute or a tag of its own.
"""
from __future__ import annotations

import re

from markdown_it import MarkdownIt

ALLOWED_SCHEMES = ("http", "https", "mailto")
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")


def link_allowed(url: str) -> bool:
    """True for relative links and the allowed schemes (whitespace and control characters ignored)."""
    squeezed = _INVISIBLE.sub("", url or "")
    found = _SCHEME.match(squeezed)
    if found is None:
        # No scheme: relative ("/kb/2", "#part", "page?x=1"); a colon before any
        # '/', '?' or '#' would be a scheme the regex refused: reject that too.
        head = re.split(r"[/?#]", squeezed, maxsplit=1)[0]
        return ":" not in head
    return found.group(1).lower() in ALLOWED_SCHEMES


_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_md.validateLink = link_allowed
_md.enable("table")
_md.enable("strikethrough")


def to_html(markdown: str) -> str:
    return _md.render(markdown or "")
