"""Fixtures for the scorer tests."""

from __future__ import annotations

import pytest
from scorer_helpers import make_classes

import scorer


@pytest.fixture(scope="session")
def classes() -> scorer.ClassList:
    """Ten classes n10000000..n10000009, IDs 1..10."""
    return make_classes()
