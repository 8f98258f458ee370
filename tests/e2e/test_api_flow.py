"""End to end through the admin CLI and the REST API, on the real ILSVRC 2012 files.

An organizer loads a 2012 bundle (challenge.toml beside symlinks to the devkit
files in ../shared), creates a user, a team and an API token with the
``challenge`` commands; the user submits the devkit's demo files through the
API; a real forking worker (``challenge worker --burst``, a separate process)
scores them; the API then reports the official numbers and both leaderboards
list the team.
"""

from __future__ import annotations

import os
import subprocess
import sys
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

pytestmark = pytest.mark.slow

N_IMAGES = 50_000
# The devkit documentation's table, rounded there to four decimals.
CLS_ERROR_AT_K = [0.9990, 0.9980, 0.9972, 0.9962, 0.9950]
LOC_ERROR_AT_K = [1.0000, 0.9999, 0.9998, 0.9997, 0.9996]
LOC_CLS_ERROR_AT_K = [0.9992, 0.9982, 0.9971, 0.9962, 0.9955]

def cli(runner: Any, *args: str) -> str:
    result = runner.invoke(args=list(args))
    assert result.exit_code == 0, f"challenge {' '.join(args)}:\n{result.output}"
    return str(result.output)


def run_worker_burst(app: Any) -> subprocess.CompletedProcess[str]:
    """`challenge worker --burst` in its own process, on the test's database and Redis."""
    env = dict(os.environ)
    for key in ("DATABASE_URL", "REDIS_URL", "CHALLENGE_INSTANCE", "SECRET_KEY"):
        env[key] = str(app.config[key])
    return subprocess.run(
        [sys.executable, "-m", "challenge", "worker", "--burst"],
        env=env, capture_output=True, text=True, timeout=600,
    )


def upload(client: Any, token: str, track: str, path: Path, method: str) -> Any:
    # The body is encoded in memory: the test client spools a large multipart
    # body to a temporary file that nothing closes (a ResourceWarning here).
    boundary, body = encode_multipart(MultiDict({
        "file": FileStorage(BytesIO(path.read_bytes()), filename=path.name),
        "method": method, "description": "the devkit's demo submission",
    }))
    return client.post(
        f"/api/v1/challenges/ilsvrc2012/tracks/{track}/submissions", data=body,
        headers={"Authorization": f"Bearer {token}"},
        content_type=f"multipart/form-data; boundary={boundary}",
    )


def assert_counts(values: list[float]) -> None:
    """Every error is an exact count of images over 50,000."""
    for value in values:
        assert abs(value * N_IMAGES - round(value * N_IMAGES)) < 1e-6, value


def test_devkit_demo_files_through_the_api(
    shared: Path, bundle_2012: Path, app: Any, client: Any, runner: Any, redis: Any, tmp_path: Path
) -> None:
    cli(runner, "load", str(bundle_2012))
    cli(runner, "users", "create", "alex@example.org", "--password", "correct-horse-9", "--name", "Alex")
    cli(runner, "teams", "create", "SuperVision", "--challenge", "ilsvrc2012",
        "--member", "alex@example.org")
    token = cli(runner, "tokens", "create", "alex@example.org").strip().splitlines()[-1]

    # Without a token the API refuses before reading anything.
    refused = upload(client, "not-a-token", "cls", shared / "2012" / "demo.val.pred.txt", "x")
    assert refused.status_code == 401, refused.get_json()

    cls = upload(client, token, "cls", shared / "2012" / "demo.val.pred.txt", "devkit demo")
    assert cls.status_code == 202, cls.get_json()
    assert cls.get_json()["status"] == "queued"
    loc = upload(client, token, "loc", shared / "2012" / "demo.val.pred.det.txt", "devkit demo boxes")
    assert loc.status_code == 202, loc.get_json()

    worker = run_worker_burst(app)
    assert worker.returncode == 0, worker.stderr[-4000:]

    headers = {"Authorization": f"Bearer {token}"}
    got = client.get(f"/api/v1/submissions/{cls.get_json()['id']}", headers=headers).get_json()
    assert got["status"] == "scored", got
    error_at_k = got["scores"]["error_at_k"]
    assert error_at_k[0] == pytest.approx(49_949 / N_IMAGES, abs=1e-12)  # 0.99898
    assert [round(e, 4) for e in error_at_k] == CLS_ERROR_AT_K
    assert got["scores"]["error"] == pytest.approx(error_at_k[4])
    assert_counts(error_at_k)

    got = client.get(f"/api/v1/submissions/{loc.get_json()['id']}", headers=headers).get_json()
    assert got["status"] == "scored", got
    scores = got["scores"]
    assert [round(e, 4) for e in scores["error_at_k"]] == LOC_ERROR_AT_K
    assert [round(e, 4) for e in scores["cls_error_at_k"]] == LOC_CLS_ERROR_AT_K
    assert round(scores["error"], 4) == 0.9996
    assert_counts(scores["error_at_k"] + scores["cls_error_at_k"])

    # Both public leaderboards list the team, without any token.
    board = client.get("/api/v1/challenges/ilsvrc2012/tracks/cls/leaderboard").get_json()
    (entry,) = board["entries"]
    assert (entry["rank"], entry["team"], entry["submission"]) == (1, "SuperVision", cls.get_json()["id"])
    assert round(entry["error"], 4) == 0.9950
    board = client.get("/api/v1/challenges/ilsvrc2012/tracks/loc/leaderboard").get_json()
    (entry,) = board["entries"]
    assert (entry["rank"], entry["team"], entry["submission"]) == (1, "SuperVision", loc.get_json()["id"])
    assert round(entry["error"], 4) == 0.9996
    assert round(entry["cls_error"], 4) == 0.9955

    # The hidden files never come back through the API.
    listing = client.get("/api/v1/challenges/ilsvrc2012").get_data(as_text=True)
    truth_head = (shared / "2012" / "LOC_val_solution.csv").read_text().splitlines()[1]
    assert truth_head not in listing and truth_head not in str(board)
