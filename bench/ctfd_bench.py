"""CTFd's API scoreboard beside ours, on the same machine, at 1,000 teams.

CTFd (3.8.7, the version issue 10 measured) is not a PyPI package: install it from its
source tag into a virtual environment of its own, never into this project's:

    git clone --branch 3.8.7 https://github.com/CTFd/CTFd /tmp/ctfd-src
    python3.11 -m venv /tmp/ctfd-venv && /tmp/ctfd-venv/bin/pip install -r /tmp/ctfd-src/requirements.txt

(``CTFD_SRC`` and ``CTFD_PYTHON`` point elsewhere.) The comparison then writes 1,000
teams, one member each, with a score each (an award: CTFd sums solves and awards) into
a fresh SQLite database through CTFd's own models, starts CTFd under gunicorn like ours
(2 processes x 4 threads, gthread) with a Redis server of its own for its cache (as its
docker-compose runs it), and reads ``/api/v1/scoreboard`` over loopback, rounds
interleaved with reads of our JSON board. Without CTFd it says so and is skipped.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

CTFD_SRC = Path(os.environ.get("CTFD_SRC", "/tmp/ctfd-src"))
CTFD_PYTHON = Path(os.environ.get("CTFD_PYTHON", "/tmp/ctfd-venv/bin/python"))
REDIS_SERVER = "/usr/bin/redis-server"
HOST = "127.0.0.1"

POPULATE = """
import sys
from CTFd import create_app
from CTFd.models import Awards, Teams, Users, db
from CTFd.utils import set_config

teams = int(sys.argv[1])
app = create_app()
with app.app_context():
    for key, value in {"setup": True, "user_mode": "teams", "ctf_name": "bench",
                       "score_visibility": "public", "account_visibility": "public"}.items():
        set_config(key, value)
    db.session.execute(Teams.__table__.insert(), [
        {"name": f"Team {i:05d}", "email": f"t{i}@example.org", "hidden": False, "banned": False}
        for i in range(teams)])
    db.session.commit()
    ids = [t for (t,) in db.session.query(Teams.id).order_by(Teams.id)]
    db.session.execute(Users.__table__.insert(), [
        {"name": f"user{i:05d}", "email": f"u{i}@example.org", "type": "user", "team_id": tid,
         "hidden": False, "banned": False, "verified": True}
        for i, tid in enumerate(ids)])
    db.session.commit()
    users = dict(db.session.query(Users.team_id, Users.id))
    db.session.execute(Awards.__table__.insert(), [
        {"team_id": tid, "user_id": users[tid], "type": "standard", "name": "score",
         "value": 10_000 - i}
        for i, tid in enumerate(ids)])
    for tid in ids:
        db.session.query(Teams).filter_by(id=tid).update({"captain_id": users[tid]})
    db.session.commit()
print("ok")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[float, int]:
    conn = http.client.HTTPConnection(HOST, port, timeout=120)
    started = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return (time.perf_counter() - started) * 1000, response.status


def _wait(port: int, path: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode}")
        try:
            if _get(port, path)[1] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{path} did not answer 200")


def compare(teams: int, our_port: int, ours: dict[str, str],
            concurrent: Callable[[int, str, int, int], list[float]], readers: int) -> None:
    """Print CTFd's /api/v1/scoreboard p50 beside each of ``ours`` (label -> path) at 1 and
    ``readers`` readers (or why CTFd could not be run). CTFd's answer holds every team (and
    its members); our API board one page of 100, our download every entry."""
    if not (CTFD_PYTHON.exists() and (CTFD_SRC / "CTFd" / "__init__.py").exists()):
        print(f"  CTFd: not installed ({CTFD_SRC} / {CTFD_PYTHON} missing): comparison skipped; "
              "see bench/ctfd_bench.py for the install from its source tag")
        return
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="ctfd-bench-") as folder:
        try:
            redis_port, web_port = _free_port(), _free_port()
            env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder}/ctfd.db",
                   "REDIS_URL": f"redis://{HOST}:{redis_port}/0", "SECRET_KEY": "ctfd-bench",
                   "PYTHONUNBUFFERED": "1"}
            env.pop("CHALLENGE_INSTANCE", None)
            log = open(Path(folder) / "ctfd.log", "wb")  # noqa: SIM115 (closed with the folder)
            procs.append(subprocess.Popen(
                [REDIS_SERVER, "--port", str(redis_port), "--bind", HOST, "--save", "", "--appendonly", "no"],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            started = time.perf_counter()
            done = subprocess.run([str(CTFD_PYTHON), "-c", POPULATE, str(teams)], cwd=CTFD_SRC, env=env,
                                  capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                print(f"  CTFd: could not be set up: {done.stderr.strip().splitlines()[-1:]}")
                return
            procs.append(subprocess.Popen(
                [str(CTFD_PYTHON), "-m", "gunicorn", "CTFd:create_app()", "--bind", f"{HOST}:{web_port}",
                 "--worker-class", "gthread", "--workers", "2", "--threads", "4", "--timeout", "120"],
                cwd=CTFD_SRC, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            _wait(web_port, "/api/v1/scoreboard", procs[-1])
            print(f"  CTFd 3.8.7 ({teams:,} teams, SQLite, its Redis cache) set up in "
                  f"{time.perf_counter() - started:.1f} s; /api/v1/scoreboard vs our JSON board:")
            paths = {"CTFd /api/v1/scoreboard": (web_port, "/api/v1/scoreboard"),
                     **{label: (our_port, path) for label, path in ours.items()}}
            figures: dict[tuple[str, int], list[float]] = {}
            for _ in range(3):  # interleaved rounds; the best of each kept (a noisy machine)
                for n in (1, readers):
                    for label, (port, path) in paths.items():
                        figures.setdefault((label, n), []).append(
                            statistics.median(concurrent(port, path, n, 50 if n == 1 else 30)))
            for n in (1, readers):
                ctfd = min(figures[("CTFd /api/v1/scoreboard", n)])
                print(f"    {n:>2} reader{'s' if n > 1 else ' '}: CTFd p50 {ctfd:6.1f} ms", end="")
                for label in ours:
                    mine = min(figures[(label, n)])
                    print(f"; {label} {mine:6.1f} ms ({mine / ctfd:.2f}x: "
                          f"{'OK' if mine <= ctfd else 'slower'})", end="")
                print()
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            print(f"  CTFd: could not be run: {exc}")
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
