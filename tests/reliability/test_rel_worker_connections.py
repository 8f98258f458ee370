"""A forking worker on PostgreSQL opens no database connection per job.

The web and one `challenge worker` run as real processes on a PostgreSQL database the
test creates and a redis-server of its own; uploads go through the API. Every job runs
in its own forked horse, and each horse used to open (and end) a connection of its own:
one server backend started per job. The worker now lends its horses one connection
(challenge.worker.LentConnection), so the database sees a handful of sessions for all
the jobs. Counted by PostgreSQL itself (pg_stat_database.sessions). Runs on PostgreSQL
whatever the session is on; skipped when PostgreSQL at 127.0.0.1:5432 is unreachable.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from reliability_harness import (
    REDIS_SERVER,
    Stack,
    make_teams,
    postgres_unreachable,
    print_figures,
    submission_states,
    tiny_bundle,
    wait_for,
)

from tests.conftest import perfect_predictions

pytestmark = pytest.mark.slow
SLUG = "conns2012"
UPLOADS = 16


def _sessions(stack: Stack) -> int:
    """Sessions PostgreSQL has counted on the stack's database so far."""
    with stack._pg_admin() as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s",
                            (stack.pg_dbname,)).fetchone()[0]


def test_the_horses_of_a_worker_share_one_connection(tmp_path: Path) -> None:
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} is missing: apt-get install -y redis-server (.ci/run does)")
    reason = postgres_unreachable("the connection-count test")
    if reason:
        pytest.skip(reason)
    stack = Stack(tmp_path / "stack", workers=1, setup="postgresql",
                  env={"RATELIMIT_API_UPLOAD": "1000 per minute"})
    try:
        stack.start(web=False, workers=False)
        stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota=f"{UPLOADS}/day")))
        [team] = make_teams(stack, SLUG, 1)
        stack.start_web()
        stack.start_worker()
        # The worker's first job warms it (preload, its own pool); count from the second.
        token = team.members[0].token
        status, _, body = stack.upload(token, SLUG, "cls", perfect_predictions("classification"))
        assert status == 202, body[:500]
        first = json.loads(body)["id"]
        warmed = wait_for(lambda: submission_states(stack, [first])[first].status == "scored", 120)
        assert warmed is not None, stack.workers[0].log()[-3000:]
        time.sleep(1.5)  # backends report their counts at most once a second
        before = _sessions(stack)
        ids = []
        for _ in range(UPLOADS - 1):
            status, _, body = stack.upload(token, SLUG, "cls", perfect_predictions("classification"))
            assert status == 202, body[:500]
            ids.append(json.loads(body)["id"])
        took = wait_for(lambda: all(s.status == "scored"
                                    for s in submission_states(stack, ids).values()), 180)
        assert took is not None, stack.workers[0].log()[-3000:]
        time.sleep(1.5)
        opened = _sessions(stack) - before
        # Each job forked its own horse; before, each horse was one more session. What
        # remains: the web's pool filling, this test's own reads, the count queries.
        assert opened < len(ids) // 2, opened
        print_figures("a worker's horses share one PostgreSQL connection", {
            "jobs (each in a forked horse)": len(ids),
            "sessions opened on the database meanwhile": opened,
        }, setup="postgresql")
    finally:
        stack.close()
