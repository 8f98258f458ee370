"""Pages of a board: 100 entries each, cached per (phase, board, ranking, sort, page,
version) and validated by an ETag.

A page is rendered once per board version from the stored rows (``service.snapshot``)
and kept in Redis with the ids of the teams on it; the viewer's own team is found
separately (``team_entry``) and pinned beside the page by the view, so nothing cached
depends on who is looking. The ETag names everything a response depends on (the board
version included), so a client's ``If-None-Match`` is answered with 304 before any
page is read.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis
from sqlalchemy import inspect as sa_inspect

from challenge.leaderboards import cache
from challenge.leaderboards.service import (
    Board,
    Entry,
    Snapshot,
    board_rows,
    check_sort,
    entries_of,
    sort_value,
)
from challenge.models import Phase, Track, User

#: Entries on a page of the HTML and JSON boards (downloads are complete).
PAGE_SIZE = 100


def page_count(total: int) -> int:
    """Pages of a board of ``total`` entries (an empty board has one, empty, page)."""
    return max(1, -(-total // PAGE_SIZE))


def parse_page(value: str | None) -> int:
    """``?page=`` as a page number (default 1); ValueError saying why for anything but a
    positive whole number."""
    if value is None or value == "":
        return 1
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"page must be a whole number from 1, got {value!r}")
    return int(value)


def check_page(number: int, total: int) -> None:
    """Raise LookupError naming the last page unless the board of ``total`` entries has page ``number``."""
    if number > page_count(total):
        raise LookupError(f"no page {number}: this board has {page_count(total)} "
                          f"page{'s' if page_count(total) != 1 else ''} of {PAGE_SIZE} entries")


_ROW_SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    # The order the board was ranked in (reference entries sit by their error, unranked).
    "rank": lambda r: 0,
    "error": sort_value,  # best first, in the task's direction
    "top1": lambda r: r["error_at_k"][0] if r["error_at_k"] else float("inf"),
    "cls_error": lambda r: r["cls_error"] if r["cls_error"] is not None else float("inf"),
    "won": lambda r: -(r.get("won") or 0),  # most categories first
    "team": lambda r: r["team"].casefold(),
    "submitted": lambda r: r["_t"],
    # ReaL error (leaderboards.real); entries scored before the phase had ReaL labels last.
    "real_top1": lambda r: _real_at(r, 1),
    "real_top5": lambda r: _real_at(r, 5),
}


def _real_at(row: dict[str, Any], k: int) -> float:
    at_k = row.get("real_error_at_k")
    value = at_k[k - 1] if at_k and len(at_k) >= k else None
    return float("inf") if value is None else value


def page_rows(phase: Phase, board: Board, snap: Snapshot, sort: str, number: int) -> list[dict[str, Any]]:
    """The rows of page ``number`` of the board in ``sort`` order: in rank order one stored
    chunk; other orders sort the whole board (then cached as rendered pages)."""
    check_sort(sort)
    first = (number - 1) * PAGE_SIZE
    if sort == "rank":
        return board_rows(phase, board, snap, first, PAGE_SIZE)
    rows = sorted(board_rows(phase, board, snap), key=_ROW_SORTS[sort])
    return rows[first:first + PAGE_SIZE]


@dataclass(frozen=True)
class Page:
    """A rendered page of a board: its text, the board version and size, and the teams on it."""

    text: str
    snapshot: Snapshot
    number: int
    teams: frozenset[int]

    @property
    def pages(self) -> int:
        return page_count(self.snapshot.total)


def page_name(kind: str, sort: str, number: int) -> str:
    """A rendered page's name in the cache (``service.snapshot`` can read it with the version)."""
    return f"{kind}:{sort}:p{number}"


def page(phase: Phase, board: Board, snap: Snapshot, kind: str, sort: str, number: int,
         render: Callable[[list[Entry]], str]) -> Page:
    """Page ``number`` of the board version ``snap`` as ``render`` makes it (``kind`` names
    the renderer: "html", "json"), cached per (phase, board, ranking, sort, page, version).

    Only for viewers who may see the board (``viewer_board``): the page holds every
    team's scores on it, and nothing that depends on the viewer.
    """
    check_sort(sort)
    check_page(number, snap.total)
    name = page_name(kind, sort, number)
    key = cache.page_key(phase.id, board.variant(phase), name, snap.version)
    cached = snap.page[1] if snap.page is not None and snap.page[0] == name else cache.get_page(key)
    if cached is not None:
        ids, _, text = cached.partition("\n")
        return Page(text, snap, number, frozenset(int(i) for i in ids.split(",") if i))
    entries = entries_of(page_rows(phase, board, snap, sort, number))
    text = render(entries)
    teams = frozenset(e.team_id for e in entries)
    cache.put_page(key, ",".join(map(str, sorted(teams))) + "\n" + text)
    return Page(text, snap, number, teams)


