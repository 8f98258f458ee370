"""The command-line client against a real server on a local port: the real console
script as a subprocess, a real HTTP server thread, and a real RQ worker (this test's
main thread drains the queue while the client waits)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from submit_helpers import drain, team_with_token
from werkzeug.serving import make_server

from challenge.client import Client, Settings, human_wait
from challenge.models import Phase, Submission
from tests.conftest import TINY_LABELS, perfect_predictions

CHALLENGE = Path(sys.executable).with_name("challenge")

pytestmark = pytest.mark.slow  # real processes: each client run starts Python


@pytest.fixture
def server(app: Any, db: Any) -> Iterator[str]:
    db.remove()  # the server's threads use their own sessions
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def team(make_user: Any, make_challenge: Any, make_team: Any) -> dict[str, Any]:
    return team_with_token(make_user, make_challenge, make_team, task="localization",
                           track_slug="loc", quota=(2, "day"))


def run(app: Any, tmp_path: Path, *args: str, url: str | None = None, token: str | None = None,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``challenge ARGS`` and work the scoring queue until it exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHALLENGE_")}
    env["CHALLENGE_CONFIG"] = str(tmp_path / "config.toml")
    if url:
        env["CHALLENGE_URL"] = url
    if token:
        env["CHALLENGE_TOKEN"] = token
    proc = subprocess.Popen([str(CHALLENGE), *args], env=env, cwd=tmp_path, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        drain(app)
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode is not None
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_submit_wait_status_submissions_and_leaderboard(app, db, redis, tmp_path, server, team):
    predictions = tmp_path / "loc.txt"
    predictions.write_bytes(perfect_predictions("localization"))
    token = team["token"]
    for phase in db.scalars(select(Phase)):
        phase.separate_outside_data = True  # ILSVRC's two rankings, for the leaderboard below
    db.commit()

    done = run(app, tmp_path, "submit", str(predictions), "--track", "tiny2012/loc", "--method",
               "ResNet-0", "--description", "a perfect file", "--wait", "--poll", "0.2",
               url=server, token=token)
    assert done.returncode == 0, done.stderr
    assert "Uploading loc.txt" in done.stderr
    assert "status: scored" in done.stderr
    sid = db.scalar(select(Submission.id))
    assert f"Submission {sid} accepted: queued" in done.stdout
    assert f"Submission {sid} (tiny2012/loc/test): scored" in done.stdout
    assert "error        0.00000" in done.stdout and "cls error    0.00000" in done.stdout
    assert f"images       {len(TINY_LABELS)}" in done.stdout
    row = db.get(Submission, sid)
    assert (row.method, row.description, row.status) == ("ResNet-0", "a perfect file", "scored")
    assert (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).read_bytes() == predictions.read_bytes()

    status = run(app, tmp_path, "status", str(sid), url=server, token=token)
    assert status.returncode == 0 and "scored" in status.stdout and "method       ResNet-0" in status.stdout

    listing = run(app, tmp_path, "submissions", "--track", "tiny2012/loc", url=server, token=token)
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["ID", "TRACK", "STATUS", "ERROR", "METHOD", "UPLOADED", "(UTC)"]
    assert lines[2].split()[:5] == [str(sid), "tiny2012/loc/test", "scored", "0.00000", "ResNet-0"]
    other = run(app, tmp_path, "submissions", "--track", "other2012", url=server, token=token)
    assert other.stdout.strip() == "No submissions."

    # The leaderboard is public: no token needed.
    board = run(app, tmp_path, "leaderboard", "tiny2012/loc", "--phase", "test", url=server)
    assert board.returncode == 0, board.stderr
    lines = board.stdout.splitlines()
    assert lines[0] == "tiny2012/loc - Test (test)"
    assert lines[1].split() == ["RANK", "TEAM", "METHOD", "ERROR", "CLS", "ERROR", "95%", "CI"]
    row_cells = lines[3].split()
    assert row_cells[0] == "1" and team["team"].name in lines[3] and "ResNet-0" in lines[3]

    # ILSVRC's second ranking (the phases rank both): the entry used provided data only.
    provided = run(app, tmp_path, "leaderboard", "tiny2012/loc", "--phase", "test", "--ranking", "provided",
                   url=server)
    assert provided.returncode == 0, provided.stderr
    assert provided.stdout.splitlines()[0].endswith("public board, provided data only")
    assert "ResNet-0" in provided.stdout
    refused = run(app, tmp_path, "leaderboard", "tiny2012/loc", "--board", "private", url=server)
    assert refused.returncode == 1 and "unknown board 'private'" in refused.stderr


def test_a_bad_file_prints_the_line_and_exits_2(app, db, redis, tmp_path, server, team):
    bad = tmp_path / "bad.txt"
    rows = perfect_predictions("localization").decode().splitlines(keepends=True)
    rows[2] = "dog 10 10 50 50\n"
    bad.write_text("".join(rows))
    result = run(app, tmp_path, "submit", str(bad), "--track", "tiny2012/loc", "--wait",
                 url=server, token=team["token"])
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1].startswith("Error: line 3: ")
    assert "dog" in result.stderr
    app.config["MAX_CONTENT_LENGTH"] = 100  # the server thread serves this very app object
    large = run(app, tmp_path, "submit", str(bad), "--track", "tiny2012/loc", url=server,
                token=team["token"])
    assert large.returncode == 2
    assert "Error: bad.txt is 284 bytes; the server takes at most 100 bytes." in large.stderr
    assert db.scalar(select(func.count()).select_from(Submission)) == 0


def test_a_failed_scoring_shows_its_reason(app, db, redis, tmp_path, server, team):
    predictions = tmp_path / "p.txt"
    predictions.write_bytes(perfect_predictions("localization"))
    created = Client(Settings(url=server, token=team["token"])).upload("tiny2012", "loc", predictions, {})
    row = db.get(Submission, created["id"])
    (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).unlink()
    drain(app)
    status = run(app, tmp_path, "status", str(created["id"]), url=server, token=team["token"])
    assert status.returncode == 0
    assert f"Submission {created['id']} (tiny2012/loc/test): failed" in status.stdout
    assert "reason       the uploaded file is missing on the server" in status.stdout


def test_refusals_print_the_servers_message_and_exit_1(app, db, redis, tmp_path, server, team):
    good = tmp_path / "good.txt"
    good.write_bytes(perfect_predictions("localization"))
    no_token = run(app, tmp_path, "submit", str(good), "--track", "tiny2012/loc", url=server)
    assert no_token.returncode == 1 and "no API token" in no_token.stderr
    wrong_token = run(app, tmp_path, "status", "1", url=server, token="not-a-token")
    assert wrong_token.returncode == 1
    assert "Error: missing or invalid API token" in wrong_token.stderr
    unknown = run(app, tmp_path, "submit", str(good), "--track", "tiny2012/nope", url=server,
                  token=team["token"])
    assert unknown.returncode == 1 and "Error: no track 'nope' in challenge 'tiny2012'" in unknown.stderr
    for _ in range(2):
        assert run(app, tmp_path, "submit", str(good), "--track", "tiny2012/loc", url=server,
                   token=team["token"]).returncode == 0
    over = run(app, tmp_path, "submit", str(good), "--track", "tiny2012/loc", url=server,
               token=team["token"])
    assert over.returncode == 1
    # Refused before sending the file: the quota endpoint says no slot is left, and when.
    assert "Error: no uploads left in phase test (2 of 2 used); the next slot opens " in over.stderr
    assert re.search(r"opens \d{4}-\d\d-\d\d 00:00 UTC \(in (\d+ h( \d+ min)?|\d+ min)\)", over.stderr)
    quota = run(app, tmp_path, "quota", "tiny2012/loc", url=server, token=team["token"])
    assert quota.returncode == 0, quota.stderr
    assert quota.stdout.splitlines()[0] == "tiny2012/loc phase test: 0 of 2 uploads left per day (UTC)"
    assert "next slot: " in quota.stdout and "largest upload: " in quota.stdout
    missing = run(app, tmp_path, "status", "999999", url=server, token=team["token"])
    assert missing.returncode == 1 and "no submission 999999 of yours" in missing.stderr
    board = run(app, tmp_path, "leaderboard", "tiny2012", url=server)
    assert board.returncode == 2 and "expected CHALLENGE/TRACK" in board.stderr
    down = run(app, tmp_path, "leaderboard", "tiny2012/loc", url="http://127.0.0.1:9")
    assert down.returncode == 1 and "cannot reach http://127.0.0.1:9" in down.stderr


def test_login_writes_a_private_config_that_env_overrides(app, db, tmp_path, server, team):
    saved = run(app, tmp_path, "login", "--url", server + "/", "--token", team["token"])
    assert saved.returncode == 0, saved.stderr
    config = tmp_path / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert config.read_text() == f'token = "{team["token"]}"\nurl = "{server}"\n'
    # From the file alone:
    board = run(app, tmp_path, "submissions")
    assert board.returncode == 0 and board.stdout.strip() == "No submissions.", board.stderr
    # The environment wins over the file:
    overridden = run(app, tmp_path, "submissions", token="not-a-token")
    assert overridden.returncode == 1 and "invalid API token" in overridden.stderr
    elsewhere = run(app, tmp_path, "submissions", url="http://127.0.0.1:9")
    assert elsewhere.returncode == 1 and "cannot reach http://127.0.0.1:9" in elsewhere.stderr


def test_the_upload_streams_in_chunks_and_reports_progress(app, db, redis, tmp_path, server, team):
    predictions = tmp_path / "p.txt"
    predictions.write_bytes(perfect_predictions("localization"))
    sent: list[int] = []
    created = Client(Settings(url=server, token=team["token"])).upload(
        "tiny2012", "loc", predictions, {"method": "chunked"}, progress=sent.append, chunk_size=16)
    assert created["status"] == "queued"
    assert sum(sent) == predictions.stat().st_size and len(sent) > 10
    row = db.get(Submission, created["id"])
    assert row.method == "chunked"
    assert (Path(app.config["UPLOAD_FOLDER"]) / row.stored_path).read_bytes() == predictions.read_bytes()


def test_human_waits() -> None:
    assert [human_wait(s) for s in (0, 40, 60, 61, 3599, 3600, 35349, 86400 * 3 + 7200)] == [
        "0 s", "40 s", "1 min", "2 min", "1 h", "1 h", "9 h 50 min", "3 days 2 h"]


def test_download_writes_the_file_as_uploaded(app, db, redis, tmp_path, server, team):
    predictions = tmp_path / "mine.txt"
    predictions.write_bytes(perfect_predictions("localization"))
    assert run(app, tmp_path, "submit", str(predictions), "--track", "tiny2012/loc", url=server,
               token=team["token"]).returncode == 0
    sid = db.scalar(select(Submission.id))
    out = tmp_path / "out"
    out.mkdir()
    got = run(app, out, "download", str(sid), url=server, token=team["token"])
    assert got.returncode == 0, got.stderr
    assert (out / "mine.txt").read_bytes() == predictions.read_bytes()
    again = run(app, out, "download", str(sid), url=server, token=team["token"])
    assert again.returncode == 1 and "exists; use --force" in again.stderr
    other = run(app, out, "download", str(sid), "-o", "copy.txt", url=server, token=team["token"])
    assert other.returncode == 0 and (out / "copy.txt").read_bytes() == predictions.read_bytes()
    missing = run(app, out, "download", "999999", url=server, token=team["token"])
    assert missing.returncode == 1 and "no submission 999999 of yours" in missing.stderr


def test_split_phase_lists_show_the_public_score() -> None:
    from challenge.client import _shown_error

    assert _shown_error({"scores": {"error": 0.25}}) == "0.25000"
    assert _shown_error({"subset_scores": [{"subset": "public", "error": 0.125}]}) == "0.12500 (public)"
    assert _shown_error({"status": "scored"}) == "-"


def test_help_puts_the_competitors_commands_first(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHALLENGE_")}
    env["CHALLENGE_INSTANCE"] = str(tmp_path / "instance")
    shown = subprocess.run([str(CHALLENGE), "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    competitor, server = text.index("Competitor commands"), text.index("Server and admin commands")
    assert competitor < server
    for name in ("login", "submit", "quota", "submissions", "status", "download", "leaderboard"):
        assert competitor < text.index(f"\n  {name} ") < server, name
    assert server < text.index("\n  worker ") and "--app" not in text and "--env-file" not in text
