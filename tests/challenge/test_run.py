"""``challenge run`` for real: a subprocess on a free port with its own instance
folder, real gunicorn, real worker, real embedded Redis; then signals.

The command gets a fresh SQLite file in its instance folder (it is the local,
clone-and-run path, and migrating plus loading the demo must not touch the
session's shared database). REDIS_URL, when the suite runs against a real
Redis, is passed through.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from challenge.models import Challenge

pytestmark = pytest.mark.slow

START_TIMEOUT = 90.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ppid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces; fields after ')' are fixed.
    return int(stat.rsplit(")", 1)[1].split()[1])


def alive(pid: int) -> bool:
    """Running, and not a zombie (a container's init may be slow to reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def descendants(root: int) -> set[int]:
    found: set[int] = set()
    parents = {root}
    changed = True
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    while changed:
        changed = False
        for pid in pids:
            if pid not in found and _ppid(pid) in parents:
                found.add(pid)
                parents.add(pid)
                changed = True
    return found


@dataclass
class Running:
    process: subprocess.Popen[str]
    instance: Path
    port: int
    lines: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    @property
    def output(self) -> str:
        return "".join(self.lines)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def wait_for_http(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"challenge run exited with {self.process.returncode}:\n{self.output}")
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    return str(response.read().decode())
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.2)
        pytest.fail(f"no HTTP answer at {self.url} within {START_TIMEOUT}s:\n{self.output}")

    def wait_for_line(self, pattern: str) -> re.Match[str]:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            match = re.search(pattern, self.output)
            if match:
                return match
            time.sleep(0.1)
        pytest.fail(f"no line matching {pattern!r}:\n{self.output}")


def start_run(tmp_path: Path, *args: str) -> Running:
    instance = tmp_path / "instance"
    port = free_port()
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env["CHALLENGE_INSTANCE"] = str(instance)
    process = subprocess.Popen(
        [sys.executable, "-m", "challenge", "run", "--port", str(port), *args],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    running = Running(process, instance, port)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.lines.append(line)

    running.reader = threading.Thread(target=pump, daemon=True)
    running.reader.start()
    return running


@pytest.fixture
def launcher(tmp_path: Path) -> Iterator[list[Running]]:
    """Whatever a test started is gone afterwards, even when it failed."""
    started: list[Running] = []
    yield started
    for running in started:
        children = descendants(running.process.pid)
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if running.reader is not None:
            running.reader.join(timeout=10)
        if running.process.stdout is not None:
            running.process.stdout.close()
        pidfile = running.instance / "redis.pid"
        if pidfile.exists():
            pid = int(pidfile.read_text())
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = {pid for pid in pids if alive(pid)}
        if not left:
            return left
        time.sleep(0.1)
    return {pid for pid in pids if alive(pid)}


def test_run_serves_the_demo_and_stops_everything_on_sigint(
    tmp_path: Path, launcher: list[Running]
) -> None:
    running = start_run(tmp_path)
    launcher.append(running)
    page = running.wait_for_http()
    running.wait_for_line(r"Press Ctrl-C to stop")

    # The demo was loaded into the fresh database and is on the front page.
    engine = create_engine(f"sqlite:///{running.instance / 'challenge.sqlite'}")
    try:
        with engine.connect() as conn:
            titles = conn.execute(select(Challenge.title)).scalars().all()
            assert conn.execute(select(func.count()).select_from(Challenge)).scalar_one() >= 1
    finally:
        engine.dispose()
    assert any(title in page for title in titles), (titles, page[:2000])
    login = running.wait_for_line(r"Demo login: (\S+@\S+) / (\S+)")
    assert f"http://127.0.0.1:{running.port}/" in running.output

    children = descendants(running.process.pid)
    # gunicorn master + its workers, and one `challenge worker`.
    assert len(children) >= 3, running.output
    embedded = not os.environ.get("REDIS_URL")
    redis_pid = None
    if embedded:
        redis_pid = int((running.instance / "redis.pid").read_text())
        assert alive(redis_pid)

    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(timeout=60) == 0, running.output
    assert wait_gone(children) == set(), running.output
    if redis_pid is not None:
        assert wait_gone({redis_pid}) == set()
        assert not (running.instance / "redis.pid").exists()
    else:
        assert not (running.instance / "redis.pid").exists()
    assert "challenge run: stopped" in running.output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()
    assert login.group(1)


def test_run_stops_everything_when_a_child_dies(tmp_path: Path, launcher: list[Running]) -> None:
    running = start_run(tmp_path)
    launcher.append(running)
    running.wait_for_http()
    match = running.wait_for_line(r"scoring worker 1 pid (\d+)")
    worker_pid = int(match.group(1))
    others = descendants(running.process.pid) - {worker_pid}
    redis_pidfile = running.instance / "redis.pid"
    redis_pid = int(redis_pidfile.read_text()) if redis_pidfile.exists() else None

    os.kill(worker_pid, signal.SIGKILL)
    assert running.process.wait(timeout=60) == 1, running.output
    assert f"scoring worker 1 (pid {worker_pid}) exited" in running.output
    assert wait_gone(others) == set(), running.output
    if redis_pid is not None:
        assert wait_gone({redis_pid}) == set()


def test_run_on_sigterm_exits_zero(tmp_path: Path, launcher: list[Running]) -> None:
    running = start_run(tmp_path, "--workers", "2")
    launcher.append(running)
    running.wait_for_http()
    running.wait_for_line(r"scoring worker 2 pid \d+")
    children = descendants(running.process.pid)
    running.process.send_signal(signal.SIGTERM)
    assert running.process.wait(timeout=60) == 0, running.output
    assert wait_gone(children) == set(), running.output


def test_children_stop_when_run_itself_is_killed(tmp_path: Path, launcher: list[Running]) -> None:
    """kill -9 gives `challenge run` no chance to clean up: the kernel's
    parent-death signal must still stop the web server and the worker, so no
    orphan keeps the port."""
    running = start_run(tmp_path)
    launcher.append(running)
    running.wait_for_http()
    running.wait_for_line(r"Press Ctrl-C to stop")
    pids = re.search(r"web server pid (\d+), scoring worker 1 pid (\d+)", running.output)
    assert pids, running.output
    everything = descendants(running.process.pid)  # gunicorn's workers too
    assert {int(pids.group(1)), int(pids.group(2))} <= everything

    running.process.kill()
    running.process.wait(timeout=10)
    assert wait_gone(everything, timeout=30) == set(), running.output
