"""Every module of the platform can be a process's first import.

RQ's work horse imports a job by its dotted path, and the benchmarks import
``challenge.jobs`` before any app exists; a cycle through an area's package
``__init__`` (views importing services importing the jobs) broke ``make bench``
that way. Each module is imported in the same fresh interpreter with every
``challenge`` module forgotten before it, as if it came first.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import importlib, pkgutil, sys
import challenge
names = sorted(m.name for m in pkgutil.walk_packages(challenge.__path__, "challenge.")
               if not m.name.endswith("__main__"))
for name in names:
    for loaded in [k for k in sys.modules if k == "challenge" or k.startswith("challenge.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ImportError as exc:
        print(f"{name}: {exc}")
print(f"checked {len(names)}")
"""


def test_each_module_imports_first() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines[-1].startswith("checked ") and int(lines[-1].split()[1]) > 100
    assert lines[:-1] == []
