"""CTFd beside us, for the leaderboard benchmark's side-by-side comparison.

CTFd (https://github.com/CTFd/CTFd) is the common self-hosted competition platform;
its ``GET /api/v1/scoreboard`` is the board a competitor's script reads. To compare
like with like, the benchmark runs it on this machine in the same minute as ours:
the same field (N teams, one member each, one score each), the same web server shape
(gunicorn, 2 processes x 4 threads, gthread), a Redis of its own for its cache (as a
production CTFd has), and the same clients.

CTFd is not on PyPI: ``CTFD_SOURCE`` names a checkout of its source at a release tag
(e.g. ``git clone --branch 3.8.7 https://github.com/CTFd/CTFd``). Its requirements are
installed with pip into a virtual environment of its own, outside the project
(``CTFD_VENV``, default ``~/.cache/ilsvrc-bench/ctfd-venv``), once. Nothing of CTFd is
part of this project; without a source, ``Unavailable`` says what to do.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
REDIS_SERVER = "/usr/bin/redis-server"

#: Run inside CTFd's own environment: a teams-mode CTF, set up, with N teams of one
#: member and one award each (CTFd's standings sum solves and awards; an award is a
#: score without a challenge). Bulk inserts with a fixed password hash: bcrypt for
#: every user would take minutes and is not what is measured.
POPULATE = textwrap.dedent('''
    import datetime, sys
    from CTFd import create_app
    from CTFd.models import Awards, Teams, Users, db
    from CTFd.utils import set_config

    teams = int(sys.argv[1])
    app = create_app()
    with app.app_context():
        for key, value in {"setup": True, "user_mode": "teams", "ctf_name": "bench",
                           "score_visibility": "public", "account_visibility": "public",
                           "registration_visibility": "public", "challenge_visibility": "public"}.items():
            set_config(key, value)
        now = datetime.datetime.utcnow()
        hashed = "$bcrypt-sha256$v=2,t=2b,r=12$n79VH.0Q2TMWmt3Oqt9uku$Kq4Noyk3094Y2QlB8NdRT8SvGiI4ft2"
        db.session.execute(Teams.__table__.insert(), [
            {"id": i + 1, "name": f"Team {i:05d}", "hidden": False, "banned": False, "created": now}
            for i in range(teams)])
        db.session.execute(Users.__table__.insert(), [
            {"id": i + 1, "name": f"user{i:05d}", "email": f"u{i}@bench.example.org", "password": hashed,
             "type": "user", "team_id": i + 1, "hidden": False, "banned": False, "verified": True,
             "created": now} for i in range(teams)])
        db.session.execute(Awards.__table__.insert(), [
            {"user_id": i + 1, "team_id": i + 1, "type": "standard", "name": "score",
             "value": 100_000 - i, "date": now - datetime.timedelta(seconds=teams - i)}
            for i in range(teams)])
        db.session.commit()
    print("populated", teams)
''')


class Unavailable(Exception):
    """CTFd cannot be run here; the message says why and what would fix it."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _venv(source: Path) -> Path:
    venv = Path(os.environ.get("CTFD_VENV", Path.home() / ".cache" / "ilsvrc-bench" / "ctfd-venv"))
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.exists():
        print(f"  installing CTFd's requirements into {venv} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r",
                               str(source / "requirements.txt")], capture_output=True, text=True)
        if done.returncode != 0:
            raise Unavailable("pip could not install CTFd's requirements: "
                              + (done.stderr.strip().splitlines() or ["?"])[-1])
        marker.touch()
    return python


@dataclass
class CTFd:
    base_url: str
    version: str
    procs: list[subprocess.Popen]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def start(root: Path, teams: int) -> CTFd:
    """CTFd serving a board of ``teams`` teams on a free loopback port."""
    source = os.environ.get("CTFD_SOURCE", "")
    if not source or not (Path(source) / "CTFd" / "__init__.py").exists():
        raise Unavailable("set CTFD_SOURCE to a checkout of CTFd's source at a release tag "
                          "(git clone --branch 3.8.7 https://github.com/CTFd/CTFd); CTFd is not on PyPI")
    if not Path(REDIS_SERVER).exists():
        raise Unavailable(f"{REDIS_SERVER} is missing (apt-get install redis-server)")
    src = Path(source).resolve()
    version = next((line.split('"')[1] for line in (src / "CTFd" / "__init__.py").read_text().splitlines()
                    if line.startswith("__version__")), "?")
    python = _venv(src)
    root.mkdir(parents=True, exist_ok=True)
    redis_port = _free_port()
    procs = [subprocess.Popen([REDIS_SERVER, "--port", str(redis_port), "--bind", HOST, "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{root / 'ctfd.db'}",
           "REDIS_URL": f"redis://{HOST}:{redis_port}/0", "SECRET_KEY": "bench-ctfd-secret",
           "LOG_FOLDER": str(root / "logs"), "UPLOAD_FOLDER": str(root / "uploads"), "PYTHONPATH": str(src)}
    ctfd = CTFd("", version, procs)
    try:
        (root / "populate_bench.py").write_text(POPULATE)
        done = subprocess.run([str(python), str(root / "populate_bench.py"), str(teams)], cwd=src, env=env,
                              capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            raise Unavailable("CTFd's database could not be filled: "
                              + (done.stderr.strip().splitlines() or ["?"])[-1])
        port = _free_port()
        log = open(root / "gunicorn.log", "wb")  # noqa: SIM115 (lives with the server)
        procs.append(subprocess.Popen(
            [str(python), "-m", "gunicorn", "--bind", f"{HOST}:{port}", "--workers", "2", "--threads", "4",
             "--worker-class", "gthread", "CTFd:create_app()"],
            cwd=src, env=env, stdout=log, stderr=subprocess.STDOUT))
        ctfd.base_url = f"http://{HOST}:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(ctfd.base_url + "/api/v1/scoreboard", timeout=30) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or procs[-1].poll() is not None:
                raise Unavailable("CTFd did not answer; see " + str(root / "gunicorn.log"))
            time.sleep(0.3)
        return ctfd
    except BaseException:
        ctfd.stop()
        raise
