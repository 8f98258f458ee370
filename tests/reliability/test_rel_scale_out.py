"""Workers need only DATABASE_URL, REDIS_URL and STORAGE_URL: three hosts, no shared disk.

The web (gunicorn) and two forking workers run as real processes, each with a
CHALLENGE_INSTANCE folder of its own (standing for three machines), on a PostgreSQL
database the test creates, a redis-server of its own and moto's S3 server (the
session's s3_server fixture). Uploads go through the web's API; every one must be
scored once, by workers that read it from the bucket, and no host's instance folder
may hold an upload. Runs on PostgreSQL whatever the session is on (SQLite cannot be
shared between hosts); skipped when PostgreSQL at 127.0.0.1:5432 is unreachable.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import Counter
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
from rq import Worker
from sqlalchemy import select

from challenge.models import Submission
from tests.conftest import perfect_predictions

pytestmark = pytest.mark.slow
SLUG = "scale2012"
TEAMS, PER_TEAM_PER_TRACK = 3, 2
TASK = {"cls": "classification", "loc": "localization"}


def test_web_and_two_workers_on_three_hosts_share_only_the_database_redis_and_s3(s3_server,
                                                                                   tmp_path: Path) -> None:
    if not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} is missing: apt-get install -y redis-server (.ci/run does)")
    reason = postgres_unreachable("the scale-out test")
    if reason:
        pytest.skip(reason)
    prefix = f"scale-{secrets.token_hex(4)}"
    # Only these reach the platform's processes (and the AWS test credentials, as a
    # real host would have its own); nothing else is shared between the three hosts.
    env = {"STORAGE_URL": f"s3://{s3_server.bucket}/{prefix}", **s3_server.env}
    stack = Stack(tmp_path / "stack", workers=2, env=env, setup="postgresql")
    try:
        hosts = {name: tmp_path / f"host-{name}" for name in ("web", "worker1", "worker2")}
        for folder in hosts.values():
            folder.mkdir()
        stack.start(web=False, workers=False)  # its redis-server, then `challenge db upgrade`
        stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota=f"{PER_TEAM_PER_TRACK}/day")))
        teams = make_teams(stack, SLUG, TEAMS)
        stack.start_web(env={"CHALLENGE_INSTANCE": str(hosts["web"])})
        for name in ("worker1", "worker2"):
            stack.start_worker(env={"CHALLENGE_INSTANCE": str(hosts[name])})
        redis = stack.redis_client()
        assert wait_for(lambda: len(Worker.all(connection=redis)) == 2, 60) is not None, \
            "\n".join(w.log()[-3000:] for w in stack.workers)

        started = time.monotonic()
        uploaded: dict[int, bytes] = {}
        for team in teams:
            for track, task in TASK.items():
                for _ in range(PER_TEAM_PER_TRACK):
                    data = perfect_predictions(task)
                    status, _, body = stack.upload(team.members[0].token, SLUG, track, data)
                    assert status == 202, body[:500]
                    uploaded[json.loads(body)["id"]] = data
        assert len(uploaded) == TEAMS * len(TASK) * PER_TEAM_PER_TRACK

        def all_done() -> bool:
            return all(s.status in ("scored", "failed") for s in submission_states(stack, uploaded).values())

        took = wait_for(all_done, 180)
        states = submission_states(stack, uploaded)
        assert took is not None, {i: (s.status, s.error) for i, s in states.items()} | {
            "logs": [w.log()[-3000:] for w in stack.workers]}
        assert {i: (s.status, s.score_rows, s.error) for i, s in states.items()} == {
            i: ("scored", 1, None) for i in uploaded}

        # Every file is in the bucket under the store's prefix, by its row's key.
        with stack.reader().connect() as conn:
            table = Submission.__table__
            keys = dict(conn.execute(select(table.c.id, table.c.stored_path).where(
                table.c.id.in_(list(uploaded)))).all())
        assert sorted(s3_server.keys(prefix + "/")) == sorted(f"{prefix}/{k}" for k in keys.values())

        # No host keeps an upload: no uploads folder, and no file with an upload's bytes.
        contents = set(uploaded.values())
        for name, folder in [*hosts.items(), ("cli", stack.instance)]:
            assert not (folder / "uploads").exists(), name
            for path in folder.rglob("*"):
                assert not (path.is_file() and path.read_bytes() in contents), f"{name} keeps {path}"

        # Both worker hosts did work (RQ serves the longest-waiting worker first).
        done_by = Counter()
        for worker in stack.workers:
            done_by[worker.name] = len(set(re.findall(r"Job OK \(submission-(\d+)\)", worker.log())))
        assert sum(done_by.values()) == len(uploaded), done_by
        assert all(done_by[w.name] > 0 for w in stack.workers), done_by
        print_figures("scale-out: web + 2 workers, 3 instance folders, redis-server, S3 (moto)", {
            "submissions scored": f"{len(uploaded)} of {len(uploaded)}",
            "jobs per worker": ", ".join(f"{k}: {v}" for k, v in sorted(done_by.items())),
            "last scored after uploads began": f"{time.monotonic() - started:.1f} s",
        }, setup=stack.setup)
    finally:
        stack.close()
