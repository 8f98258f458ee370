"""Uploads before bulk rescoring: a 200-submission rescore is queued, then a team uploads;
the upload is scored within seconds, while most of the rescore is still waiting.

Real processes: gunicorn, one forking ``challenge worker`` (so nothing but the queue order
decides what runs next), the database and Redis of the session's setup. Uploads go to the
``scoring`` queue, rescore items to ``rescoring``; the worker takes ``scoring`` first on
every job.
"""

from __future__ import annotations

import json

import pytest
from reliability_harness import make_teams, print_figures, submission_states, tiny_bundle, wait_until
from sqlalchemy import func, select

from tests.conftest import perfect_predictions

pytestmark = pytest.mark.slow
SLUG = "rel2012"
RESCORE_SIZE = 200
UPLOAD_BOUND_S = 10


def _items_left(stack) -> int:
    from challenge.models import RescoreItem

    item = RescoreItem.__table__
    with stack.reader().connect() as conn:
        waiting = item.c.status.in_(("queued", "running"))
        return conn.scalar(select(func.count()).select_from(item).where(waiting))


def test_a_new_upload_is_scored_before_a_200_submission_rescore_ends(make_stack, tmp_path) -> None:
    stack = make_stack(workers=1, env={"RATELIMIT_API_UPLOAD": "1000 per minute"})
    stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota="1000/day")))
    [team] = make_teams(stack, SLUG, 1)
    token = team.members[0].token
    perfect = perfect_predictions("classification")

    for _ in range(RESCORE_SIZE):
        status, _, body = stack.upload(token, SLUG, "cls", perfect)
        assert status == 202, body
    wait_until(lambda: sum(s.status == "scored" for s in submission_states(stack).values()) == RESCORE_SIZE,
               timeout=300, what=f"{RESCORE_SIZE} uploads scored")

    out = stack.cli("rescore", "start", f"{SLUG}/cls/test").stdout
    assert f"{RESCORE_SIZE} submission(s)" in out, out
    queued = stack.redis_client().llen("rq:queue:rescoring")
    assert queued > RESCORE_SIZE // 2, f"only {queued} rescore jobs were waiting"

    status, _, body = stack.upload(token, SLUG, "cls", perfect)
    assert status == 202, body
    sid = json.loads(body)["id"]
    waited = wait_until(lambda: submission_states(stack, [sid])[sid].status == "scored",
                        timeout=UPLOAD_BOUND_S, interval=0.05, what="the new upload scored")
    left = _items_left(stack)
    assert left > 0, "the rescore ended before the new upload was scored"

    rescore_s = wait_until(lambda: _items_left(stack) == 0, timeout=300, what="the rescore to end")
    state = submission_states(stack, [sid])[sid]
    assert (state.status, state.attempts, state.score_rows) == ("scored", 1, 1), state
    print_figures("queue priority (one worker)", {
        "rescore jobs waiting when the upload came": queued,
        "upload scored after": f"{waited:.2f} s",
        "rescore items still waiting then": left,
        "rescore ended after a further": f"{rescore_s:.1f} s",
    })
