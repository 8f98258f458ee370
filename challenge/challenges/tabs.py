"""The year page's tabs (Overview, Data, Rules, Leaderboard, My submissions): which a viewer
gets, and what each shows beyond the challenge itself.

Each tab is its own server-rendered URL (``/c/<slug>?tab=data``); the Overview is the
bare ``/c/<slug>``. "My submissions" belongs to the members of a team in the challenge:
others neither see the tab nor can open it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from challenge.challenges.service import select_phase
from challenge.leaderboards import service as boards
from challenge.leaderboards.service import Entry
from challenge.leaderboards.visibility import explain
from challenge.models import Challenge, Phase, Team, Track, User
from challenge.submissions import service as submissions
from challenge.teams.service import closed_since, team_for

#: (key, label) in page order; ``?tab=`` takes the keys.
TABS = (("overview", "Overview"), ("data", "Data"), ("rules", "Rules"),
        ("leaderboard", "Leaderboard"), ("submissions", "My submissions"))
MEMBERS_ONLY = frozenset({"submissions"})

#: The Leaderboard tab shows this many entries of each track's board; the track page has the rest.
SUMMARY_ROWS = 5


def viewer_team(challenge: Challenge, viewer: User | None) -> Team | None:
    return team_for(viewer.id, challenge.id) if viewer is not None else None


def tabs_for(team: Team | None) -> list[tuple[str, str]]:
    """The tabs a viewer gets: every tab, less the members' ones for a viewer on no team."""
    return [(key, label) for key, label in TABS if team is not None or key not in MEMBERS_ONLY]


def pick_tab(requested: str | None, team: Team | None) -> str:
    """The tab ``?tab=`` names (overview when absent). Raises LookupError for a tab that does
    not exist or that this viewer may not open (the view answers 404 either way)."""
    tab = requested or "overview"
    if tab not in {key for key, _label in tabs_for(team)}:
        raise LookupError(f"this page has no tab {tab[:40]!r}")
    return tab


@dataclass(frozen=True)
class YearState:
    """For the page's first lines: a closed year says so (and offers no team)."""

    closed_at: datetime | None  # when the last phase closed (None: something is open or to come)


def year_state(challenge: Challenge, now: datetime | None = None) -> YearState:
    return YearState(closed_at=closed_since(challenge, now))


@dataclass(frozen=True)
class TrackBoard:
    """One track's entry on the Leaderboard tab: the top of the board the track page shows
    by default (the open phase, else the last to close), or why it is not shown."""

    track: Track
    phase: Phase | None
    entries: list[Entry]
    total: int
    reason: str  # '' when the board is shown


def board_summaries(challenge: Challenge, viewer: User | None) -> list[TrackBoard]:
    found = []
    for track in challenge.tracks:
        phase = select_phase(track, None)
        if phase is None:
            found.append(TrackBoard(track, None, [], 0, "This track has no phase yet."))
            continue
        board = boards.viewer_board(phase, viewer)
        if board is None:
            found.append(TrackBoard(track, phase, [], 0, explain(phase, viewer)))
            continue
        snap = boards.snapshot(phase, board)
        rows = boards.board_rows(phase, board, snap, 0, SUMMARY_ROWS)
        found.append(TrackBoard(track, phase, boards.entries_of(rows), snap.total, ""))
    return found


#: The My submissions tab lists this many of the team's newest; /teams/<id>/submissions has all.
RECENT = 50


def team_page(team: Team) -> submissions.SubmissionPage:
    return submissions.team_submissions(team, limit=RECENT)
