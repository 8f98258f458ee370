"""The database: one engine and one scoped session per app, bound in init_app.

Views and jobs use ``db.session``; the session is removed at the end of each
app context, so a job or a request never leaks a transaction into the next.

SQLite and concurrency: web, workers and the CLI are separate processes on one
file. A transaction that starts as a reader (a deferred ``BEGIN``) and later
writes fails at once with "database is locked" if another process committed in
between: the busy timeout does not apply to that upgrade. So on SQLite every
transaction that may write starts with ``BEGIN IMMEDIATE``, which takes the write
lock first (waiting up to the busy timeout for it). Only read-only work (a GET
request, see ``read_only``) begins deferred, and WAL lets those readers run
beside the one writer. A flush inside such a read-only transaction is a bug (it
would fail under load), so it raises at once instead.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, g, request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from werkzeug.exceptions import RequestEntityTooLarge

#: How transactions begun now begin on SQLite: "write" (BEGIN IMMEDIATE), "read"
#: (BEGIN, and a write raises ReadOnlyWrite) or "lenient" (BEGIN, writes allowed:
#: SQLite's own default, for test code only; see ``lenient``).
_mode: contextvars.ContextVar[str] = contextvars.ContextVar("sqlite_begin_mode", default="write")
#: HTTP methods whose requests must not write (RFC 9110 safe methods).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Seconds a SQLite connection waits for the write lock before "database is locked".
BUSY_TIMEOUT = 30


class ReadOnlyWrite(RuntimeError):
    """Something tried to write inside a read-only (deferred) SQLite transaction."""


@contextmanager
def read_only(flag: bool = True) -> Iterator[None]:
    """Transactions begun inside this block only read (``flag``) or may write."""
    token = _mode.set("read" if flag else "write")
    try:
        yield
    finally:
        _mode.reset(token)


def may_write() -> bool:
    """Whether transactions begun now may write (false inside ``read_only``)."""
    return _mode.get() != "read"


def lenient() -> None:
    """From now on in this context, transactions begin deferred and may write. For test
    code that reads while real processes write: a test's read must not hold SQLite's
    write lock. Product code never calls this; requests and jobs set their own mode."""
    _mode.set("lenient")


class Database:
    def __init__(self) -> None:
        self.engine: Engine | None = None
        self._factory = sessionmaker(expire_on_commit=False)
        self.session: scoped_session[Session] = scoped_session(self._factory)
        event.listen(self._factory, "before_flush", _no_writes_in_read_only)

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"])
        self._factory.configure(bind=self.engine)
        app.extensions["db"] = self

        @app.before_request
        def _begin_as_the_method_says() -> None:
            # Set for every request, so a thread's previous request never leaks
            # its mode into the next one.
            reading = request.method in SAFE_METHODS
            g.sqlite_begin_mode = _mode.set("read" if reading else "write")
            if not reading:
                # Take the whole body before the first query: a slow client uploading
                # must not hold SQLite's write lock (MAX_CONTENT_LENGTH bounds it).
                try:
                    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
                        request.form  # noqa: B018 (parsed and cached; files spool to disk)
                    else:
                        request.get_data(cache=True)
                except RequestEntityTooLarge:
                    pass  # nothing read; the view meets it again and answers in its own words

        @app.teardown_request
        def _end_read_only(_exc: BaseException | None) -> None:
            if _mode.get() == "read":
                # End the read snapshot here, so code after the request in the same app
                # context (a test, a CLI command) starts a fresh transaction that may write.
                # Commit, not rollback: a read has nothing pending, and a rollback would
                # expire every loaded object.
                try:
                    self.session.commit()
                except Exception:
                    self.session.rollback()
            token = g.pop("sqlite_begin_mode", None)
            if token is not None:
                _mode.reset(token)

        @app.teardown_appcontext
        def _remove_session(_exc: BaseException | None) -> None:
            self.session.remove()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Slow work between a request's or a job's reads and its writes (parsing an
        upload, scoring): the transaction ends first, so no lock is held meanwhile;
        anything the block reads is read in a read-only transaction, ended with it."""
        self.session.commit()  # load what the block needs before: nothing is pending
        with read_only():
            try:
                yield
            except BaseException:
                self.session.rollback()
                raise
            self.session.commit()  # not rollback: that would expire what was loaded

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A write of its own inside a read-only request (e.g. auditing a download): the
        read snapshot ends first, the block runs in a write transaction, which commits
        at its end (or rolls back if the block raises)."""
        self.session.commit()  # ends the snapshot; a read-only transaction has nothing pending
        with read_only(False):
            try:
                yield self.session
                self.session.commit()
            except BaseException:
                self.session.rollback()
                raise


def _no_writes_in_read_only(session: Session, _ctx: Any, _instances: Any) -> None:
    if not (session.new or session.dirty or session.deleted):
        return
    if session.connection().info.get("sqlite_read_only"):
        raise ReadOnlyWrite(
            "a write inside a read-only transaction (a GET request?): it would fail under load "
            "with 'database is locked'; write from a POST, or in a fresh transaction inside "
            "challenge.db.read_only(False)"
        )


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        # Web, worker and sweeper are separate processes on one SQLite file:
        # wait for locks instead of failing, and let readers run beside a writer.
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy issue BEGIN itself (so it can be BEGIN IMMEDIATE),
            # and turn on WAL and foreign keys.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            mode = _mode.get()
            conn.info["sqlite_read_only"] = mode == "read"
            conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "write" else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)
