"""scorer.memory: a one-file process keeps what it frees and takes plain pages."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = """
import numpy._core.multiarray as m
from scorer.memory import reuse_freed_memory
took = reuse_freed_memory()
print(took, m._set_madvise_hugepage(True))  # returns the setting it replaces
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_glibc_takes_it_and_numpy_stops_asking_for_huge_pages() -> None:
    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.split() == ["True", "False"]
    # An operator who asks for huge pages keeps them.
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                         env={**env, "NUMPY_MADVISE_HUGEPAGE": "1"})
    assert out.stdout.split() == ["True", "True"]
