"""The reliability harness: a whole platform of real processes per test.

A ``Stack`` is what ``challenge run`` starts, built on the setup the session is on:

- ``DATABASE_URL`` unset (the embedded defaults): a fresh instance folder with its own
  SQLite file, and the embedded Redis that the app itself starts on a unix socket in
  that folder;
- ``DATABASE_URL`` on PostgreSQL: a database of its own on that server
  (``CREATE DATABASE rel_<random>``, dropped at the end) and a ``redis-server`` of its
  own on a free loopback port. The shared Redis on 6379 and the ``test`` database's
  tables are never touched.

Then ``challenge db upgrade``, gunicorn serving ``wsgi:app`` exactly as ``challenge
run`` starts it (2 processes x 4 threads), and forking ``challenge worker`` processes
(1 on the embedded default, 2 on PostgreSQL). Every process runs in its own process
group and is killed on ``close()``; the embedded Redis (a daemon) is stopped by its
pidfile. Traffic goes to 127.0.0.1 only.

The same module serves ``bench/soak.py``.
"""

from __future__ import annotations

import contextlib
import http.client
import http.cookiejar
import json
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHARED_DB_URL = os.environ.get("DATABASE_URL", "")
SETUP = "postgresql" if SHARED_DB_URL.startswith(("postgres", "postgresql")) else "sqlite"
#: The server a ``Stack(setup="postgresql")`` makes its database on when the session is on SQLite.
PG_URL = SHARED_DB_URL if SETUP == "postgresql" else "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REDIS_SERVER = "/usr/bin/redis-server"
HOST = "127.0.0.1"


# ---------------------------------------------------------------- small helpers

def postgres_unreachable(needed_by: str) -> str | None:
    """Why PostgreSQL at PG_URL cannot be used (a reason to skip ``needed_by``), or None."""
    import psycopg

    url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"PostgreSQL at {url} is unreachable ({type(exc).__name__}): {needed_by} needs it"
    return None


FIGURES: list[str] = []


def print_figures(title: str, figures: dict[str, Any], setup: str | None = None) -> None:
    """Print a test's measured figures: to its captured output, and (collected here) to
    the end of the pytest run's summary, so `make test` shows them without -s."""
    width = max(len(k) for k in figures)
    text = "\n".join([f"[{setup or SETUP}] {title}"] + [f"  {k:<{width}}  {v}" for k, v in figures.items()])
    print(text)
    FIGURES.append(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def proc_status_kb(pid: int, key: str) -> int | None:
    """A ``/proc/<pid>/status`` field in kB (VmHWM: peak RSS; VmRSS: RSS now)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


# ---------------------------------------------------------------- processes

@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log_path: Path
    log_file: Any = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the process group, and each child's own group (RQ puts the work
        horse in a group of its own)."""
        if self.alive():
            for child in children_of(self.pid):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGKILL)
        _kill_group(self.popen)
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            pass
        if self.log_file is not None and not self.log_file.closed:
            self.log_file.close()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


def _limit_as(limit_bytes: int | None):
    def preexec() -> None:
        if limit_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    return preexec


