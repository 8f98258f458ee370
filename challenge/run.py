"""``challenge run``: the whole platform on one machine, in one command.

Migrates, starts the embedded Redis when there is no REDIS_URL, loads the demo
into an empty database, then supervises the web server (gunicorn serving
``wsgi:app``, the production path) and the scoring workers (``challenge worker``)
as child processes. SIGINT (Ctrl-C) or SIGTERM stops the children, then the
embedded Redis if this command started it, and exits 0. A child that dies on its
own is reported and the rest are stopped (exit 1): a half-running platform that
accepts uploads nobody scores is worse than none.
"""

from __future__ import annotations

import ctypes
import http.client
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from challenge import demo
from challenge.extensions import db
from challenge.migrate import upgrade
from challenge.models import Challenge, User
from challenge.queue import embedded, ensure_embedded_redis, stop_embedded_redis

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Children get this long to exit after SIGTERM before they are killed. A scoring
#: job cut short is not lost: the sweeper re-enqueues it on the next start.
STOP_GRACE_SECONDS = 10.0
READY_TIMEOUT_SECONDS = 60.0


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it if `challenge run`
    itself is killed (-9), so no orphaned server keeps the port."""
    # The children run in their own process group so that Ctrl-C reaches only
    # `challenge run`, which then stops them in order.
    os.setpgid(0, 0)
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _spawn(name: str, argv: Sequence[str], env: dict[str, str]) -> Child:
    process = subprocess.Popen(list(argv), env=env, cwd=PROJECT_ROOT, preexec_fn=_die_with_parent)
    return Child(name, process)


def _child_env(app: Flask) -> dict[str, str]:
    env = dict(os.environ)
    # Absolute, so the children find the same SQLite file, uploads and Redis
    # socket whatever their working directory.
    env["CHALLENGE_INSTANCE"] = app.config["CHALLENGE_INSTANCE"]
    env["PYTHONUNBUFFERED"] = "1"
    return env


def web_command(host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "gunicorn",
        "--bind", f"{host}:{port}",
        "--chdir", str(PROJECT_ROOT),
        "--worker-class", "gthread", "--workers", "2", "--threads", "4",
        # Upload checks parse the whole file in the request; give them time.
        "--timeout", "120",
        "--access-logfile", "-",
        # gunicorn's control socket defaults to one path in $HOME: two
        # instances on one machine would fight over it, and nothing here uses it.
        "--no-control-socket",
        # Import the app once in the master: an import error stops gunicorn at
        # once (and `run` reports it) instead of looping worker restarts.
        "--preload",
        "wsgi:app",
    ]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "challenge", "worker"]


def _has_challenge() -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(Challenge)))


def _has_demo_user() -> bool:
    return db.session.scalar(select(User.id).where(User.email == demo.DEMO_EMAIL)) is not None


def _load_demo(app: Flask) -> None:
    if not _has_challenge():
        click.echo("challenge run: empty database, loading the demo challenge ...", err=True)
        demo.load_demo(app)


def _answers(host: str, port: int) -> bool:
    """The web server answers HTTP (any status: the app loaded and serves)."""
    target = "127.0.0.1" if host in ("0.0.0.0", "") else ("[::1]" if host == "::" else host)
    if ":" in target and not target.startswith("["):
        target = f"[{target}]"
    try:
        with urllib.request.urlopen(f"http://{target}:{port}/", timeout=5):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, http.client.HTTPException):
        return False


class Supervisor:
    """Starts the children, watches them, and stops them in order."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stop_requested: str | None = None
        self._signals = 0

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        self.stop_requested = signal.Signals(signum).name
        if self._signals > 1:
            # A second Ctrl-C: the user does not want to wait for a running job.
            for child in self.children:
                if child.process.poll() is None:
                    child.process.kill()

    def dead_child(self) -> Child | None:
        for child in self.children:
            if child.process.poll() is not None:
                return child
        return None

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.stop_requested is None and time.monotonic() < deadline:
            time.sleep(0.1)

    def stop_children(self) -> None:
        for child in self.children:
            if child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in self.children:
            remaining = max(0.0, deadline - time.monotonic())
            try:
                child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                click.echo(f"challenge run: {child.name} did not stop in {STOP_GRACE_SECONDS:.0f}s; "
                           "killing it", err=True)
                child.process.kill()
                child.process.wait()


def run(app: Flask, host: str, port: int, workers: int) -> int:
    """Run the platform until a signal or a child's death; returns the exit code."""
    instance = Path(app.config["CHALLENGE_INSTANCE"])
    supervisor = Supervisor()
    previous = {s: signal.signal(s, supervisor.on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    started_redis = False
    code = 0
    try:
        upgrade(app)
        if embedded(app):
            started_redis = ensure_embedded_redis(instance)
        _load_demo(app)
        show_login = _has_demo_user()
        db.session.remove()
        db.engine.dispose()  # the children open their own connections

        if supervisor.stop_requested:  # Ctrl-C while migrating or loading the demo
            return 0
        env = _child_env(app)
        supervisor.children.append(_spawn("web server", web_command(host, port), env))
        for n in range(1, workers + 1):
            supervisor.children.append(_spawn(f"scoring worker {n}", worker_command(), env))

        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while not _answers(host, port):
            if supervisor.stop_requested or supervisor.dead_child():
                break
            if time.monotonic() > deadline:
                click.echo(f"challenge run: the web server did not answer on {host}:{port} "
                           f"within {READY_TIMEOUT_SECONDS:.0f}s", err=True)
                return 1
            time.sleep(0.1)
        else:
            _announce(app, host, port, supervisor, started_redis, show_login)

        while supervisor.stop_requested is None:
            dead = supervisor.dead_child()
            if dead is not None:
                click.echo(f"challenge run: {dead.name} (pid {dead.process.pid}) exited with "
                           f"status {dead.process.returncode}; stopping the rest", err=True)
                code = 1
                break
            supervisor.wait(0.5)
        if supervisor.stop_requested:
            click.echo(f"challenge run: {supervisor.stop_requested}, stopping ...", err=True)
        return code
    finally:
        supervisor.stop_children()
        if started_redis:
            stop_embedded_redis(instance)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        click.echo("challenge run: stopped", err=True)


def _announce(app: Flask, host: str, port: int, supervisor: Supervisor, started_redis: bool,
              show_login: bool) -> None:
    shown = f"[{host}]" if ":" in host else host
    redis = ("embedded, " + str(Path(app.config["CHALLENGE_INSTANCE"]) / "redis.sock")
             if embedded(app) else "REDIS_URL")
    lines = [
        "",
        f"  Challenge platform running at http://{shown}:{port}/",
        f"  Demo login: {demo.DEMO_EMAIL} / {demo.DEMO_PASSWORD}" if show_login
        else "  Demo login: none (this database has no demo user)",
        "  Processes: " + ", ".join(f"{c.name} pid {c.process.pid}" for c in supervisor.children),
        f"  Redis: {redis}" + (" (started here, stopped on exit)" if started_redis else ""),
        f"  Instance folder: {app.config['CHALLENGE_INSTANCE']}",
        "  Press Ctrl-C to stop.",
        "",
    ]
    click.echo("\n".join(lines))


@click.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the web server binds.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Number of scoring workers (RQ) to start.")
def run_command(host: str, port: int, workers: int) -> None:
    """Migrate, load the demo if empty, and run web server + scoring workers until Ctrl-C."""
    sys.exit(run(current_app._get_current_object(), host, port, workers))  # type: ignore[attr-defined]


def init_app(app: Flask) -> None:
    app.cli.add_command(run_command)
