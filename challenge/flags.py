"""Suspicious patterns for the organizers (the console's Flags page, ``challenge flags``).

Two kinds, both only hints for a human to look at:

- Copied predictions: the same file (SHA-256) from different teams of a phase, and
  nearly the same file: at least ``NEAR_SHARE`` of the lines identical between files of
  different teams (lines compared after collapsing white space, by position; a Kaggle CSV's
  rows are sorted first, since the rows may come in any order). Exact, no sampling: each
  line is hashed once (Python's hash), files with equal line counts are stacked into one numpy matrix, and
  each file is compared with every later one of another team in one vectorised step. A
  phase's near-duplicate check is skipped (and says so) above ``MAX_NEAR_FILES`` files or
  ``MAX_NEAR_CELLS`` compared lines; exact duplicates are always found.
- Account farms (the 2015 ILSVRC incident: one group used some 30 accounts to make 200
  submissions): ``MIN_FARM_TEAMS`` or more teams of a challenge whose members share an
  e-mail domain (public mail providers ignored), every one of which has used its full quota
  in at least one quota period.
"""

from __future__ import annotations

import gzip
import logging
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import Select, func, select

from challenge import storage
from challenge.challenges.service import phase_path
from challenge.extensions import db
from challenge.models import Challenge, Membership, Phase, Submission, Team, Track, User

log = logging.getLogger(__name__)

#: Share of identical lines from which two files of different teams are flagged.
NEAR_SHARE = 0.90
#: Bounds on the near-duplicate check per phase (the exact check has none).
MAX_NEAR_FILES = 1000
#: About 130 files of 50,000 lines: some 5 s of hashing and 0.5 s of comparing.
MAX_NEAR_CELLS = 400_000_000
#: Teams sharing a domain from which an account farm is flagged.
MIN_FARM_TEAMS = 3
#: Mail providers anyone can sign up with: sharing one says nothing. Also the domains
#: reserved for examples (RFC 2606), which the demo's accounts use.
PUBLIC_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.co.jp", "hotmail.com",
    "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "gmx.de",
    "gmx.net", "gmx.com", "web.de", "mail.ru", "yandex.ru", "yandex.com", "qq.com", "163.com",
    "126.com", "sina.com", "foxmail.com", "naver.com", "protonmail.com", "proton.me", "zoho.com",
    "mail.com", "fastmail.com", "tutanota.com", "example.org", "example.com", "example.net",
})


@dataclass(frozen=True)
class CopyFlag:
    """Two submissions of different teams in one phase with the same or nearly the same lines."""

    phase: Phase
    first: Submission
    second: Submission
    share: float  # of identical lines; 1.0 with identical: True for the same bytes
    identical: bool


@dataclass(frozen=True)
class FarmFlag:
    """Teams of one challenge whose members share a (non-public) e-mail domain."""

    challenge: Challenge
    domain: str
    teams: list[Team]
    members: int
    submissions: int
    full_periods: dict[int, int]  # team id -> periods in which it used its whole quota


@dataclass
class Flags:
    copies: list[CopyFlag] = field(default_factory=list)
    farms: list[FarmFlag] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # why some near-duplicate checks were not run


def line_hashes(data: bytes) -> np.ndarray:
    """One 64-bit hash per non-empty line, white space collapsed (CRLF, tabs, double spaces
    do not hide a copy); a CSV's header dropped and its rows sorted (rows may be reordered)."""
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    lines = [b" ".join(line.split()) for line in data.splitlines()]
    lines = [line for line in lines if line]
    if lines and lines[0].lower().startswith(b"imageid,"):
        lines = sorted(lines[1:])
    # Python's own hash of bytes: fast, 64-bit, and stable within the one process that
    # compares (it is salted per process, so hashes are never stored).
    return np.fromiter((hash(line) for line in lines), dtype=np.int64, count=len(lines))


def _phase_submissions(phase: Phase) -> list[Submission]:
    return list(db.session.scalars(
        select(Submission).join(Team, Team.id == Submission.team_id)
        .where(Submission.phase_id == phase.id, Team.is_reference.is_(False))
        .order_by(Submission.id)))


def _identical(phase: Phase, subs: list[Submission]) -> list[CopyFlag]:
    by_sha: dict[str, list[Submission]] = defaultdict(list)
    for s in subs:
        by_sha[s.sha256].append(s)
    out: list[CopyFlag] = []
    for group in by_sha.values():
        # One flag per pair of teams: each team's first file with this content.
        firsts: dict[int, Submission] = {}
        for s in group:
            firsts.setdefault(s.team_id, s)
        teams = list(firsts.values())
        out += [CopyFlag(phase, a, b, 1.0, True) for i, a in enumerate(teams) for b in teams[i + 1:]]
    return out


