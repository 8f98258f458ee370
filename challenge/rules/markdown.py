"""Organizers' Markdown (rules, announcements) rendered to HTML that is safe to show.

Organizers write it, but everyone reads it, and an organizer's account or a bundle can be
someone else's: so raw HTML in the text is escaped, never passed through (markdown-it's
``html`` option off), and a link or image may point only to http(s), mailto or a relative
address. A ``javascript:``, ``data:`` or ``vbscript:`` URL is dropped: its text stays, as
plain text. Links get ``rel="nofollow noopener noreferrer"``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markupsafe import Markup

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_CONTROL = re.compile(r"[\x00-\x20\x7f]")


def safe_link(url: str) -> bool:
    """Whether a link target may be rendered: relative, or http(s) or mailto."""
    # The parser has percent-encoded the target, and browsers ignore tabs, newlines and
    # other control characters inside a scheme ("java\tscript:"): decode, drop them, read.
    cleaned = _CONTROL.sub("", unquote(url)).lower()
    found = _SCHEME.match(cleaned)
    return found is None or found.group(1) in SAFE_SCHEMES


def _parser(top: int) -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = safe_link  # type: ignore[method-assign]

    def link_open(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
        return str(self.renderToken(tokens, idx, options, env))

    def heading(self: Any, tokens: Sequence[Token], idx: int, options: Any, env: Any) -> str:
        # The page has its own <h1> (and headings above the text): shift the text's
        # headings so its '#' becomes <h{top}>.
        token = tokens[idx]
        token.tag = f"h{min(6, int(token.tag[1]) + top - 1)}"
        return str(self.renderToken(tokens, idx, options, env))

    md.add_render_rule("link_open", link_open)
    md.add_render_rule("heading_open", heading)
    md.add_render_rule("heading_close", heading)
    return md


_PARSERS = {top: _parser(top) for top in (2, 3, 4)}


def render(text: str, *, top: int = 2) -> Markup:
    """``text`` (Markdown) as safe HTML; its top-level headings become ``<h{top}>``."""
    return Markup(_PARSERS[top].render(text or ""))
