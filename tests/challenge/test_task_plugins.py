"""An operator-installed task (entry-point group ``ilsvrc_challenge.tasks``) runs end to end:
the console creates a track with it, the web form takes an upload, a real RQ worker scores
it, and the board ranks by its headline in its direction (higher is better here)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select
from submit_helpers import drain
from test_admin import login, predictions, upload_form

import scorer.tasks
from challenge.models import Phase, Submission, Track
from tests.conftest import tiny_files

PLUGIN = '''
"""Mean per-class accuracy: the classification file format, a headline where higher is better."""
from dataclasses import replace
from functools import partial

import numpy as np

from scorer.metrics import evaluate
from scorer.predictions import parse_predictions
from scorer.tasks import Column, Task


def _evaluate(predictions, truth, *, guesses, classes, bootstrap=1000, seed=0):
    result = evaluate(predictions, truth, task="classification", guesses=guesses, classes=classes,
                      bootstrap=bootstrap, seed=seed)
    accuracy = 1.0 - result.per_class  # per-class error at K; NaN for classes without images
    value = float(np.nanmean(accuracy))
    return replace(result, task="mean_class_accuracy", error=value, error_at_k=[value],
                   ci95=(value, value), per_class=accuracy)


TASK = Task(
    name="mean_class_accuracy",
    title="Mean per-class accuracy",
    file_format="As classification: one line per image with up to K class labels.",
    direction="higher",
    headline="mean per-class accuracy",
    columns=(Column("error", "Mean class accuracy ({k})", format="%.4f"),),
    parse=partial(parse_predictions, task="classification"),
    evaluate=_evaluate,
    paired=None,  # not a mean over images: entries are separated by their headline alone
    split_ok=False,
)
'''


def install_plugin(root: Path) -> Path:
    """An installed distribution as pip leaves it: the module and its dist-info with the
    entry point, on a folder that goes on sys.path (or PYTHONPATH)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "mpca_task.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "mpca_task-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mpca-task\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[ilsvrc_challenge.tasks]\nmean_class_accuracy = mpca_task:TASK\n")
    return root


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    root = install_plugin(tmp_path / "site")
    sys.path.insert(0, str(root))
    scorer.tasks.reload()
    try:
        yield root
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("mpca_task", None)
        scorer.tasks.reload()


def test_installed_task_is_found_in_a_fresh_process(plugin):
    # A worker started by the operator sees the package the same way (PYTHONPATH here,
    # site-packages after a pip install).
    code = ("import scorer.tasks as t; task = t.get('mean_class_accuracy'); "
            "print(task.direction, task.headline, sorted(t.names()))")
    env = {**os.environ, "PYTHONPATH": f"{plugin}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("higher mean per-class accuracy")
    assert "'mean_class_accuracy'" in out and "'detection'" in out


def test_a_task_that_is_not_a_task_is_refused(tmp_path):
    root = tmp_path / "bad"
    root.mkdir()
    (root / "bad_task.py").write_text("TASK = 'not a task'\n")
    info = root / "bad_task-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bad-task\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[ilsvrc_challenge.tasks]\nbad = bad_task:TASK\n")
    sys.path.insert(0, str(root))
    try:
        with pytest.raises(TypeError, match="entry point 'bad' of ilsvrc_challenge.tasks is not a"):
            scorer.tasks.reload()
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("bad_task", None)
        scorer.tasks.reload()


