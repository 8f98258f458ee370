"""SQLite under concurrency: write transactions take the write lock first (BEGIN IMMEDIATE)
and wait for it; read-only requests begin deferred and never write. Real SQLite file,
real connections in threads (each its own session), real requests."""

from __future__ import annotations

import re
import threading
import time

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from submit_helpers import api_upload, team_with_token

from challenge.db import ReadOnlyWrite, make_engine, read_only
from challenge.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo
from challenge.models import ApiToken, Team, User, utcnow
from tests.conftest import perfect_predictions


@pytest.fixture
def sqlite_only(app):
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("SQLite's transaction modes (PostgreSQL locks rows, not the file)")


def _hold_write_lock(app, seconds: float, started: threading.Event) -> threading.Thread:
    """Another process's writer, as far as SQLite can tell: its own connection holding
    the write lock for ``seconds``."""
    def hold() -> None:
        engine = make_engine(app.config["DATABASE_URL"])
        with engine.begin() as conn:  # BEGIN IMMEDIATE (challenge.db)
            conn.execute(text("UPDATE team SET name = name"))
            started.set()
            time.sleep(seconds)
        engine.dispose()

    thread = threading.Thread(target=hold)
    thread.start()
    assert started.wait(10)
    return thread


def test_a_deferred_reader_that_writes_fails_at_once_but_a_write_transaction_waits(
        app, db, sqlite_only, make_user, make_challenge, make_team):
    """The bug behind 'database is locked' in scoring jobs, and its cure."""
    team = make_team(make_challenge(), make_user())
    engine = make_engine(app.config["DATABASE_URL"])
    # A deferred transaction reads, another connection commits a write, the reader
    # then writes: SQLite refuses at once, whatever the busy timeout.
    with read_only(), Session(engine) as reader:
        reader.execute(select(Team.name)).all()
        other = threading.Event()
        _hold_write_lock(app, 0.1, other).join()
        with pytest.raises(OperationalError, match="locked"):
            reader.execute(update(Team).where(Team.id == team.id).values(name="x"))
            reader.commit()
    # The platform's write transactions begin IMMEDIATE: they wait for the lock instead.
    started = threading.Event()
    holder = _hold_write_lock(app, 1.0, started)
    t0 = time.monotonic()
    with read_only(False), Session(engine) as writer:
        writer.execute(select(Team.name)).all()
        writer.execute(update(Team).where(Team.id == team.id).values(name="renamed"))
        writer.commit()
    waited = time.monotonic() - t0
    holder.join()
    engine.dispose()
    assert 0.5 < waited < 10
    db.remove()
    assert db.get(Team, team.id).name == "renamed"


def test_a_write_inside_a_read_only_request_is_refused_loudly(app, db, sqlite_only, make_user,
                                                             make_challenge, make_team):
    team = make_team(make_challenge(), make_user())
    with read_only():
        db.get(Team, team.id).name = "changed in a GET"
        with pytest.raises(ReadOnlyWrite, match="read-only transaction"):
            db.flush()
        db.rollback()
    db.get(Team, team.id).name = "changed in a POST"
    db.commit()


def test_get_requests_answer_while_a_writer_holds_the_lock(app, db, client, sqlite_only, make_user,
                                                          make_challenge, make_team):
    """API polling during a job: reads neither wait for nor take the write lock, and
    authenticating with a token does not write on every request."""
    t = team_with_token(make_user, make_challenge, make_team)
    headers = {"Authorization": f"Bearer {t['token']}"}
    assert client.get("/api/v1/submissions", headers=headers).status_code == 200  # stamps last use
    first_use = db.scalar(select(ApiToken.last_used_at))
    assert first_use is not None
    db.remove()

    started = threading.Event()
    holder = _hold_write_lock(app, 3.0, started)
    t0 = time.monotonic()
    codes = [client.get(path, headers=headers).status_code
             for path in ("/api/v1/submissions", "/api/v1/challenges", "/", "/api/v1/submissions")]
    elapsed = time.monotonic() - t0
    holder.join()
    assert codes == [200, 200, 200, 200]
    assert elapsed < 2.5, f"reads waited for the writer ({elapsed:.1f} s)"
    db.remove()
    assert db.scalar(select(ApiToken.last_used_at)) == first_use  # once a minute, not per request


def test_token_last_use_is_stamped_again_after_a_minute(app, db, client, make_user, make_challenge,
                                                        make_team):
    t = team_with_token(make_user, make_challenge, make_team)
    token = db.scalar(select(ApiToken))
    token.last_used_at = utcnow().replace(year=2020)
    db.commit()
    assert client.get("/api/v1/submissions",
                      headers={"Authorization": f"Bearer {t['token']}"}).status_code == 200
    db.remove()
    assert db.scalar(select(ApiToken.last_used_at)).year >= 2026


def test_every_page_reachable_in_the_demo_reads_only(app, db, client):
    """Crawl the demo as its competitor and as an organizer, following every same-site
    link: no GET writes (on SQLite the guard in challenge.db would make it a 500)."""
    assert load_demo(app) is True
    organizer = User(email="org@example.org", name="Org", is_organizer=True)
    organizer.set_password("password123")
    db.add(organizer)
    db.commit()
    for email, password in ((DEMO_EMAIL, DEMO_PASSWORD), ("org@example.org", "password123")):
        client.get("/logout")
        assert client.post("/login", data={"email": email, "password": password}).status_code == 302
        seen, todo = set(), ["/", "/admin"]
        while todo and len(seen) < 250:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            response = client.get(path)
            assert response.status_code < 500, (email, path, response.status_code)
            body = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
            response.close()
            for link in re.findall(r'href="(/[^"#]*)"', body):
                if not link.startswith(("/static/", "/logout")) and link not in seen:
                    todo.append(link.replace("&amp;", "&"))
        assert len(seen) > 40, seen


def test_an_upload_with_a_token_stamps_its_use_without_waiting_on_itself(app, db, client, make_user,
                                                                         make_challenge, make_team):
    """A POST holds SQLite's write lock from its first query; the token's last-use stamp
    (a connection of its own) must not wait for it (it did: the 30 s busy timeout)."""
    t = team_with_token(make_user, make_challenge, make_team)
    started = time.monotonic()
    response = api_upload(client, t["token"], perfect_predictions("classification"))
    assert response.status_code == 202
    assert time.monotonic() - started < 10
    db.remove()
    assert db.scalar(select(ApiToken.last_used_at)) is not None