def _near(phase: Phase, subs: list[Submission], skipped: list[str]) -> list[CopyFlag]:
    # One file per content: identical files are reported by _identical already.
    distinct: dict[str, Submission] = {}
    for s in subs:
        distinct.setdefault(s.sha256, s)
    files = list(distinct.values())
    # Each file has about one line per image: estimate the work before reading anything.
    estimate = len(files) * (len(files) - 1) // 2 * phase.images
    if len(files) > MAX_NEAR_FILES or estimate > MAX_NEAR_CELLS:
        skipped.append(f"{phase_path(phase)}: {len(files)} distinct files of {phase.images:,} images "
                       f"(limits: {MAX_NEAR_FILES} files, {MAX_NEAR_CELLS:,} line comparisons); "
                       "only identical files were checked")
        return []
    by_length: dict[int, list[tuple[Submission, np.ndarray]]] = defaultdict(list)
    for s in files:
        try:
            hashes = line_hashes(storage.read(s.stored_path))
        except (FileNotFoundError, OSError, EOFError) as exc:
            log.warning("flags: cannot read submission %s: %s", s.id, exc)
            continue
        if hashes.size:
            by_length[hashes.size].append((s, hashes))
    cells = sum(len(g) * (len(g) - 1) // 2 * n for n, g in by_length.items())
    if cells > MAX_NEAR_CELLS:  # files much longer than the phase's image count
        skipped.append(f"{phase_path(phase)}: {cells:,} line comparisons (more than {MAX_NEAR_CELLS:,}); "
                       "only identical files were checked")
        return []
    out: list[CopyFlag] = []
    for n, group in by_length.items():
        matrix = np.stack([h for _, h in group])
        teams = np.array([s.team_id for s, _ in group])
        for i in range(len(group) - 1):
            shares = (matrix[i + 1:] == matrix[i]).sum(axis=1) / n
            for j in np.nonzero((shares >= NEAR_SHARE) & (teams[i + 1:] != teams[i]))[0]:
                out.append(CopyFlag(phase, group[i][0], group[i + 1 + j][0], float(shares[j]), False))
    return out


def copies(phase: Phase, skipped: list[str] | None = None) -> list[CopyFlag]:
    """Identical and nearly identical prediction files of different teams in ``phase``."""
    subs = _phase_submissions(phase)
    found = _identical(phase, subs) + _near(phase, subs, skipped if skipped is not None else [])
    return sorted(found, key=lambda f: (-f.share, f.first.id, f.second.id))


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].strip().lower()


def _full_periods(challenge: Challenge) -> dict[int, int]:
    """Per team: how many (phase, period) pairs it used up entirely."""
    rows = db.session.execute(
        select(Submission.team_id, Phase.quota_count, func.count(Submission.id))
        .join(Phase, Phase.id == Submission.phase_id).join(Track, Track.id == Phase.track_id)
        .where(Track.challenge_id == challenge.id)
        .group_by(Submission.team_id, Submission.phase_id, Submission.quota_period, Phase.quota_count))
    full: dict[int, int] = defaultdict(int)
    for team_id, limit, used in rows:
        if used >= limit:
            full[team_id] += 1
    return full


def farms(challenge: Challenge) -> list[FarmFlag]:
    """Groups of MIN_FARM_TEAMS or more teams sharing a member e-mail domain, all at their quota."""
    members: dict[str, dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))  # domain -> team -> users
    rows = db.session.execute(
        select(Team, User.id, User.email).join(Membership, Membership.team_id == Team.id)
        .join(User, User.id == Membership.user_id)
        .where(Team.challenge_id == challenge.id, Team.is_reference.is_(False)))
    teams: dict[int, Team] = {}
    for team, user_id, email in rows:
        domain = domain_of(email)
        if domain in PUBLIC_DOMAINS:
            continue
        teams[team.id] = team
        members[domain][team.id].add(user_id)
    full = _full_periods(challenge)
    counts: dict[int, int] = {}
    if teams:
        counts = {team_id: n for team_id, n in db.session.execute(
            select(Submission.team_id, func.count(Submission.id))
            .where(Submission.team_id.in_(list(teams))).group_by(Submission.team_id))}
    out: list[FarmFlag] = []
    for domain, by_team in sorted(members.items()):
        if len(by_team) < MIN_FARM_TEAMS or not all(full.get(t, 0) > 0 for t in by_team):
            continue
        ids = sorted(by_team)
        out.append(FarmFlag(
            challenge=challenge, domain=domain, teams=[teams[t] for t in ids],
            members=len(set().union(*by_team.values())),
            submissions=sum(counts.get(t, 0) for t in ids), full_periods={t: full[t] for t in ids}))
    return out


def scan(challenge: Challenge | None = None, within: Select[tuple[int]] | None = None) -> Flags:
    """Every flag, of one challenge or of all (``within``: of the challenges whose ids it selects)."""
    found = Flags()
    query = select(Challenge).order_by(Challenge.year.desc(), Challenge.slug)
    if within is not None:
        query = query.where(Challenge.id.in_(within))
    if challenge is not None:
        query = query.where(Challenge.id == challenge.id)
    for c in db.session.scalars(query):
        for track in c.tracks:
            for phase in track.phases:
                found.copies += copies(phase, found.skipped)
        found.farms += farms(c)
    return found