def _upload(client, data: bytes) -> int:
    response = client.post("/c/tiny2012/mpca/submissions", data={
        "file": (BytesIO(data), "preds.txt"), "method": "Net", "description": "d", "extra_data": "no",
        "phase": "val"}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(re.search(r"/submissions/(\d+)$", response.headers["Location"]).group(1))


def test_installed_task_runs_end_to_end_and_ranks_higher_first(plugin, app, client, db, redis, make_user,
                                                               make_challenge, make_team):
    challenge = make_challenge()
    organizer = make_user("boss@example.org", organizer=True)
    login(client, organizer)
    assert "mean_class_accuracy" in client.get(f"/admin/challenges/{challenge.id}/tracks/new").get_data(
        as_text=True)
    response = client.post(f"/admin/challenges/{challenge.id}/tracks/new",
                           data={"slug": "mpca", "title": "Mean class accuracy",
                                 "task": "mean_class_accuracy", "guesses": "1"})
    assert response.status_code == 302, response.get_data(as_text=True)
    track = db.scalar(select(Track).where(Track.slug == "mpca"))
    response = client.post(f"/admin/tracks/{track.id}/phases/new", data=upload_form(
        slug="val", title="Validation", opens="2014-01-01T00:00", closes="2099-01-01T00:00",
        quota_count="5", quota_period="day", leaderboard="public",
        labels=tiny_files()["labels.txt"]), content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert db.scalar(select(Phase).where(Phase.track_id == track.id)).images == 20
    client.post("/logout")

    # Every class has two of the 20 images: 5 wrong images leave a mean class accuracy of 0.75.
    ids = {}
    for name, wrong in (("Fives", 5), ("Perfect", 0), ("Tens", 10)):
        user = make_user(f"{name.lower()}@example.org")
        make_team(challenge, user, name=name)
        login(client, user)
        ids[name] = _upload(client, predictions(wrong))
        client.post("/logout")
    drain(app)
    db.expire_all()
    scores = {name: db.get(Submission, sid).score.error for name, sid in ids.items()}
    assert {n: db.get(Submission, sid).status for n, sid in ids.items()} == dict.fromkeys(ids, "scored")
    assert scores == {"Fives": 0.75, "Perfect": 1.0, "Tens": 0.5}

    api = client.get("/api/v1/challenges/tiny2012/tracks/mpca/leaderboard?phase=val").get_json()
    assert (api["direction"], api["headline"]) == ("higher", "mean per-class accuracy")
    assert [(e["rank"], e["team"], e["error"]) for e in api["entries"]] == [
        (1, "Perfect", 1.0), (2, "Fives", 0.75), (3, "Tens", 0.5)]
    assert [e["tie_group"] for e in api["entries"]] == [1, 2, 3]  # headlines differ, nothing paired
    page = client.get("/c/tiny2012/mpca?phase=val").get_data(as_text=True)
    assert "Mean class accuracy (top-1)" in page and "higher is better" in page
    assert page.index("Perfect") < page.index("Fives") < page.index("Tens")
    assert "1.0000" in page and "0.7500" in page
    # Sorting by the headline column is best first too.
    sorted_page = client.get("/c/tiny2012/mpca?phase=val&sort=error").get_data(as_text=True)
    assert sorted_page.index("Perfect") < sorted_page.index("Tens")
    csv_text = client.get("/c/tiny2012/mpca/leaderboard.csv?phase=val").get_data(as_text=True)
    assert csv_text.splitlines()[0].startswith("rank,tie_group,team,method,submitted_at,error,ci95_low")
    track_json = client.get("/api/v1/challenges/tiny2012").get_json()["tracks"]
    mine = next(t for t in track_json if t["slug"] == "mpca")
    assert mine["direction"] == "higher" and mine["columns"][0]["label"] == "Mean class accuracy ({k})"
    assert "mean_class_accuracy" in client.get("/api/v1/openapi.json").get_json()[
        "components"]["schemas"]["Track"]["properties"]["task"]["enum"]


def test_scorer_cli_scores_an_installed_task(plugin, tmp_path, capsys):
    from scorer import cli

    files = tiny_files()
    for name in ("classes.txt", "labels.txt"):
        (tmp_path / name).write_bytes(files[name])
    (tmp_path / "preds.txt").write_bytes(predictions(5))
    args = ["evaluate", "--task", "mean_class_accuracy", "--predictions", str(tmp_path / "preds.txt"),
            "--labels", str(tmp_path / "labels.txt"), "--classes", str(tmp_path / "classes.txt"),
            "--guesses", "1", "--json"]
    assert cli.main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["error"], out["direction"], out["headline"]) == (0.75, "higher", "mean per-class accuracy")
    assert cli.main([*args[:2], "nope", *args[3:]]) == 2
    assert "unknown task 'nope'" in capsys.readouterr().err