class Stack:
    """One platform of real processes on its own database and Redis."""

    def __init__(self, root: Path, *, workers: int | None = None, env: dict[str, str] | None = None,
                 web_memory_cap_mb: int | None = 4096, setup: str | None = None) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.instance = root / "instance"
        self.instance.mkdir(exist_ok=True)
        self.logs = root / "logs"
        self.logs.mkdir(exist_ok=True)
        self.setup = setup or SETUP  # a test may ask for PostgreSQL whatever the session is on
        self.n_workers = workers if workers is not None else (2 if self.setup == "postgresql" else 1)
        self.extra_env = dict(env or {})
        # A guard, not the thing measured: a web process that tried to unpack a 10 GB
        # bomb would take the shared machine down with it. The bound asserted is 1 GB
        # of peak RSS, far under this address-space cap.
        self.web_memory_cap_mb = web_memory_cap_mb
        self.pg_dbname: str | None = None
        self.redis_port: int | None = None
        self.redis_proc: Proc | None = None
        self.web: Proc | None = None
        self.web_port: int | None = None
        self.workers: list[Proc] = []
        self.others: list[Proc] = []
        self._app: Any = None
        self._reader: Any = None
        self._n = 0
        if self.setup == "postgresql":
            self.database_url = self._create_pg_database()
        else:
            self.database_url = f"sqlite:///{self.instance / 'challenge.sqlite'}"
        if self.setup == "postgresql":
            self.redis_port = free_port()
            self.redis_url = f"redis://{HOST}:{self.redis_port}/0"
        else:
            self.redis_url = ""  # embedded: the app starts it in the instance folder

    # ---------------------------------------------------------------- services

    def _pg_admin(self) -> Any:
        import psycopg

        parts = urllib.parse.urlsplit(PG_URL.replace("postgresql+psycopg://", "postgresql://"))
        base = parts._replace(scheme="postgresql")
        last_error: Exception | None = None
        for name in ("postgres", "test", parts.path.lstrip("/") or "postgres"):
            try:
                return psycopg.connect(urllib.parse.urlunsplit(base._replace(path="/" + name)),
                                       autocommit=True, connect_timeout=10)
            except psycopg.Error as exc:
                last_error = exc
        raise RuntimeError(f"cannot reach PostgreSQL at {PG_URL}: {last_error}")

    def _create_pg_database(self) -> str:
        self.pg_dbname = f"rel_{secrets.token_hex(6)}"
        with self._pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.pg_dbname}"')
        parts = urllib.parse.urlsplit(PG_URL)
        return urllib.parse.urlunsplit(parts._replace(scheme="postgresql+psycopg",
                                                      path="/" + self.pg_dbname))

    def _drop_pg_database(self) -> None:
        if self.pg_dbname is None:
            return
        with contextlib.suppress(Exception), self._pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.pg_dbname}" WITH (FORCE)')
        self.pg_dbname = None

    def start_redis(self) -> None:
        """PostgreSQL setup: start (or restart) this stack's own redis-server. The
        embedded default is started by the app itself; use stop_redis to stop it."""
        if self.setup != "postgresql":
            raise RuntimeError("the embedded Redis is started by the app, not the harness")
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError(f"{REDIS_SERVER} is missing (apt-get install -y redis-server)")
        self.redis_proc = self._spawn(
            "redis",
            [REDIS_SERVER, "--port", str(self.redis_port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--daemonize", "no", "--dir", str(self.root)],
            env=dict(os.environ),
        )
        client = self.redis_client()
        deadline = time.monotonic() + 15
        while True:
            try:
                if client.ping():
                    return
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start: " + self.redis_proc.log())
            time.sleep(0.05)

    def embedded_redis_pid(self) -> int | None:
        try:
            pid = int((self.instance / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if Path(f"/proc/{pid}").exists() else None

    def stop_redis(self) -> None:
        """Stop this stack's Redis (kill -9: nothing is saved either way)."""
        if self.setup == "postgresql":
            if self.redis_proc is not None:
                self.redis_proc.kill()
                self.redis_proc = None
            return
        for pid in self._embedded_redis_pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self._embedded_redis_pids() and time.monotonic() < deadline:
            time.sleep(0.05)

    def _embedded_redis_pids(self) -> list[int]:
        """Every redis-server serving this instance folder (by its pidfile, and by its
        command line in case the pidfile is gone)."""
        pids = set()
        pid = self.embedded_redis_pid()
        if pid is not None:
            pids.add(pid)
        marker = str(self.instance / "redis.sock").encode()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes()
                except OSError:
                    continue
                if b"redis-server" in cmdline and marker in cmdline:
                    pids.add(int(entry.name))
        return sorted(pids)

    def redis_client(self) -> Any:
        """A plain client to this stack's Redis (never starts anything)."""
        import redis

        if self.setup == "postgresql":
            return redis.Redis(host=HOST, port=self.redis_port, db=0, socket_timeout=5)
        return redis.Redis(unix_socket_path=str(self.instance / "redis.sock"), socket_timeout=5)

    # ---------------------------------------------------------------- the platform

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            DATABASE_URL=self.database_url,
            CHALLENGE_INSTANCE=str(self.instance),
            SECRET_KEY="reliability-secret",
            PYTHONUNBUFFERED="1",
        )
        if self.redis_url:
            env["REDIS_URL"] = self.redis_url
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None,
               memory_cap_mb: int | None = None) -> Proc:
        self._n += 1
        path = self.logs / f"{self._n:02d}-{name}.log"
        log = open(path, "wb")  # noqa: SIM115 (closed with the process)
        popen = subprocess.Popen(
            argv, env=env if env is not None else self.env, cwd=PROJECT_ROOT, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=_limit_as(memory_cap_mb * 1024 * 1024 if memory_cap_mb else None),
        )
        return Proc(name, popen, path, log)

    def cli(self, *args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "challenge", *args], env=self.env, cwd=PROJECT_ROOT,
                              capture_output=True, text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"challenge {' '.join(args)} exited {done.returncode}:\n"
                                 f"{done.stdout}\n{done.stderr}")
        return done

    def start(self, *, web: bool = True, workers: bool = True) -> Stack:
        if self.setup == "postgresql":
            self.start_redis()
        self.cli("db", "upgrade")
        if web:
            self.start_web()
        if workers:
            for _ in range(self.n_workers):
                self.start_worker()
        return self

    def start_web(self, env: dict[str, str] | None = None) -> None:
        """``env``: variables for this process only (over the stack's)."""
        from challenge.run import web_command

        self.web_port = free_port()
        self.web = self._spawn("web", web_command(HOST, self.web_port), env={**self.env, **(env or {})},
                               memory_cap_mb=self.web_memory_cap_mb)
        deadline = time.monotonic() + 90
        while True:
            try:
                status, _, _ = self.request("GET", "/api/v1/openapi.json", timeout=5)
                if status < 500:
                    break
            except OSError:
                pass
            if not self.web.alive() or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not answer:\n" + self.web.log()[-5000:])
            time.sleep(0.1)
        # Both gunicorn workers are up once the master has forked them.
        while len(self.web_worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)

    def start_worker(self, env: dict[str, str] | None = None) -> Proc:
        """``env``: variables for this process only (over the stack's)."""
        proc = self._spawn(f"worker{len(self.workers) + 1}", [sys.executable, "-m", "challenge", "worker"],
                           env={**self.env, **(env or {})})
        self.workers.append(proc)
        return proc

    def web_worker_pids(self) -> list[int]:
        return children_of(self.web.pid) if self.web is not None else []

    def horses(self) -> dict[int, list[int]]:
        """Work horses (forked per job) by worker pid."""
        return {w.pid: children_of(w.pid) for w in self.workers if w.alive()}

    def close(self) -> None:
        for proc in [*self.workers, *self.others, *( [self.web] if self.web else [])]:
            proc.kill()
        self.workers.clear()
        if self._app is not None:
            with contextlib.suppress(Exception):
                from challenge.extensions import db

                with self._app.app_context():
                    db.session.remove()
                    db.engine.dispose()
            self._app = None
        if self._reader is not None:
            self._reader.dispose()
            self._reader = None
        if self.setup == "postgresql":
            if self.redis_proc is not None:
                self.redis_proc.kill()
                self.redis_proc = None
            self._drop_pg_database()
        else:
            self.stop_redis()

    # ---------------------------------------------------------------- in-process access

    def app(self) -> Any:
        """A Flask app in the test process on this stack's database (for setup and checks)."""
        if self._app is None:
            from challenge import create_app

            self._app = create_app({
                "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                "CHALLENGE_INSTANCE": str(self.instance), "SECRET_KEY": "reliability-secret",
            })
        return self._app

    def reader(self) -> Any:
        """A plain SQLAlchemy engine on this stack's database, for checks."""
        if self._reader is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            args = {"timeout": 60} if self.database_url.startswith("sqlite") else {}
            self._reader = create_engine(self.database_url, connect_args=args, poolclass=NullPool)
        return self._reader

    @contextlib.contextmanager
    def session(self) -> Iterator[Any]:
        from challenge.extensions import db

        with self.app().app_context():
            try:
                yield db.session
            finally:
                db.session.remove()

    # ---------------------------------------------------------------- HTTP

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.web_port}"

    def request(self, method: str, path: str, *, body: Any = None, headers: dict[str, str] | None = None,
                timeout: float = 120, source: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """One request on a fresh connection; returns (status, headers, body).
        Headers are lower-cased; repeated ones are joined with ', '."""
        conn = http.client.HTTPConnection(HOST, self.web_port, timeout=timeout,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            merged: dict[str, str] = {}
            for key, value in response.getheaders():
                key = key.lower()
                merged[key] = f"{merged[key]}, {value}" if key in merged else value
            return response.status, merged, data
        finally:
            conn.close()

    def upload(self, token: str, slug: str, track: str, data: bytes | Path, *,
               filename: str = "predictions.txt", fields: dict[str, str] | None = None,
               timeout: float = 120) -> tuple[int, dict[str, str], bytes]:
        """POST /api/v1/.../submissions as multipart; ``data`` may be a file streamed from disk."""
        body, length, content_type = multipart(data, filename, fields or {"method": "reliability"})
        return self.request("POST", f"/api/v1/challenges/{slug}/tracks/{track}/submissions",
                            body=body, timeout=timeout,
                            headers={"Authorization": f"Bearer {token}", "Content-Type": content_type,
                                     "Content-Length": str(length)})

    def api_get(self, token: str | None, path: str, timeout: float = 60) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status, _, data = self.request("GET", path, headers=headers, timeout=timeout)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data

    def browser(self) -> Browser:
        return Browser(self.base_url)


def multipart(data: bytes | Path, filename: str, fields: dict[str, str]) -> tuple[Iterable[bytes], int, str]:
    boundary = "rel" + secrets.token_hex(12)
    head = b""
    for name, value in fields.items():
        head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                 f"{value}\r\n").encode()
    head += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    if isinstance(data, Path):
        size = data.stat().st_size

        def chunks() -> Iterator[bytes]:
            yield head
            with open(data, "rb") as f:
                while block := f.read(1 << 20):
                    yield block
            yield tail

        return chunks(), len(head) + size + len(tail), f"multipart/form-data; boundary={boundary}"
    body = head + data + tail
    return [body], len(body), f"multipart/form-data; boundary={boundary}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Browser:
    """A cookie-keeping web client (no redirects followed, so 302s can be asserted)."""

    CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def open(self, method: str, path: str, form: dict[str, str] | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers or {})
        try:
            with self.opener.open(req, timeout=60) as resp:
                return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, body

    def csrf(self, path: str) -> str:
        status, _, html = self.open("GET", path)
        match = self.CSRF.search(html)
        assert match, f"no CSRF token on {path} ({status})"
        return match.group(1) or match.group(2)

    def login(self, email: str, password: str) -> int:
        token = self.csrf("/login")
        status, _, _ = self.open("POST", "/login", {"csrf_token": token, "email": email,
                                                    "password": password, "next": ""})
        return status

    def post(self, path: str, form: dict[str, str], csrf_from: str) -> tuple[int, dict[str, str], str]:
        return self.open("POST", path, {"csrf_token": self.csrf(csrf_from), **form})

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)