def team_entry(phase: Phase, board: Board, snap: Snapshot, team_id: int) -> tuple[int, Entry] | None:
    """Team ``team_id``'s entry on the board version ``snap`` and its position (0-based, rank
    order), for pinning it beside a page it is not on; None if it has none."""
    order = None
    if snap.rows is None:
        try:
            order = cache.load_order(phase.id, board.variant(phase), snap.version)
        except redis.RedisError:
            order = None
    if order is None:
        order = [r["team_id"] for r in board_rows(phase, board, snap)]
    try:
        position = order.index(team_id)
    except ValueError:
        return None
    rows = board_rows(phase, board, snap, position, 1)
    return (position, Entry.from_json(rows[0])) if rows else None


def etag(phase: Phase, board: Board, snap: Snapshot, parts: Iterable[Any]) -> str:
    """A weak ETag for a response built from board version ``snap`` and ``parts`` (the page,
    the sort, the viewer's team: whatever else the response shows). The rows around the
    board are in it too (``content_stamp``): an organizer's edit of a title or a closing
    time bumps no board version, and must not be answered with 304."""
    # The fingerprint too: after Redis lost the versions, they count again from 0 and a
    # version number alone could name an older board.
    spec = "|".join(map(str, (phase.id, board.variant(phase), snap.version, snap.fingerprint,
                              content_stamp(phase.track), *parts)))
    return hashlib.sha1(spec.encode()).hexdigest()[:24]


#: Columns a board's page never shows and that are large (an explicit public image list)
#: or secret (the split's key): left out of the stamp. A change to either rescores the
#: phase, which bumps the board version anyway.
_UNSHOWN = frozenset({"public_images", "split_secret"})


@functools.cache
def _shown_columns(model: type) -> tuple[str, ...]:
    return tuple(c.key for c in sa_inspect(model).column_attrs if c.key not in _UNSHOWN)


def content_stamp(track: Track) -> str:
    """A digest of what the challenge, the track and its phases say (every column but
    ``_UNSHOWN``), from the rows already loaded with the track (``find_track``)."""
    rows = (track.challenge, track, *track.phases)
    values = [tuple(getattr(row, key) for key in _shown_columns(type(row))) for row in rows]
    values.append(tuple(p.public_images is None for p in track.phases))
    return hashlib.sha1(repr(values).encode()).hexdigest()[:16]


def viewer_team(viewer: User | None, challenge_id: int) -> int | None:
    """The viewer's team in this challenge (its entry is pinned), if any."""
    if viewer is None:
        return None
    return next((m.team_id for m in viewer.memberships if m.challenge_id == challenge_id), None)


@dataclass(frozen=True)
class Pinned:
    """The viewer's team's entry when it is not on the page shown: where it sits and which page."""

    entry: Entry
    where: str  # "above" or "below" the page
    page: int  # its page in rank order


def pinned(phase: Phase, board: Board, shown: Page, sort: str, team_id: int | None) -> Pinned | None:
    """The viewer's team's entry to pin beside ``shown``; None if it is on it or has none."""
    if team_id is None or team_id in shown.teams:
        return None
    found = team_entry(phase, board, shown.snapshot, team_id)
    if found is None:
        return None
    position, entry = found
    first = (shown.number - 1) * PAGE_SIZE
    # In another sort order the page's place in the ranking is not a range: shown above.
    where = "below" if sort == "rank" and position >= first + PAGE_SIZE else "above"
    return Pinned(entry, where, position // PAGE_SIZE + 1)


def download(phase: Phase, board: Board, snap: Snapshot, kind: str,
             render: Callable[[list[Entry]], str]) -> str:
    """The whole board version ``snap`` as ``render`` makes it (a CSV or JSON download:
    never paginated), cached like a page."""
    key = cache.page_key(phase.id, board.variant(phase), f"{kind}:all", snap.version)
    cached = cache.get_page(key)
    if cached is not None:
        return cached
    text = render(entries_of(board_rows(phase, board, snap)))
    cache.put_page(key, text)
    return text
