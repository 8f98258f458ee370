"""(a)/(b) 100 concurrent API uploads against the quota, on real processes.

Five teams of two members; each member sends 5 uploads to each of the two tracks
(classification and localization) of a 5/day phase, all 100 at once. Each team thus
sends 10 uploads per track: exactly 5 must be accepted per team and track (50 in all),
the other 50 refused as quota refusals (429), none with a 5xx. Every accepted upload
must end 'scored', scored once (one job execution, one Score row), while every team
polls the API every 50 ms during the jobs. On the embedded defaults this is SQLite +
the embedded Redis + 1 worker; on PostgreSQL it is its own database + its own
redis-server + 2 workers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from reliability_harness import (
    SETUP,
    Poller,
    make_teams,
    percentile,
    print_figures,
    submission_states,
    tiny_bundle,
    wait_for,
)

from tests.conftest import perfect_predictions

pytestmark = pytest.mark.slow
SLUG = "rel2012"
TEAMS, MEMBERS, PER_MEMBER_PER_TRACK, QUOTA = 5, 2, 5, 5
TRACKS = ("cls", "loc")
TASK = {"cls": "classification", "loc": "localization"}


def test_100_concurrent_uploads_respect_the_quota_and_all_get_scored(make_stack, tmp_path: Path) -> None:
    stack = make_stack()
    stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota=f"{QUOTA}/day")))
    teams = make_teams(stack, SLUG, TEAMS, MEMBERS)
    web_pids = stack.web_worker_pids()

    pollers = [Poller(stack, team.members[0].token,
                      [f"/api/v1/submissions?challenge={SLUG}",
                       f"/api/v1/challenges/{SLUG}/tracks/cls/quota"], interval=0.05)
               for team in teams]
    for poller in pollers:
        poller.start()

    plan = [(team, member, track) for team in teams for member in team.members for track in TRACKS
            for _ in range(PER_MEMBER_PER_TRACK)]
    assert len(plan) == 100
    results: list[tuple[int, str, int, dict, float]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(plan))

    def upload(team, member, track) -> None:
        barrier.wait()
        started = time.monotonic()
        try:
            status, _, body = stack.upload(member.token, SLUG, track, perfect_predictions(TASK[track]))
        except OSError as exc:  # no answer at all (timeout, reset): recorded as status 0
            status, body = 0, repr(exc).encode()
        elapsed = time.monotonic() - started
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"raw": body[:300].decode(errors="replace")}
        with lock:
            results.append((team.id, track, status, payload, elapsed))

    threads = [threading.Thread(target=upload, args=item) for item in plan]
    fired = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    upload_wall = time.monotonic() - fired
    assert len(results) == 100, "some upload threads never finished"

    statuses = Counter(r[2] for r in results)
    accepted = [r for r in results if r[2] == 202]
    refused = [r for r in results if r[2] != 202]
    per_team_track = Counter((r[0], r[1]) for r in accepted)
    accepted_ids = [r[3]["id"] for r in accepted]

    # Scoring, with the pollers still polling.
    def all_done() -> bool:
        states = submission_states(stack, accepted_ids)
        return all(s.status in ("scored", "failed") for s in states.values())

    scored_in = wait_for(all_done, timeout=150, interval=0.5)
    for poller in pollers:
        poller.stop()
    states = submission_states(stack)
    poll_statuses = Counter()
    for poller in pollers:
        poll_statuses.update(poller.statuses)
    poll_errors = [e for p in pollers for e in p.errors]

    latencies = [r[4] for r in results]
    finished = [s for s in states.values() if s.finished_at is not None]
    print_figures("(a/b) 100 concurrent uploads, 5 teams x 2 members, 2 tracks, quota 5/day", {
        "workers": stack.n_workers,
        "answers": dict(sorted(statuses.items())),
        "accepted per (team, track)": sorted(set(per_team_track.values())),
        "upload latency p50 / p99 / max": f"{percentile(latencies, 50):.2f} / "
                                          f"{percentile(latencies, 99):.2f} / {max(latencies):.2f} s",
        "all 100 answered in": f"{upload_wall:.1f} s",
        "all accepted scored": (f"{scored_in:.1f} s after the last answer" if scored_in is not None
                                else "NOT within 150 s"),
        "scoring status": dict(Counter(s.status for s in states.values())),
        "polls (status: count)": dict(sorted(poll_statuses.items())),
        "poll errors": len(poll_errors),
        "finished": len(finished),
    })

    assert not [r for r in results if r[2] >= 500 or r[2] == 0], (
        f"5xx or no answer: {[r for r in results if r[2] >= 500 or r[2] == 0][:3]}")
    assert scored_in is not None, "the accepted uploads were not all scored within 150 s"
    assert statuses == {202: 50, 429: 50}, f"answers were {dict(statuses)}; refusals: {refused[:3]}"
    assert all("quota" in r[3].get("error", "") for r in refused), refused[:3]
    assert all(r[3].get("retry_after") for r in refused), "a daily quota refusal says when to retry"
    assert sorted(per_team_track.values()) == [QUOTA] * (TEAMS * len(TRACKS))
    assert len(states) == 50, "refused uploads must leave no row"
    assert sorted(s.status for s in states.values()) == ["scored"] * 50
    assert [s.id for s in states.values() if s.attempts != 1] == [], "a job ran more than once"
    assert [s.id for s in states.values() if s.score_rows != 1] == [], "a submission has != 1 Score row"
    assert not [k for k in poll_statuses if k >= 500], f"polling got {dict(poll_statuses)}"
    assert poll_errors == []
    assert sum(poll_statuses.values()) >= 50, "the pollers should have polled during the jobs"
    assert stack.web_worker_pids() == web_pids, "a gunicorn worker died during the test"
    assert all(w.alive() for w in stack.workers), "a scoring worker died"

    # The API agrees with the database.
    team = teams[0]
    status, listing = stack.api_get(team.members[1].token, f"/api/v1/submissions?challenge={SLUG}")
    assert status == 200
    assert sorted(s["status"] for s in listing["submissions"]) == ["scored"] * (QUOTA * len(TRACKS))
    assert SETUP in ("sqlite", "postgresql")


def test_one_api_upload_with_a_fresh_token_answers_at_once(make_stack, tmp_path: Path) -> None:
    """The simplest case of the above, timed: one upload, nothing else running. A token's
    first use in a minute is recorded on the token; that write must not wait on the
    request's own transaction (on SQLite both want the one write lock)."""
    stack = make_stack(workers=0)
    stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota=f"{QUOTA}/day")))
    [team] = make_teams(stack, SLUG, 1)
    timings = []
    for track in TRACKS:
        started = time.monotonic()
        status, _, body = stack.upload(team.members[0].token, SLUG, track, perfect_predictions(TASK[track]))
        timings.append((status, round(time.monotonic() - started, 2)))
    print_figures("(a) one upload, fresh token", {"status, seconds": timings})
    assert [s for s, _ in timings] == [202, 202]
    assert max(t for _, t in timings) < 5, f"an upload took {max(t for _, t in timings)} s"