# ---------------------------------------------------------------- challenges

def tiny_bundle(folder: Path, slug: str = "rel2012", quota: str = "5/day") -> Path:
    """A bundle over the tiny synthetic challenge of tests/conftest.py: two tracks
    (classification and localization) of 20 images, each with one open phase."""
    from tests.conftest import tiny_files

    folder.mkdir(parents=True, exist_ok=True)
    for name, data in tiny_files().items():
        (folder / name).write_bytes(data)
    phase = ('opens = 2020-01-01T00:00:00Z\ncloses = 2099-01-01T00:00:00Z\n'
             f'quota = "{quota}"\nleaderboard = "public"\n')
    (folder / "challenge.toml").write_text(
        f'slug = "{slug}"\nyear = 2012\ntitle = "Reliability {slug}"\nclasses = "classes.txt"\n\n'
        '[[tracks]]\nslug = "cls"\ntask = "classification"\nguesses = 5\n\n'
        f'[[tracks.phases]]\nslug = "test"\nlabels = "labels.txt"\n{phase}\n'
        '[[tracks]]\nslug = "loc"\ntask = "localization"\nguesses = 5\n\n'
        f'[[tracks.phases]]\nslug = "test"\nlabels = "labels.txt"\nboxes = "boxes.csv"\n{phase}'
    )
    return folder


