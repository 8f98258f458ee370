"""How a short-lived scoring process (the ``scorer`` CLI, a work horse) gets its memory.

Scoring makes a few large numpy temporaries (tens of MB each for a 30 MB detection
file). glibc gives every block above 32 MB its own fresh mapping and returns it at
``free``, so each temporary costs page faults anew; with numpy's transparent huge
pages on top, the kernel also compacts memory to find 2 MB pages (this machine's
``defrag`` setting is ``madvise``). For 900,000 detections that was 0.5-0.9 s of
system time in a 2 s process. A process that exits after one file keeps what it
freed for the next temporary instead (its size stays at its peak, which the work
horse's RLIMIT_AS bounds), and uses plain pages. Long-lived processes (web) do
not call this: they would keep their peak for good.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's mallopt parameters (malloc.h): keep freed heap, and serve big blocks from it.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_KEEP = 1 << 30


def reuse_freed_memory() -> bool:
    """Let this process reuse what it frees and not ask numpy for huge pages.
    True when glibc took it; False elsewhere (musl, macOS), where nothing changes."""
    try:
        import numpy._core.multiarray as multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        import numpy.core.multiarray as multiarray  # type: ignore[no-redef]
    hugepage = getattr(multiarray, "_set_madvise_hugepage", None)  # what NUMPY_MADVISE_HUGEPAGE sets
    if hugepage is not None and os.environ.get("NUMPY_MADVISE_HUGEPAGE") != "1":  # an operator's 1 wins
        hugepage(False)
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP))
