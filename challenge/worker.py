"""``challenge worker``: a real forking RQ worker on the scoring queues.

It takes uploads (``scoring``) before bulk rescoring (``rescoring``): RQ pops its
queues in the order given, on every job.

The worker process creates the app once (the CLI does) and keeps its app
context; each job runs in a forked work horse that inherits it. The horse must
not share the parent's database connections, so the engine's pool is replaced
in the child (``dispose(close=False)`` leaves the parent's sockets alone).
The sweeper runs from RQ's maintenance hook: at start and every SWEEP_INTERVAL.
Each work horse runs under an address-space limit (RLIMIT_AS, SCORING_MEMORY_MB),
so a file that needs too much memory fails its own job with MemoryError (a plain
reason for the team) instead of taking the machine's memory.

Warm horses: before it forks a horse, the worker makes sure its own process holds
the class lists and ground truth of every open phase (challenge.scoring's caches,
filled from their artifacts), so each horse inherits them through copy-on-write
instead of loading them again. Checked by the files' checksums (one small query)
before a job, at most every WARM_CHECK_EVERY seconds while jobs keep coming, so a
phase that opens or a replaced ground truth is picked up within seconds.

On PostgreSQL the horses also share one database connection, lent by the worker
(``LentConnection``), instead of each opening its own.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import resource
import secrets
import time
from typing import Any

import click
import redis
from flask import Flask, current_app
from rq import Worker
from rq.exceptions import StopRequested
from sqlalchemy import Engine, event

from challenge import jobs, scoring
from challenge.db import read_only
from challenge.extensions import db
from challenge.queue import get_redis, queue_names, revive_embedded, worker_queues
from challenge.storage import get_store
from challenge.sweeper import sweep
from scorer.memory import reuse_freed_memory

log = logging.getLogger(__name__)


#: Seconds between two checks of what the open phases score against while jobs keep
#: coming (the check is a query, ~4 ms: a tenth of a classification job). A phase that
#: opens or changes in between only meets cold horses until the next check.
WARM_CHECK_EVERY = 2.0


def _fresh_pool_in_child() -> None:
    if db.engine is not None:
        db.engine.dispose(close=False)
        LentConnection.in_horse = True


class LentConnection:
    """One PostgreSQL connection that the worker holds and lends to each work horse in turn.

    Each horse used to open its own connection: a TCP connect, authentication and a new
    server backend whose catalog caches are cold, ~7 ms of a ~60 ms classification job
    (and a backend process started and ended on the server per job). Now the worker opens
    one, never uses it while a horse lives (its own queries go through its pool), and a
    horse's fresh pool takes it as its first connection (the engine's ``do_connect`` hook).
    The horse ends its job with the session removed (rolled back: idle on the server) and
    exits without closing it, so the worker's copy is still in step with the server.

    Checked before every lend: a horse that did not exit cleanly, or a connection that is
    no longer idle or does not echo a fresh token, is closed and replaced, so no horse
    inherits another's half-read reply or open transaction. Horses prepare no server-side
    statements on it (psycopg's names would collide with the next horse's, which starts
    from the worker's copy knowing none of them)."""

    in_horse = False  # set in a forked horse: its pool takes the lent connection
    _of_engine: dict[Engine, LentConnection] = {}

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: Any = None
        event.listen(engine, "do_connect", self._hand_over)

    @classmethod
    def of(cls, engine: Engine) -> LentConnection:
        """The engine's one lender: a worker made again (after Redis came back) must not
        leave a second hook handing out a connection that nobody checks any more."""
        if engine not in cls._of_engine:
            cls._of_engine[engine] = cls(engine)
        return cls._of_engine[engine]

    @staticmethod
    def supported(engine: Engine) -> bool:
        return engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"

    def _hand_over(self, _dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> Any:
        if not LentConnection.in_horse or self.conn is None:
            return None  # the worker itself, or a horse's second connection: connect as usual
        conn, self.conn = self.conn, None  # once per horse
        conn.prepare_threshold = None
        return conn

    def ready(self, horse_exited_cleanly: bool = True) -> None:
        """Before a fork: make sure the connection to lend is healthy and idle."""
        if self.conn is not None and not (horse_exited_cleanly and self._idle()):
            self.discard()
        if self.conn is None:
            cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
            self.conn = self.engine.dialect.connect(*cargs, **cparams)

    def _idle(self) -> bool:
        from psycopg import pq  # installed with the PostgreSQL driver this class needs

        token = secrets.randbelow(2**31)
        try:
            self.conn.autocommit = True  # the server's own transaction state shows through
            echoed = self.conn.execute(f"SELECT {token}").fetchone()
            idle = echoed == (token,) and self.conn.info.transaction_status == pq.TransactionStatus.IDLE
            self.conn.autocommit = False  # as a fresh connection would be
            return idle
        except Exception:
            return False

    def discard(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()
        self.conn = None


def limit_memory(megabytes: int) -> None:
    """Cap this process's address space (the work horse's, after the fork)."""
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class ScoringWorker(Worker):
    """An RQ worker whose maintenance also sweeps orphaned submissions, and whose
    work horses run under the scoring memory limit."""

    memory_mb: int = 0
    lent: LentConnection | None = None
    _warm_checked = float("-inf")
    _horse_status = 0
    #: Phase id -> checksums of the ground truth this process holds (see ``warm_up``).
    warm: dict[int, tuple[str, str, str | None, str | None]] | None = None
    # RQ retries a lost connection for ever; at most this long between tries.
    max_connection_wait_time = 5.0

    def heartbeat(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return super().heartbeat(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError):
            # RQ will try again; if the embedded Redis died, there is something to reach then.
            revive_embedded()
            raise

    def main_work_horse(self, job, queue):  # type: ignore[no-untyped-def]
        if self.memory_mb:
            limit_memory(self.memory_mb)
        reuse_freed_memory()  # the horse scores one file and exits (scorer.memory says why)
        super().main_work_horse(job, queue)

    def dequeue_job_and_maintain_ttl(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        # What this process prepares for a job happens before it takes one off the queue
        # where it can: between RQ's pop and the job's start a worker killed leaves the job
        # 'queued' on no queue, which only the sweeper finds (sweeper.LEFT_QUEUE).
        self.warm_up_if_due()  # a SIGTERM meanwhile stops RQ's loop before it takes a job
        if self.lent is not None:
            try:
                self.lent.ready(horse_exited_cleanly=self._horse_status == 0)
            except Exception:
                # No connection to lend (the database is down?): the horse opens its own,
                # and meets the database's error as a job does.
                log.warning("could not open the connection lent to work horses", exc_info=True)
        return super().dequeue_job_and_maintain_ttl(*args, **kwargs)

    def execute_job(self, job, queue):  # type: ignore[no-untyped-def]
        try:
            self.warm_up_if_due()  # after waiting for a job: a phase may have opened meanwhile
        except StopRequested:
            # SIGTERM while warming, with a job already taken off the queue: a warm shutdown
            # finishes it first; RQ's loop stops after it.
            self._stop_requested = True
        return super().execute_job(job, queue)

    def wait_for_horse(self):  # type: ignore[no-untyped-def]
        pid, status, rusage = super().wait_for_horse()
        self._horse_status = status if pid else -1  # 0: exited cleanly; -1: not known
        return pid, status, rusage

    def warm_up_if_due(self) -> None:
        """``warm_up``, unless it ran less than WARM_CHECK_EVERY seconds ago."""
        if time.monotonic() - self._warm_checked >= WARM_CHECK_EVERY:
            self.warm_up()

    def warm_up(self) -> None:
        """Load the ground truth of open phases into this (the parent) process, if what it
        holds is not what they score against now; every horse forked after inherits it."""
        self._warm_checked = time.monotonic()
        try:
            with read_only():  # the check only reads: on SQLite it must not take the write lock
                wanted = {p.id: scoring.warm_key(p) for p in scoring.open_phases()}
                db.session.commit()
            if wanted != self.warm:
                started = time.perf_counter()
                warm = scoring.preload(scoring.open_phases())
                jobs.prime()
                db.session.commit()  # the artifacts it built, for every other process
                self.warm = wanted
                # Out of the collector's reach from now on: a horse's collections would
                # otherwise walk (and so copy, page by page) everything it inherited.
                gc.collect()
                gc.freeze()
                log.info("ground truth of %d open phase(s) loaded in %.2f s", warm,
                         time.perf_counter() - started)
        except StopRequested:
            raise  # SIGTERM meanwhile: RQ's warm shutdown must go ahead
        except Exception:
            # A cold horse still scores (it loads what it needs); try again next job.
            log.exception("could not preload ground truth")
        finally:
            # No connection of this process crosses the fork; a dead database must not
            # stop the worker here either (the job meets it and is retried).
            with contextlib.suppress(Exception):
                db.session.remove()

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        self.warm_up()
        try:
            for action in sweep():
                log.warning("sweeper: submission %s %s (%s)", action.submission_id,
                            action.action, action.why)
        except StopRequested:
            raise
        except Exception:
            # A failed sweep must not stop the worker; the next one tries again.
            log.exception("sweeper failed")


_registered_fork_hook = False


def make_worker(app: Flask | None = None, queues: list[str] | None = None) -> ScoringWorker:
    """A worker on ``queues`` (default: uploads, then rescoring), most urgent first."""
    global _registered_fork_hook
    app = app or current_app
    if not _registered_fork_hook:
        os.register_at_fork(after_in_child=_fresh_pool_in_child)
        _registered_fork_hook = True
    interval = app.config["SWEEP_INTERVAL"]
    worker = ScoringWorker(
        worker_queues(app, queues), connection=get_redis(app),
        maintenance_interval=interval,
        # RQ blocks on the queue for worker_ttl - 15 seconds between maintenance
        # checks; keep that wait at the sweep interval.
        worker_ttl=interval + 15,
    )
    worker.memory_mb = app.config["SCORING_MEMORY_MB"]
    if LentConnection.supported(db.engine):
        worker.lent = LentConnection.of(db.engine)
    return worker


@click.command("worker")
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
@click.option("--queue", "queues", multiple=True, metavar="NAME",
              help="Take jobs from this queue only (repeat for several, most urgent first); "
                   "default: scoring, then rescoring, then mail.")
def worker_command(burst: bool, queues: tuple[str, ...]) -> None:
    """Run a scoring worker (forks a work horse per job)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    names = list(queues) or queue_names()
    get_store().warm()  # before the first fork: each work horse inherits it
    while True:
        worker = make_worker(queues=names)
        click.echo(f"worker {worker.name} on queues {', '.join(names)}", err=True)
        try:
            worker.work(burst=burst)
            return
        except redis.RedisError as exc:
            # Redis restarted or went away (RQ gives up on the worker then, even mid-job):
            # wait for it and carry on as a new worker. A job in flight is not lost: its
            # horse finishes on its own, or the sweeper finds it by its missing heartbeat.
            log.warning("lost Redis (%s: %s); reconnecting", type(exc).__name__, exc)
            wait_for_redis(current_app._get_current_object())  # type: ignore[attr-defined]


def wait_for_redis(app: Flask, pause: float = 1.0) -> None:
    """Block until the platform's Redis answers again, starting the embedded one if it
    died (nobody else would; its start is guarded by a file lock)."""
    while True:
        app.extensions.pop("redis_client", None)  # a fresh client, on a fresh connection
        try:
            get_redis(app).ping()
            return
        except (redis.RedisError, RuntimeError, OSError) as exc:
            log.warning("Redis does not answer yet (%s); again in %.0f s", exc, pause)
            time.sleep(pause)


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