BIG_WNIDS = [f"n{20000000 + i:08d}" for i in range(10)]


def big_label(i: int) -> int:
    return (i * 7) % 10 + 1


def big_bundle(folder: Path, slug: str = "big2012", loc_images: int = 100_000,
               cls_images: int = 50_000, quota: str = "50/day") -> Path:
    """A synthetic year at the real scale: a 100,000-image localization phase (ILSVRC's
    test set size) and a 50,000-image classification phase (its validation set size)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "classes.txt").write_text("".join(f"{w} class {i + 1}\n" for i, w in enumerate(BIG_WNIDS)))
    for name, n in (("labels.loc.txt", loc_images), ("labels.cls.txt", cls_images)):
        (folder / name).write_text("".join(f"{big_label(i)}\n" for i in range(n)))
    with open(folder / "boxes.csv", "w") as f:
        f.write("ImageId,PredictionString\n")
        for i in range(loc_images):
            f.write(f"img_{i + 1:08d},{BIG_WNIDS[big_label(i) - 1]} 10 10 50 50\n")
    phase = ('opens = 2020-01-01T00:00:00Z\ncloses = 2099-01-01T00:00:00Z\n'
             f'quota = "{quota}"\nleaderboard = "public"\n')
    (folder / "challenge.toml").write_text(
        f'slug = "{slug}"\nyear = 2013\ntitle = "Reliability {slug}"\nclasses = "classes.txt"\n\n'
        '[[tracks]]\nslug = "cls"\ntask = "classification"\nguesses = 5\n\n'
        f'[[tracks.phases]]\nslug = "test"\nlabels = "labels.cls.txt"\n{phase}\n'
        '[[tracks]]\nslug = "loc"\ntask = "localization"\nguesses = 5\n\n'
        f'[[tracks.phases]]\nslug = "test"\nlabels = "labels.loc.txt"\nboxes = "boxes.csv"\n{phase}'
    )
    return folder


def big_loc_predictions(path: Path, images: int = 100_000) -> Path:
    """A perfect 5-guess localization file for big_bundle's loc phase (about 7 MB)."""
    with open(path, "w") as f:
        for i in range(images):
            label = big_label(i)
            guesses = [label] + [(label + j - 1) % 10 + 1 for j in range(1, 5)]
            f.write(" ".join(f"{g} 10 10 50 50" for g in guesses) + "\n")
    return path


