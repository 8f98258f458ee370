"""scorer/ is a library of its own: it never imports the web platform."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import scorer

PACKAGE = Path(scorer.__file__).resolve().parent


def test_no_module_of_scorer_names_challenge() -> None:
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in {"challenge", "flask", "sqlalchemy", "redis", "rq"}, (
                    f"{path.name} imports {name}")


def test_importing_scorer_loads_nothing_of_the_platform() -> None:
    code = ("import json, sys, scorer, scorer.cli; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'challenge', 'flask', 'sqlalchemy', 'redis', 'rq'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
