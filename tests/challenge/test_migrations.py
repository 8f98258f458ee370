"""The Alembic baseline and the models must describe the same schema.

Models and the hand-kept baseline migration are edited side by side; these tests
catch the one that was forgotten. Each test migrates its own empty database (a
private SQLite file, or a private schema on the PostgreSQL named by DATABASE_URL),
never the session's shared one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from challenge import create_app
from challenge.db import make_engine
from challenge.migrate import alembic_config
from challenge.models import Base


@pytest.fixture
def private_db(tmp_path: Path) -> Iterator[str]:
    """A database URL nobody else is using, empty."""
    shared = os.environ.get("DATABASE_URL", "")
    if not shared.startswith(("postgres://", "postgresql")):
        yield f"sqlite:///{tmp_path / 'migrations.sqlite'}"
        return
    # Same server, own schema: search_path makes it the default for every
    # connection opened with this URL, so Alembic and the inspector stay in it.
    schema = f"mig_{uuid.uuid4().hex[:12]}"
    base = create_app({"DATABASE_URL": shared, "CHALLENGE_INSTANCE": str(tmp_path),
                       "SECRET_KEY": "test"}).config["DATABASE_URL"]
    admin = make_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _config(url: str, tmp_path: Path) -> Any:
    app = create_app({"DATABASE_URL": url, "CHALLENGE_INSTANCE": str(tmp_path / "instance"),
                      "SECRET_KEY": "test"})
    return alembic_config(app)


def _differences(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": True})
        return compare_metadata(context, Base.metadata)


def _tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_baseline_matches_models(private_db: str, tmp_path: Path) -> None:
    command.upgrade(_config(private_db, tmp_path), "head")
    engine = make_engine(private_db)
    try:
        diffs = _differences(engine)
    finally:
        engine.dispose()
    assert diffs == [], (
        "the models and migrations/versions/ disagree; edit the baseline to match:\n"
        + "\n".join(map(repr, diffs))
    )


def test_upgrade_downgrade_round_trip(private_db: str, tmp_path: Path) -> None:
    config = _config(private_db, tmp_path)
    model_tables = set(Base.metadata.tables)
    engine = make_engine(private_db)
    try:
        command.upgrade(config, "head")
        assert _tables(engine) >= model_tables
        command.downgrade(config, "base")
        assert _tables(engine) - {"alembic_version"} == set()
        command.upgrade(config, "head")
        assert _tables(engine) >= model_tables
        assert _differences(engine) == []
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        assert version == ScriptDirectory.from_config(config).get_current_head()
    finally:
        engine.dispose()


def test_single_head(tmp_path: Path) -> None:
    """One line of history: two helpers adding revisions in parallel would fork it."""
    script = ScriptDirectory.from_config(_config(f"sqlite:///{tmp_path / 'x.sqlite'}", tmp_path))
    assert len(script.get_heads()) == 1, script.get_heads()
