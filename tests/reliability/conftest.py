"""Fixtures for the reliability suite: whole platforms of real processes (see
reliability_harness.py), on the setup the session is on (embedded defaults, or
PostgreSQL + a redis-server of the test's own)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from reliability_harness import FIGURES, REDIS_SERVER, SETUP, Stack, big_bundle, big_loc_predictions


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """``make_stack(workers=None, env=None, start=True)``: a started platform; every
    process it started is killed (and its database dropped) at teardown."""
    if SETUP == "postgresql" and not Path(REDIS_SERVER).exists():
        pytest.skip(f"{REDIS_SERVER} is missing: apt-get install -y redis-server (.ci/run does)")
    made: list[Stack] = []

    def make(*, workers: int | None = None, env: dict[str, str] | None = None, start: bool = True,
             web: bool = True, start_workers: bool = True, **kwargs: Any) -> Stack:
        stack = Stack(tmp_path / f"stack{len(made)}", workers=workers, env=env, **kwargs)
        made.append(stack)
        if start:
            stack.start(web=web, workers=start_workers)
        return stack

    yield make
    for stack in made:
        stack.close()


@pytest.fixture(scope="session")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The big synthetic bundle and a perfect 100,000-image localization file, built once."""
    root = tmp_path_factory.mktemp("big")
    return {"bundle": big_bundle(root / "bundle"),
            "loc_pred": big_loc_predictions(root / "loc.pred.txt")}


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("reliability figures")
        for text in FIGURES:
            terminalreporter.write_line(text)
