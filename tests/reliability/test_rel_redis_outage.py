"""(d) Redis stopped and restarted, and FLUSHALL, while uploads are queued: every upload
is accepted (uploads while Redis is down too: the row is committed and the sweeper
enqueues it later), and every one ends scored exactly once (one job execution, one
Score row).

Round 1, no worker taking jobs, so everything stays queued:
  A uploaded (enqueued) -> Redis killed (its jobs are gone: no persistence) ->
  B uploaded while Redis is down -> Redis back -> C uploaded (enqueued) -> FLUSHALL ->
  D uploaded (enqueued) -> workers take jobs; their sweeper must find A, B and C.
Round 2, workers running: Redis killed again, E uploaded while it is down, Redis back.

On PostgreSQL the test's own redis-server is killed and started again on its port. On
the embedded default the embedded Redis is killed by its pidfile and the app is left
to start it again (no one else does): the web processes within 10 s, or else the
workers, started then (and frozen with SIGSTOP until D is uploaded, so that C and D stay
queued). SWEEP_INTERVAL is 5 s to keep the test short.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from reliability_harness import (
    SETUP,
    children_of,
    make_teams,
    print_figures,
    submission_states,
    tiny_bundle,
    wait_for,
)

from tests.conftest import perfect_predictions

pytestmark = pytest.mark.slow
SLUG = "rel2012"
PER_BATCH = 4
UPLOAD_BOUND_S = 15


def test_redis_restarts_and_flushall_lose_nothing(make_stack, tmp_path: Path) -> None:
    stack = make_stack(env={"SWEEP_INTERVAL": "5"}, start_workers=False)
    stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota="100/day")))
    teams = make_teams(stack, SLUG, PER_BATCH)  # one upload per person per batch: under the API rate limit
    answers: dict[str, list[tuple[int, float, str]]] = {}
    ids: dict[str, list[int]] = {}

    def batch(name: str) -> None:
        answers[name], ids[name] = [], []
        for i in range(PER_BATCH):
            team = teams[i % len(teams)]
            track = ("cls", "loc")[i % 2]
            started = time.monotonic()
            try:
                status, _, body = stack.upload(team.members[0].token, SLUG, track,
                                               perfect_predictions(("classification", "localization")[i % 2]),
                                               timeout=60)
            except OSError as exc:
                status, body = 0, repr(exc).encode()
            answers[name].append((status, time.monotonic() - started, body[:200].decode(errors="replace")))
            if status == 202:
                ids[name].append(json.loads(body)["id"])
            # Fail fast: a platform that stalls here would otherwise take minutes per batch.
            assert status == 202 and answers[name][-1][1] < UPLOAD_BOUND_S, (
                f"batch {name}: upload {i + 1} answered {status} after {answers[name][-1][1]:.1f} s "
                f"(bound {UPLOAD_BOUND_S} s): {answers[name][-1][2]}")

    def redis_up() -> bool:
        try:
            return bool(stack.redis_client().ping())
        except Exception:
            return False

    figures: dict[str, object] = {"workers": stack.n_workers}
    try:
        batch("A")
        stack.stop_redis()
        assert not redis_up()
        batch("B")  # Redis is down
        if SETUP == "postgresql":
            stack.start_redis()
        else:
            # The embedded Redis is the app's to start again: the web processes, or the
            # workers, which `challenge run` always runs beside them.
            back = wait_for(redis_up, timeout=10, interval=0.1)
            figures["embedded Redis back, web alone"] = "no (10 s)" if back is None else f"{back:.1f} s"
            for _ in range(stack.n_workers):
                stack.start_worker()
            if back is None:
                back = wait_for(redis_up, timeout=30, interval=0.1)
                figures["embedded Redis back, workers started"] = ("NOT within 30 s" if back is None
                                                                   else f"{back:.1f} s")
            # Busy workers (frozen): what follows stays queued.
            for w in stack.workers:
                os.killpg(w.pid, signal.SIGSTOP)
        assert redis_up(), "Redis did not come back (round 1)"
        batch("C")
        stack.redis_client().flushall()
        batch("D")

        if SETUP == "postgresql":
            for _ in range(stack.n_workers):
                stack.start_worker()
        else:
            for w in stack.workers:
                os.killpg(w.pid, signal.SIGCONT)
        first = [i for name in "ABCD" for i in ids[name]]

        def all_scored(which: list[int]) -> bool:
            return all(s.status in ("scored", "failed") for s in submission_states(stack, which).values())

        round1 = wait_for(lambda: all_scored(first), timeout=90, interval=0.3)
        figures["round 1 (A-D) scored"] = (f"{round1:.1f} s after the workers started" if round1 is not None
                                           else "NOT within 90 s")
        assert round1 is not None, "round 1 (A-D) not all scored within 90 s"

        # Round 2: Redis dies under running workers.
        stack.stop_redis()
        batch("E")
        if SETUP == "postgresql":
            time.sleep(2)
            stack.start_redis()
        else:
            back = wait_for(redis_up, timeout=30, interval=0.1)
            figures["embedded Redis back (round 2)"] = "NOT within 30 s" if back is None else f"{back:.1f} s"
        assert redis_up(), "Redis did not come back (round 2)"
        worker_deaths = [w.name for w in stack.workers if not w.alive()]
        for w in list(stack.workers):  # a supervisor restarts what died
            if not w.alive():
                stack.workers.remove(w)
                stack.others.append(w)
                stack.start_worker()
        all_ids = first + ids["E"]
        round2 = wait_for(lambda: all_scored(all_ids), timeout=90, interval=0.3)
        worker_deaths += [w.name for w in stack.workers if not w.alive()]
        figures["round 2 (E) scored"] = (f"{round2:.1f} s after Redis came back" if round2 is not None
                                         else "NOT within 90 s")
        figures["workers that died"] = worker_deaths or "none"
        assert round2 is not None, "round 2 (E) not all scored within 90 s"

        states = submission_states(stack)
        figures["status"] = dict(Counter(s.status for s in states.values()))
        figures["attempts"] = dict(Counter(s.attempts for s in states.values()))
        figures["score rows"] = dict(Counter(s.score_rows for s in states.values()))
        assert len(states) == 5 * PER_BATCH
        assert sorted(s.status for s in states.values()) == ["scored"] * (5 * PER_BATCH), (
            [(s.id, s.status, s.error) for s in states.values() if s.status != "scored"])
        assert [s.id for s in states.values() if s.attempts != 1] == [], "a job ran more than once"
        assert [s.id for s in states.values() if s.score_rows != 1] == [], "a submission has != 1 Score row"
    finally:
        figures["answers A..E"] = {k: [a[0] for a in v] for k, v in answers.items()}
        figures["slowest upload"] = f"{max((a[1] for v in answers.values() for a in v), default=0):.2f} s"
        print_figures("(d) Redis killed + restarted, FLUSHALL, while uploads are queued", figures)


def test_a_worker_survives_redis_restarting_under_a_running_job(make_stack, big_files) -> None:
    """Redis goes away while a job is in flight (the horse is paused mid-job, Redis is
    killed, the horse resumes, Redis is started again 3 s later by the harness itself,
    as an operator or a supervisor would, on both setups): the worker that was running
    the job must still be alive, and the submission scored once within 60 s. A worker
    that exits here takes `challenge run` down with it (it stops everything when a
    child dies)."""
    from challenge.queue import ensure_embedded_redis

    stack = make_stack(workers=1)
    stack.cli("load", str(big_files["bundle"]), timeout=300)
    [team] = make_teams(stack, "big2012", 1)
    status, _, body = stack.upload(team.members[0].token, "big2012", "loc", big_files["loc_pred"])
    assert status == 202, body
    sid = json.loads(body)["id"]
    [worker] = stack.workers
    horse = None

    def running_with_horse() -> bool:
        nonlocal horse
        kids = children_of(worker.pid)
        if kids and submission_states(stack, [sid])[sid].status == "running":
            horse = kids[0]
            return True
        return False

    assert wait_for(running_with_horse, timeout=60, interval=0.01) is not None, "the job never ran"
    os.kill(horse, signal.SIGSTOP)
    stack.stop_redis()
    os.kill(horse, signal.SIGCONT)
    time.sleep(3)
    if SETUP == "postgresql":
        stack.start_redis()
    else:
        ensure_embedded_redis(stack.instance)
    scored_in = wait_for(lambda: submission_states(stack, [sid])[sid].status in ("scored", "failed"),
                         timeout=60, interval=0.2)
    time.sleep(2)
    state = submission_states(stack, [sid])[sid]
    alive = worker.alive()
    print_figures("(d) Redis restarted under a running job", {
        "worker alive afterwards": alive if alive else f"no: exited {worker.popen.returncode}",
        "submission": f"{state.status}, attempts {state.attempts}, score rows {state.score_rows}",
        "final within": f"{scored_in:.1f} s" if scored_in is not None else "NOT within 60 s",
    })
    assert alive, ("the scoring worker exited when Redis went away under its running job:\n"
                   + "\n".join(worker.log().splitlines()[-8:]))
    assert (state.status, state.score_rows) == ("scored", 1), state
