"""The PostgreSQL connection a worker lends to its work horses (challenge.worker.LentConnection).

Real forks on a real PostgreSQL server: each "horse" here is a forked child that does what
a work horse does (its pool replaced, the lent connection taken as its first connection)
and exits with os._exit. The worker's copy must stay usable after a clean horse, and be
replaced after one that left a transaction open, closed it, or was killed mid-query.
Uses the session's PostgreSQL, else the local server; skipped when none answers.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from challenge.db import make_engine
from challenge.worker import LentConnection

URL = os.environ.get("DATABASE_URL", "")
if not URL.startswith("postgresql"):
    URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: What a horse holds on to until it exits.
KEPT: list[Any] = []


@pytest.fixture
def engine() -> Iterator[Engine]:
    try:
        psycopg.connect(URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5).close()
    except psycopg.Error as exc:
        pytest.skip(f"PostgreSQL at {URL} is unreachable ({type(exc).__name__})")
    made = make_engine(URL)
    yield made
    made.dispose()


@pytest.fixture
def lent(engine: Engine) -> Iterator[LentConnection]:
    """The worker's side: a connection ready to lend (discarded at the end)."""
    made = LentConnection(engine)
    made.ready()
    yield made
    made.discard()


def horse(engine: Engine, work: Callable[[Engine], Any], kill_after: float | None = None) -> tuple[Any, int]:
    """Run ``work`` in a forked child set up as a work horse; (what it returned, exit status)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the horse
        status = 1
        try:
            os.close(read_end)
            engine.dispose(close=False)  # what challenge.worker's at-fork hook does
            LentConnection.in_horse = True
            os.write(write_end, json.dumps(work(engine)).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    if kill_after is not None:
        time.sleep(kill_after)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    return (json.loads(data) if data else None), status


def backend(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.scalar(text("SELECT pg_backend_pid()"))


def test_clean_horses_share_the_worker_connection_and_prepare_nothing(engine, lent):
    worker_copy = lent.conn.info.backend_pid

    def job(engine: Engine) -> list[int]:
        with engine.connect() as conn:
            # More runs than psycopg's prepare threshold (5): a prepared statement left on
            # the server would collide with the next horse's of the same name.
            pids = [conn.scalar(text("SELECT pg_backend_pid() + :x"), {"x": 0}) for _ in range(8)]
            conn.commit()
        return pids

    for _ in range(3):
        pids, status = horse(engine, job)
        assert status == 0 and set(pids) == {worker_copy}  # the lent connection, every time
        lent.ready(horse_exited_cleanly=True)
        assert lent.conn.info.backend_pid == worker_copy  # kept: idle and in step
    with lent.conn.cursor() as cur:
        assert cur.execute("SELECT count(*) FROM pg_prepared_statements").fetchone() == (0,)
    assert backend(engine) != worker_copy  # the worker's own queries never use it


def test_a_horse_that_leaves_a_transaction_open_gets_its_connection_replaced(engine, lent):
    first = lent.conn.info.backend_pid

    def careless(engine: Engine) -> int:
        raw = engine.raw_connection()
        KEPT.append(raw)  # not returned to the pool (which would roll back) before os._exit
        cur = raw.cursor()
        cur.execute("SELECT pg_backend_pid()")  # begins a transaction it never ends
        return cur.fetchone()[0]

    pid, status = horse(engine, careless)
    assert status == 0 and pid == first
    lent.ready(horse_exited_cleanly=True)
    assert lent.conn.info.backend_pid != first
    assert lent.conn.execute("SELECT 41 + 1").fetchone() == (42,)


def test_a_horse_killed_mid_query_or_one_that_closed_it_gets_it_replaced(engine, lent):
    first = lent.conn.info.backend_pid

    def slow(engine: Engine) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(30)"))

    _, status = horse(engine, slow, kill_after=1.0)
    assert os.WIFSIGNALED(status)
    lent.ready(horse_exited_cleanly=False)  # what the worker says after such an exit
    second = lent.conn.info.backend_pid
    assert second != first
    assert lent.conn.execute("SELECT 7").fetchone() == (7,)

    def closer(engine: Engine) -> int:
        pid = backend(engine)
        engine.dispose()  # closes its connections: the server ends that session
        return pid

    pid, status = horse(engine, closer)
    assert status == 0 and pid == second
    lent.ready(horse_exited_cleanly=True)  # the echo fails: replaced
    assert lent.conn.info.backend_pid not in (first, second)
    assert lent.conn.execute("SELECT 8").fetchone() == (8,)


def test_a_horse_without_a_lent_connection_connects_as_before(engine):
    lent = LentConnection(engine)  # never made ready: nothing to lend (the database was down)
    pid, status = horse(engine, backend)
    assert status == 0 and isinstance(pid, int)
    assert lent.conn is None


def test_a_worker_made_again_reuses_the_engines_lender(engine):
    """`challenge worker` makes a new worker after Redis comes back: one hook per engine,
    so a horse never takes a connection the new worker does not check."""
    first = LentConnection.of(engine)
    assert LentConnection.of(engine) is first
    first.ready()
    pid, status = horse(engine, backend)
    assert status == 0 and pid == first.conn.info.backend_pid
    first.discard()