# ---------------------------------------------------------------- people

@dataclass
class Member:
    email: str
    password: str
    token: str
    user_id: int


@dataclass
class TeamInfo:
    id: int
    name: str
    members: list[Member] = field(default_factory=list)


def make_teams(stack: Stack, slug: str, teams: int, members: int = 1, prefix: str = "t") -> list[TeamInfo]:
    """Users, teams and API tokens through the models (the CLI's service functions)."""
    from sqlalchemy import select

    from challenge.models import Challenge, User
    from challenge.teams.service import create_team
    from challenge.tokens import create_token

    made = []
    with stack.session() as db:
        challenge = db.scalar(select(Challenge).where(Challenge.slug == slug))
        assert challenge is not None, f"no challenge {slug}"
        for t in range(teams):
            users = []
            for m in range(members):
                user = User(email=f"{prefix}{t}m{m}@{slug}.example.org", name=f"{prefix}{t}m{m}")
                user.set_password("password-123")
                db.add(user)
                users.append(user)
            db.commit()
            team = create_team(challenge, f"{prefix.upper()}eam {t}", users)
            info = TeamInfo(team.id, team.name)
            for user in users:
                info.members.append(Member(user.email, "password-123", create_token(user), user.id))
            made.append(info)
    return made


def make_user(stack: Stack, email: str, password: str = "password-123", organizer: bool = False) -> int:
    from challenge.models import User

    with stack.session() as db:
        user = User(email=email, name=email.split("@")[0], is_organizer=organizer)
        user.set_password(password)
        db.add(user)
        db.commit()
        return user.id


# ---------------------------------------------------------------- reading state

@dataclass
class SubmissionState:
    id: int
    status: str
    attempts: int
    score_rows: int
    team_id: int
    phase_id: int
    created_at: Any
    finished_at: Any
    error: str | None
    details: Any


def submission_states(stack: Stack, ids: Iterable[int] | None = None) -> dict[int, SubmissionState]:
    """Every submission (or those ids) with its number of Score rows, read fresh from the
    database through an engine of the harness's own (plain reads: on SQLite they never
    take the write lock, so checking never competes with the platform)."""
    from sqlalchemy import func, select

    from challenge.models import Score, Submission

    sub, score = Submission.__table__, Score.__table__
    counts_q = select(score.c.submission_id, func.count(), func.max(score.c.id)).group_by(
        score.c.submission_id)
    query = select(sub.c.id, sub.c.status, sub.c.attempts, sub.c.team_id, sub.c.phase_id, sub.c.created_at,
                   sub.c.finished_at, sub.c.error)
    if ids is not None:
        query = query.where(sub.c.id.in_(list(ids)))
    with stack.reader().connect() as conn:
        counts = {row[0]: (row[1], row[2]) for row in conn.execute(counts_q)}
        details = dict(conn.execute(select(score.c.submission_id, score.c.details)).all())
        states = {}
        for row in conn.execute(query):
            n, _ = counts.get(row.id, (0, None))
            states[row.id] = SubmissionState(row.id, row.status, row.attempts, n, row.team_id, row.phase_id,
                                             row.created_at, row.finished_at, row.error, details.get(row.id))
    return states


