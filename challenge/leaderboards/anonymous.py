"""Whole track pages as rendered for visitors who are not logged in, kept per process.

Most readers of a public board are anonymous, and for them a track page is a function of
its URL and its ETag: the ETag (``pages.etag``) names the board version, the page, the
sort, the phase's status and countdowns, the notes above the board and a digest of the
challenge, track and phase rows, which is everything the page shows an anonymous
visitor (no form, no CSRF token, no name in the menu). A repeat request with the same
URL and ETag is answered with the bytes rendered the first time, saving the template
(about a third of a warm request in-process). Nothing is ever served under another ETag, so an
edit, a new score or a closing phase renders afresh.

Bounded in bytes (``MAX_BYTES`` per process, least recently used out first), and a page
larger than a tenth of that is not kept.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

#: Bytes of rendered pages a process keeps (a board page is 40-50 KB: some 300 pages).
MAX_BYTES = 16 * 1024 * 1024

_pages: OrderedDict[tuple[str, str], bytes] = OrderedDict()
_size = 0
_lock = threading.Lock()  # gunicorn's threads share the process


def get(path: str, etag: str) -> bytes | None:
    """The page rendered for ``path`` under ``etag``, if this process has it."""
    with _lock:
        body = _pages.get((path, etag))
        if body is not None:
            _pages.move_to_end((path, etag))
        return body


def put(path: str, etag: str, body: bytes) -> None:
    """Keep ``body`` as the page of ``path`` under ``etag``, dropping the least recently
    used pages beyond MAX_BYTES."""
    global _size
    if len(body) > MAX_BYTES // 10:
        return
    with _lock:
        old = _pages.pop((path, etag), None)
        _size -= len(old) if old is not None else 0
        _pages[(path, etag)] = body
        _size += len(body)
        while _size > MAX_BYTES:
            _, dropped = _pages.popitem(last=False)
            _size -= len(dropped)


def clear() -> None:
    global _size
    with _lock:
        _pages.clear()
        _size = 0
