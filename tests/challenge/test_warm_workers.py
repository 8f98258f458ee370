"""Warm workers: parsed ground truth kept as artifacts, and preloaded by the worker before
it forks. Real SQL, real Redis, a real forking ``challenge worker`` process."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select, update

import scorer
from challenge import artifacts, scoring, truth
from challenge.bundles import load_bundle
from challenge.db import read_only
from challenge.models import Phase, Submission, TruthArtifact
from challenge.submissions.service import submit
from challenge.worker import WARM_CHECK_EVERY, make_worker
from tests.conftest import TINY_LABELS, perfect_predictions

CLI = [sys.executable, "-c", "from challenge.cli import main; main()"]


@pytest.fixture(autouse=True)
def cold() -> None:
    """Every test starts as a fresh process would: nothing parsed in memory."""
    scoring._truth_by_sha.cache_clear()
    scoring._classes_by_sha.cache_clear()


def _loaded(work) -> tuple[object, Counter]:  # type: ignore[no-untyped-def]
    before = artifacts.loads.copy()
    value = work()
    return value, artifacts.loads - before


def _same(a: scorer.GroundTruth, b: scorer.GroundTruth) -> None:
    assert a.images == b.images
    for name in ("labels", "box_image", "box_label", "box_coords", "blacklist"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def _rows(db) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return dict(db.execute(select(TruthArtifact.kind, func.count()).group_by(TruthArtifact.kind)).all())


def test_the_first_load_parses_and_stores_the_artifact_and_the_next_process_loads_it(db, make_challenge):
    phase = make_challenge(task="localization").tracks[0].phases[0]
    parsed, how = _loaded(lambda: scoring.ground_truth(phase))
    assert how == Counter({("classes", "parsed"): 1, ("truth", "parsed"): 1})
    db.commit()
    assert _rows(db) == {"classes": 1, "truth": 1}

    scoring._truth_by_sha.cache_clear()  # as a new work horse
    scoring._classes_by_sha.cache_clear()
    loaded, how = _loaded(lambda: scoring.ground_truth(phase))
    assert how == Counter({("classes", "artifact"): 1, ("truth", "artifact"): 1})
    _same(loaded, parsed)
    # And the same process asks no one again.
    assert _loaded(lambda: scoring.ground_truth(phase))[1] == Counter()


def test_two_builders_racing_leave_one_row_and_no_error(db, make_challenge):
    phase = make_challenge(task="localization").tracks[0].phases[0]
    parsed = scoring.ground_truth(phase)
    db.commit()
    key = scoring.truth_fingerprint(phase)
    artifacts.remember_truth(*key, parsed)  # the second builder: its insert is ignored
    db.commit()
    scoring._truth_by_sha.cache_clear()
    scoring.ground_truth(phase)
    artifacts.remember_truth(*key, parsed)
    db.commit()
    assert _rows(db) == {"classes": 1, "truth": 1}


@pytest.mark.parametrize("damage", ["bytes", "another key", "format"])
def test_a_damaged_or_mismatched_artifact_is_rebuilt_not_trusted(db, make_challenge, damage):
    phase = make_challenge(task="localization").tracks[0].phases[0]
    parsed = scoring.ground_truth(phase)
    db.commit()
    key = artifacts.truth_key(*scoring.truth_fingerprint(phase))
    row = db.scalar(select(TruthArtifact).where(TruthArtifact.key == key))
    if damage == "bytes":  # the checksum column no longer matches
        data = row.data[:100] + bytes([row.data[100] ^ 0xFF]) + row.data[101:]
        sha = row.data_sha256
    else:  # a well-formed artifact, consistent with its checksum, but not this key's
        other = scorer.pack_ground_truth(scorer.GroundTruth(
            1, np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
            np.zeros((0, 4)), np.zeros(1, bool)), "someone else" if damage == "another key" else key)
        if damage == "format":
            other = other.replace(b"\x01\x00\x00\x00\x00\x00\x00\x00", b"\x09\x00\x00\x00\x00\x00\x00\x00", 1)
        data, sha = other, hashlib.sha256(other).hexdigest()
    db.execute(update(TruthArtifact).where(TruthArtifact.key == key).values(data=data, data_sha256=sha))
    db.commit()

    scoring._truth_by_sha.cache_clear()
    loaded, how = _loaded(lambda: scoring.ground_truth(phase))
    assert how[("truth", "parsed")] == 1 and how[("truth", "artifact")] == 0
    _same(loaded, parsed)
    db.commit()
    db.expire_all()
    fixed = db.scalar(select(TruthArtifact).where(TruthArtifact.key == key))
    assert hashlib.sha256(fixed.data).hexdigest() == fixed.data_sha256
    _same(scorer.unpack_ground_truth(fixed.data, key, classes=10), parsed)
    assert _rows(db) == {"classes": 1, "truth": 1}


def test_a_new_ground_truth_checksum_is_a_new_artifact_and_the_worker_reloads(app, db, make_challenge):
    phase = make_challenge().tracks[0].phases[0]
    worker = make_worker(app)
    worker.warm_up()
    old = scoring.truth_fingerprint(phase)
    assert worker.warm == {phase.id: scoring.warm_key(phase)}
    np.testing.assert_array_equal(scoring.ground_truth(phase).labels, np.array(TINY_LABELS) - 1)

    shifted = [label % 10 + 1 for label in TINY_LABELS]
    labels = "".join(f"{x}\n" for x in shifted).encode()
    truth.replace(phase, labels=truth.TruthFile("labels.v2.txt", labels), note="shifted")
    db.remove()
    phase = db.get(Phase, phase.id)
    assert phase.truth_version == 2 and scoring.truth_fingerprint(phase) != old
    assert _rows(db)["truth"] == 2  # the replacement stored the new version's artifact

    before = artifacts.loads.copy()
    worker.warm_up()
    assert worker.warm == {phase.id: scoring.warm_key(phase)}
    assert artifacts.loads - before == Counter({("truth", "artifact"): 1})  # loaded, not parsed
    loaded, how = _loaded(lambda: scoring.ground_truth(phase))
    assert how == Counter()  # the worker holds it now
    np.testing.assert_array_equal(loaded.labels, np.array(shifted) - 1)


def test_the_real_2012_truth_from_its_artifact_scores_like_parsing_from_scratch(db, bundle_2012, shared):
    challenge = load_bundle(bundle_2012)
    assert _rows(db) == {"classes": 1, "truth": 2}  # stored by the load: nobody parses again
    root = shared / "2012"
    classes = scorer.load_classes(root / "meta.mat")
    reference = scorer.load_ground_truth(classes, labels=root / "ILSVRC2012_validation_ground_truth.txt",
                                         boxes=root / "LOC_val_solution.csv")
    for track, name in (("cls", "demo.val.pred.txt"), ("loc", "demo.val.pred.det.txt")):
        phase = next(t for t in challenge.tracks if t.slug == track).phases[0]
        data = (root / name).read_bytes()
        result, how = _loaded(lambda phase=phase, data=data: scoring.score(data, phase))
        assert how[("truth", "artifact")] == 1 and not how[("truth", "parsed")]
        assert not how[("classes", "parsed")]
        task = phase.track.task
        expected = scorer.evaluate(
            scorer.parse_predictions(data, task=task, guesses=5, classes=classes, images=50_000),
            reference, task=task, guesses=5, classes=classes)
        assert result.error_at_k == expected.error_at_k and result.cls_error_at_k == expected.cls_error_at_k
        np.testing.assert_array_equal(result.outcomes, expected.outcomes)
    assert result.error_at_k[-1] == pytest.approx(0.9996, abs=5e-5)


# ---------------------------------------------------------------- a real forking worker

def _env(app) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = dict(os.environ)
    env.update(DATABASE_URL=app.config["DATABASE_URL"], REDIS_URL=app.config["REDIS_URL"],
               CHALLENGE_INSTANCE=app.config["CHALLENGE_INSTANCE"], SECRET_KEY=app.config["SECRET_KEY"])
    return env


def _scored(db, submission_id: int, proc: subprocess.Popen, timeout: float = 90) -> Submission:
    deadline = time.monotonic() + timeout
    while True:
        db.remove()
        with read_only():  # polling must not hold SQLite's write lock from the worker
            row = db.get(Submission, submission_id)
            db.commit()
        if row.status in ("scored", "failed"):
            return row
        assert proc.poll() is None, f"worker exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"submission {submission_id} is still {row.status}"
        time.sleep(0.1)


@pytest.mark.slow
def test_forked_jobs_inherit_the_preloaded_truth_of_new_and_changed_phases(
        app, db, redis, make_user, make_challenge, make_team, tmp_path: Path):
    user = make_user()
    first = make_challenge("warm2012")
    make_team(first, user)
    first_phase = first.tracks[0].phases[0]
    db.remove()
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([*CLI, "worker"], env=_env(app), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        sid = submit(user, first_phase, "p.txt", perfect_predictions("classification")).id
        row = _scored(db, sid, proc)
        assert row.status == "scored" and row.score.error == 0.0
        timings = row.score.details["timings"]
        assert timings["truth_from"] == "memory", timings  # the horse parsed nothing

        # A phase that opens while the worker runs, whose truth is then replaced. The
        # worker's preload writes the new phase's artifact meanwhile, so these writes take
        # SQLite's write lock when they begin (as a request would), not halfway through a
        # deferred transaction that another process's commit has made stale.
        db.remove()
        with read_only(False):
            second = make_challenge("warm2013", task="localization", track_slug="loc")
            make_team(second, user)
            second_phase = db.get(Phase, second.tracks[0].phases[0].id)
            shifted = "".join(f"{label % 10 + 1}\n" for label in TINY_LABELS).encode()
            truth.replace(second_phase, labels=truth.TruthFile("labels.v2.txt", shifted))
            db.remove()
        second_phase = db.get(Phase, second_phase.id)
        time.sleep(WARM_CHECK_EVERY)  # the worker looks at the open phases this often at most
        sid = submit(user, second_phase, "p.txt", perfect_predictions("localization")).id
        row = _scored(db, sid, proc)
        assert row.status == "scored", row.error
        assert row.score.details["timings"]["truth_from"] == "memory"
        assert row.score.cls_error == 1.0  # scored against the replaced labels, not the first ones
        assert row.score.truth_version == 2
        text = log_path.read_text()
        assert text.count("open phase(s) loaded") >= 2, text  # at start, then for the new phase
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