def wait_for(predicate: Any, timeout: float, interval: float = 0.2) -> float | None:
    """Poll ``predicate`` until true; the seconds it took, or None after ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return None
        time.sleep(interval)


def wait_until(predicate: Any, timeout: float, interval: float = 0.2, what: str = "condition") -> float:
    """Poll ``predicate`` until true; returns the seconds it took, or raises AssertionError."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def find_peak_rss(details: Any) -> tuple[str, float] | None:
    """The work horse's peak RSS as the product records it in a score's ``details``:
    any key naming RSS (peak_rss_mb, peak_rss_kb, max_rss_bytes, ...), in MB."""
    if isinstance(details, dict):
        for key, value in details.items():
            if "rss" in key.lower() and isinstance(value, int | float):
                lowered = key.lower()
                if "kb" in lowered or lowered.endswith("_k"):
                    return key, value / 1024
                if "byte" in lowered or lowered.endswith("_b"):
                    return key, value / 1024 / 1024
                return key, float(value)  # mb, or unitless: read as MB
            found = find_peak_rss(value)
            if found is not None:
                return found
    return None


class Poller(threading.Thread):
    """Polls the API every ``interval`` seconds until stopped; counts answers by status."""

    def __init__(self, stack: Stack, token: str, paths: list[str], interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.stack, self.token, self.paths, self.interval = stack, token, paths, interval
        self.statuses: dict[int, int] = {}
        self.bodies: list[str] = []
        self.keep_bodies = False
        self.stop_event = threading.Event()
        self.errors: list[str] = []

    def run(self) -> None:
        i = 0
        while not self.stop_event.is_set():
            path = self.paths[i % len(self.paths)]
            i += 1
            try:
                status, _, body = self.stack.request("GET", path, timeout=30,
                                                     headers={"Authorization": f"Bearer {self.token}"})
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if self.keep_bodies:
                    self.bodies.append(body.decode(errors="replace"))
            except OSError as exc:
                self.errors.append(repr(exc))
            self.stop_event.wait(self.interval)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(timeout=60)


# ---------------------------------------------------------------- hostile files

def _gzip_header() -> bytes:
    # magic, deflate, no flags, mtime 0, max compression, unix
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03"


def gzip_repeated(path: Path, chunk: bytes, repeats: int, tail: bytes = b"") -> Path:
    """A gzip file of ``chunk`` * repeats + tail, streamed: each chunk is deflated once
    and the (identical) compressed block written again, which a full flush makes valid;
    the unpacked bytes are never held (only one chunk)."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(chunk) + comp.flush(zlib.Z_FULL_FLUSH)
    assert block == again, "a full flush should make each chunk's deflate block the same"
    crc, size = 0, 0
    with open(path, "wb") as f:
        f.write(_gzip_header())
        for _ in range(repeats):
            f.write(block)
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
        f.write(comp.compress(tail) + comp.flush(zlib.Z_FINISH))
        crc = zlib.crc32(tail, crc)
        size += len(tail)
        f.write(crc.to_bytes(4, "little") + (size & 0xFFFFFFFF).to_bytes(4, "little"))
    return path


def gzip_lines(path: Path, lines: Iterable[bytes]) -> Path:
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(path, "wb") as f:
        buf: list[bytes] = []
        n = 0
        for line in lines:
            buf.append(line)
            n += len(line)
            if n > (8 << 20):
                f.write(comp.compress(b"".join(buf)))
                buf, n = [], 0
        f.write(comp.compress(b"".join(buf)) + comp.flush())
    return path


def gunzipped_size(path: Path, limit: int | None = None) -> int:
    """Unpacked size of a gzip file, streamed (stops at ``limit`` if given)."""
    d = zlib.decompressobj(31)
    total = 0
    with open(path, "rb") as f:
        while block := f.read(1 << 16):
            total += len(d.decompress(block, 1 << 24))
            while d.unconsumed_tail:
                total += len(d.decompress(d.unconsumed_tail, 1 << 24))
            if limit is not None and total >= limit:
                return total
    return total


def rm_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
