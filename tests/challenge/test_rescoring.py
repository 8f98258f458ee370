"""Versioned ground truth and rescoring: replace, rescore (real RQ jobs), preview, publish, roll back."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import func, select
from submit_helpers import drain

from challenge import quota, rescoring, truth
from challenge.leaderboards import service as boards
from challenge.models import (
    AuditEntry,
    Blob,
    Phase,
    RescoreItem,
    RescoreRun,
    Score,
    Submission,
    TruthVersion,
    User,
    utcnow,
)
from challenge.submissions.service import Metadata, submit
from challenge.tokens import create_token
from tests.conftest import TINY_LABELS

#: Version 2 of the tiny labels: the first six images change class.
V2_LABELS = [(x % 10) + 1 for x in TINY_LABELS[:6]] + TINY_LABELS[6:]


def lines(labels: list[int]) -> bytes:
    return "".join(f"{x}\n" for x in labels).encode()


def labels_file(labels: list[int]) -> truth.TruthFile:
    return truth.TruthFile("labels_v2.txt", lines(labels))


@pytest.fixture
def board(app, db, redis, make_user, make_challenge, make_team):
    """A phase where team A is right on version 1, team B on version 2, and team C in between."""
    challenge = make_challenge()
    phase = challenge.tracks[0].phases[0]
    organizer = make_user("boss@example.org", organizer=True)
    users = {name: make_user(f"{name.lower()}@example.org") for name in "ABC"}
    teams = {name: make_team(challenge, users[name], name=f"Team {name}") for name in "ABC"}
    half = TINY_LABELS[:3] + V2_LABELS[3:]  # 3 of the 20 wrong on either version
    subs = {
        "A": submit(users["A"], phase, "a.txt", lines(TINY_LABELS), Metadata(method="a")),
        "B": submit(users["B"], phase, "b.txt", lines(V2_LABELS), Metadata(method="b")),
        "C": submit(users["C"], phase, "c.txt", lines(half), Metadata(method="c")),
    }
    ids = {k: s.id for k, s in subs.items()}
    assert drain(app)
    db.remove()  # the jobs ran in this process; read what they committed
    assert [db.get(Submission, i).status for i in ids.values()] == ["scored"] * 3
    return {"phase": db.get(Phase, phase.id), "organizer": db.merge(organizer),
            "teams": {k: db.merge(t) for k, t in teams.items()}, "subs": ids,
            "challenge": db.merge(challenge)}


def ranks(phase: Phase) -> dict[str, int | None]:
    return {e.team: e.rank for e in boards.ranked(phase)}


def fresh_phase(db, phase_id: int) -> Phase:
    db.remove()
    return db.get(Phase, phase_id)


def actions(db) -> list[str]:
    return list(db.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_replacing_truth_adds_a_version_and_old_scores_stay_on_version_1(db, board):
    phase, organizer = board["phase"], board["organizer"]
    before = ranks(phase)
    assert before == {"Team A": 1, "Team C": 2, "Team B": 3}
    old_labels = phase.labels_blob_id

    version = truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer, note="six labels fixed")

    phase = fresh_phase(db, phase.id)
    assert version.number == 2 and version.images == 20 and version.note == "six labels fixed"
    assert [v.number for v in truth.versions(phase)] == [1, 2]
    # The phase keeps its published truth until a rescore against version 2 is published.
    assert phase.truth_version == 1 and phase.labels_blob_id == old_labels
    assert truth.scores_by_version(phase) == {1: 3}
    assert ranks(phase) == before
    stored = db.scalar(select(TruthVersion).where(TruthVersion.phase_id == phase.id,
                                                  TruthVersion.number == 1))
    assert stored is not None and stored.labels_blob_id == old_labels
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "truth.replace"))
    assert entry.actor_id == organizer.id and entry.target == f"phase:{phase.id}"
    assert entry.before["version"] == 1 and entry.after["version"] == 2 and entry.note == "six labels fixed"


def test_a_phase_without_scores_moves_to_the_new_version_at_once(db, make_challenge):
    phase = make_challenge().tracks[0].phases[0]
    truth.replace(phase, labels=labels_file(V2_LABELS))
    phase = fresh_phase(db, phase.id)
    assert phase.truth_version == 2
    assert db.get(Blob, phase.labels_blob_id).data == lines(V2_LABELS)


def test_bad_or_unchanged_truth_is_refused_and_nothing_changes(db, board):
    phase = board["phase"]
    bad = TINY_LABELS[:5] + [99] + TINY_LABELS[6:]
    with pytest.raises(truth.TruthError, match="line 6"):
        truth.replace(phase, labels=labels_file(bad))
    with pytest.raises(truth.TruthError, match="version 1's, the current one"):
        truth.replace(phase, labels=labels_file(TINY_LABELS))
    with pytest.raises(truth.TruthError, match="only localization or detection tracks have boxes"):
        truth.replace(phase, boxes=truth.TruthFile("b.csv", b"ImageId,PredictionString\n"))
    with pytest.raises(truth.TruthError, match="nothing to replace"):
        truth.replace(phase)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(TruthVersion)) == 0
    assert "truth.replace" not in actions(db)


def test_rescore_phase_preview_publish_and_roll_back(app, db, board):
    phase, organizer, subs = board["phase"], board["organizer"], board["subs"]
    before = ranks(phase)
    old_scores = {k: db.get(Submission, i).score.id for k, i in subs.items()}
    truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)

    run = rescoring.start(phase, actor=organizer)
    run_id = run.id
    assert run.version == 2 and run.submission_id is None
    state = rescoring.progress(run)
    assert (state.total, state.queued, state.done, state.finished) == (3, 3, 0, False)

    drain(app)
    db.remove()
    run = db.get(RescoreRun, run.id)
    state = rescoring.progress(run)
    assert (state.total, state.scored, state.failed, state.percent) == (3, 3, 0, 100)
    # Candidates are computed but nothing published changed.
    assert ranks(phase) == before
    assert {k: db.get(Submission, i).score.id for k, i in subs.items()} == old_scores

    changes = {c.team: c for c in rescoring.preview(run)}
    assert (changes["Team A"].old_rank, changes["Team A"].new_rank) == (1, 3)
    assert (changes["Team B"].old_rank, changes["Team B"].new_rank) == (3, 1)
    assert changes["Team B"].old_error == pytest.approx(0.3) and changes["Team B"].new_error == 0.0
    assert changes["Team A"].moved == -2 and changes["Team B"].moved == 2

    assert rescoring.publish(run, organizer) == 3
    phase = fresh_phase(db, phase.id)
    assert ranks(phase) == {"Team B": 1, "Team C": 2, "Team A": 3}
    assert phase.truth_version == 2 and db.get(Blob, phase.labels_blob_id).data == lines(V2_LABELS)
    assert truth.scores_by_version(phase) == {2: 3}
    # The version-1 results are kept, detached, for a rollback.
    for key, score_id in old_scores.items():
        kept = db.get(Score, score_id)
        assert kept.submission_id is None and kept.for_submission_id == subs[key]
        assert kept.truth_version == 1

    assert rescoring.rollback(db.get(RescoreRun, run_id), organizer) == 3
    phase = fresh_phase(db, phase.id)
    assert ranks(phase) == before
    assert phase.truth_version == 1 and db.get(Blob, phase.labels_blob_id).data == lines(TINY_LABELS)
    assert {k: db.get(Submission, i).score.id for k, i in subs.items()} == old_scores
    assert db.get(RescoreRun, run_id).status == "rolled-back"
    assert actions(db)[-4:] == ["truth.replace", "rescore.start", "rescore.publish", "rescore.rollback"]
    with pytest.raises(rescoring.RescoreError, match="only a published run"):
        rescoring.rollback(db.get(RescoreRun, run_id), organizer)


def test_rescore_one_submission(app, db, board):
    phase, organizer, subs = board["phase"], board["organizer"], board["subs"]
    scores = {k: db.get(Submission, i).score.id for k, i in subs.items()}
    target = db.get(Submission, subs["C"])
    run = rescoring.start(phase, submission=target, actor=organizer)
    assert run.version == 1 and rescoring.progress(run).total == 1
    drain(app)
    db.remove()
    assert rescoring.publish(db.get(RescoreRun, run.id), organizer) == 1
    db.expire_all()
    now = {k: db.get(Submission, i).score.id for k, i in subs.items()}
    assert now["C"] != scores["C"] and now["A"] == scores["A"] and now["B"] == scores["B"]
    assert db.get(Submission, subs["C"]).score.error == pytest.approx(0.15)
    rescoring.rollback(db.get(RescoreRun, run.id), organizer)
    db.expire_all()
    assert db.get(Submission, subs["C"]).score.id == scores["C"]

    truth.replace(phase, labels=labels_file(V2_LABELS))
    with pytest.raises(rescoring.RescoreError, match="rescore the whole phase"):
        rescoring.start(fresh_phase(db, phase.id), version=2, submission=db.get(Submission, subs["C"]))


def test_rescoring_uses_no_quota_and_creates_no_submission(app, db, board):
    phase, organizer = board["phase"], board["organizer"]
    now = utcnow()
    used = {k: quota.status(phase, t, now).used for k, t in board["teams"].items()}
    rows = db.execute(select(Submission.id, Submission.status, Submission.attempts,
                             Submission.quota_slot)).all()
    truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)
    run = rescoring.start(phase, actor=organizer)
    drain(app)
    db.remove()
    rescoring.publish(db.get(RescoreRun, run.id), organizer)
    db.expire_all()
    phase = fresh_phase(db, phase.id)
    assert {k: quota.status(phase, t, now).used for k, t in board["teams"].items()} == used
    assert db.execute(select(Submission.id, Submission.status, Submission.attempts,
                             Submission.quota_slot)).all() == rows


def test_a_rescore_failing_midway_keeps_the_published_scores(app, db, board):
    phase, organizer, subs = board["phase"], board["organizer"], board["subs"]
    before = ranks(phase)
    scores = {k: db.get(Submission, i).score.id for k, i in subs.items()}
    truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)
    lost = db.get(Submission, subs["B"])
    (Path(app.config["UPLOAD_FOLDER"]) / lost.stored_path).rename(Path(app.config["UPLOAD_FOLDER"]) / "aside")
    run = rescoring.start(phase, actor=organizer)
    drain(app)
    db.remove()
    state = rescoring.progress(run)
    assert (state.scored, state.failed, state.finished) == (2, 1, True)
    [failed] = rescoring.failures(db.get(RescoreRun, run.id))
    assert failed.submission_id == subs["B"] and failed.error == rescoring.MISSING_FILE

    with pytest.raises(rescoring.RescoreError, match="1 of the run's submissions could not be rescored"):
        rescoring.publish(run, organizer)
    db.expire_all()
    assert ranks(phase) == before and fresh_phase(db, phase.id).truth_version == 1
    assert {k: db.get(Submission, i).score.id for k, i in subs.items()} == scores
    # The competitor's submission is untouched: no error, still scored.
    lost = db.get(Submission, subs["B"])
    assert lost.status == "scored" and lost.error is None

    # Fixed: the failed item is queued again, and then the run publishes.
    (Path(app.config["UPLOAD_FOLDER"]) / "aside").rename(Path(app.config["UPLOAD_FOLDER"]) / lost.stored_path)
    assert rescoring.fill(db.get(RescoreRun, run.id), organizer) == 1
    assert actions(db)[-1] == "rescore.fill"
    drain(app)
    db.remove()
    assert rescoring.progress(run).scored == 3
    rescoring.publish(db.get(RescoreRun, run.id), organizer)
    assert ranks(fresh_phase(db, phase.id))["Team B"] == 1


def test_an_internal_error_is_recorded_for_organizers_only(app, db, client, board):
    phase, organizer, subs = board["phase"], board["organizer"], board["subs"]
    version = truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)
    # Corrupt version 2's labels behind the checks' back: the job fails, the secret stays hidden.
    blob = db.get(Blob, version.labels_blob_id)
    blob.data = b"SECRET-LABEL-TOKEN\n" * 20
    blob.sha256 = "0" * 64
    db.commit()
    run_id = rescoring.start(phase, actor=organizer).id
    drain(app)
    db.remove()
    run = db.get(RescoreRun, run_id)
    assert rescoring.progress(run).failed == 3
    assert [item.error[:15] for item in rescoring.failures(run)] == ["internal error:"] * 3
    for submission_id in subs.values():
        submission = db.get(Submission, submission_id)
        assert submission.status == "scored" and submission.error is None
        assert submission.score.truth_version == 1
    # The team sees its published result and nothing of the failed rescore.
    login(client, "a@example.org")
    token = create_token(db.scalar(select(User).where(User.email == "a@example.org")))
    for url in (f"/submissions/{subs['A']}", f"/submissions/{subs['A']}/status.json",
                f"/api/v1/submissions/{subs['A']}"):
        page = client.get(url, headers={"Authorization": f"Bearer {token}"} if "api" in url else {})
        assert page.status_code == 200, url
        text = page.get_data(as_text=True)
        assert "SECRET" not in text and "internal error" not in text and "rescore" not in text.lower()


def test_submissions_scored_after_the_run_started_must_be_rescored_before_publishing(
        app, db, board, make_user, make_team):
    phase, organizer = board["phase"], board["organizer"]
    truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)
    run = rescoring.start(phase, actor=organizer)
    assert rescoring.missing(run) == []  # queued is not missing
    drain(app)
    late_user = make_user("late@example.org")
    make_team(board["challenge"], late_user, name="Team D")
    late = submit(late_user, phase, "d.txt", lines(V2_LABELS))
    drain(app)
    db.remove()
    with pytest.raises(rescoring.RescoreError, match=rf"ids {late.id}\)"):
        rescoring.publish(db.get(RescoreRun, run.id), organizer)
    assert [late.id] == rescoring.missing(db.get(RescoreRun, run.id))
    assert rescoring.fill(db.get(RescoreRun, run.id), organizer) == 1
    drain(app)
    db.remove()
    assert rescoring.publish(db.get(RescoreRun, run.id), organizer) == 4
    assert db.get(Submission, late.id).score.truth_version == 2


def test_discarding_a_run_drops_its_candidates(app, db, board):
    phase, organizer = board["phase"], board["organizer"]
    truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)
    run = rescoring.start(phase, actor=organizer)
    drain(app)
    db.remove()
    assert db.scalar(select(func.count()).select_from(Score)) == 6
    rescoring.discard(db.get(RescoreRun, run.id), organizer)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Score)) == 3
    assert db.get(RescoreRun, run.id).status == "discarded"
    assert db.scalar(select(func.count()).select_from(RescoreItem)) == 3
    with pytest.raises(rescoring.RescoreError, match="only an open run can be published"):
        rescoring.publish(db.get(RescoreRun, run.id), organizer)
    assert actions(db)[-1] == "rescore.discard"


# ---------------------------------------------------------------- console


def login(client, email, password="password123"):
    assert client.post("/login", data={"email": email, "password": password}).status_code == 302


def test_console_pages_are_404_for_everyone_but_organizers(app, client, db, board):
    phase_id = board["phase"].id
    run_id = rescoring.start(board["phase"], actor=board["organizer"]).id
    gets = ["/admin/truth", f"/admin/phases/{phase_id}/truth", f"/admin/rescore/{run_id}"]
    posts = [f"/admin/phases/{phase_id}/truth", f"/admin/phases/{phase_id}/rescore",
             f"/admin/rescore/{run_id}/publish", f"/admin/rescore/{run_id}/discard"]
    for who in (None, "a@example.org"):
        if who:
            login(client, who)
        assert [client.get(url).status_code for url in gets] == [404] * 3
        assert [client.post(url).status_code for url in posts] == [404] * 4
    db.remove()
    assert db.get(RescoreRun, run_id).status == "open"
    assert actions(db) == ["rescore.start"]


def test_console_replace_rescore_preview_publish_and_roll_back(app, client, db, board):
    phase_id = board["phase"].id
    login(client, "boss@example.org")
    assert "Ground truth and rescoring" in client.get("/admin/").get_data(as_text=True)
    page = client.get("/admin/truth").get_data(as_text=True)
    assert f"/admin/phases/{phase_id}/truth" in page and "tiny2012/cls/test" in page

    bad = client.post(f"/admin/phases/{phase_id}/truth", content_type="multipart/form-data",
                      data={"labels": (BytesIO(b"1\nxyz\n"), "bad.txt"), "note": "oops"})
    assert bad.status_code == 400 and "line 2" in bad.get_data(as_text=True)
    added = client.post(f"/admin/phases/{phase_id}/truth", content_type="multipart/form-data",
                        data={"labels": (BytesIO(lines(V2_LABELS)), "labels_v2.txt"), "note": "fixed"})
    assert added.status_code == 302
    page = client.get(f"/admin/phases/{phase_id}/truth").get_data(as_text=True)
    assert "labels_v2.txt" in page and "Current version: <strong>1</strong>" in page

    started = client.post(f"/admin/phases/{phase_id}/rescore", data={"version": "2", "submission": ""})
    assert started.status_code == 302
    run_url = started.headers["Location"]
    page = client.get(run_url).get_data(as_text=True)
    assert "0 of 3 done" in page and 'http-equiv="refresh"' in page and "not in this run" not in page
    # Destructive actions carry the danger style; the others the plain one.
    assert '<button type="submit" id="discard" class="danger">Discard</button>' in page
    assert '<button type="submit" id="publish">Publish</button>' in page

    drain(app)
    db.remove()
    page = client.get(run_url).get_data(as_text=True)
    assert "3 of 3 done" in page and 'http-equiv="refresh"' not in page
    assert "Preview" in page and "+2" in page and "-2" in page

    assert client.post(run_url + "/publish").status_code == 302
    db.remove()
    assert ranks(db.get(Phase, phase_id))["Team B"] == 1
    assert '<button type="submit" id="rollback" class="danger">Roll back</button>' in \
        client.get(run_url).get_data(as_text=True)
    assert client.post(run_url + "/rollback").status_code == 302
    db.remove()
    assert ranks(db.get(Phase, phase_id))["Team A"] == 1
    page = client.get(run_url).get_data(as_text=True)
    assert "rolled-back" in page and "replacing version 1" in page
    assert actions(db)[-4:] == ["truth.replace", "rescore.start", "rescore.publish", "rescore.rollback"]


# ---------------------------------------------------------------- command line


def test_command_line_replace_rescore_publish_and_roll_back(app, db, runner, board, tmp_path):
    phase_id = board["phase"].id
    new = tmp_path / "labels_v2.txt"
    new.write_bytes(lines(V2_LABELS))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"1\nabc\n")

    out = runner.invoke(args=["truth", "replace", "tiny2012/cls/nope", "--labels", str(new)])
    assert out.exit_code != 0 and "has no phase 'nope'" in out.output
    out = runner.invoke(args=["truth", "replace", "tiny2012/cls/test", "--labels", str(bad)])
    assert out.exit_code != 0 and "ground truth not replaced" in out.output
    out = runner.invoke(args=["truth", "replace", "tiny2012/cls/test", "--labels", str(new), "--note", "fix"])
    assert out.exit_code == 0, out.output
    assert "version 2 added; published scores stay on version 1" in out.output
    out = runner.invoke(args=["truth", "list", "tiny2012/cls/test"])
    assert "* version 1: 20 images" in out.output and "  version 2: 20 images; labels_v2.txt" in out.output

    out = runner.invoke(args=["rescore", "start", "tiny2012/cls/test"])
    assert out.exit_code == 0, out.output
    run_id = int(out.output.split()[2])
    assert "0 of 3 done" in runner.invoke(args=["rescore", "status", str(run_id)]).output
    drain(app)
    db.remove()
    out = runner.invoke(args=["rescore", "status", str(run_id)])
    assert "3 of 3 done" in out.output and "Team B: 3 -> 1 (0.30000 -> 0.00000)" in out.output

    out = runner.invoke(args=["rescore", "publish", str(run_id)])
    assert out.exit_code == 0 and "published (3 scores)" in out.output
    db.remove()
    assert ranks(db.get(Phase, phase_id))["Team B"] == 1
    assert f"run {run_id}: tiny2012/cls/test, whole phase, version 2, published" in runner.invoke(
        args=["rescore", "list"]).output
    out = runner.invoke(args=["rescore", "rollback", str(run_id)])
    assert out.exit_code == 0 and "rolled back (3 scores restored)" in out.output
    db.remove()
    assert ranks(db.get(Phase, phase_id))["Team A"] == 1
    out = runner.invoke(args=["rescore", "publish", str(run_id)])
    assert out.exit_code != 0 and "only an open run can be published" in out.output
    entries = db.scalars(select(AuditEntry).where(AuditEntry.action.like("rescore.%"))).all()
    assert [(e.action, e.actor_id) for e in entries] == [
        ("rescore.start", None), ("rescore.publish", None), ("rescore.rollback", None)]


def test_rollback_queues_submissions_scored_on_the_withdrawn_version_again(
        app, db, board, make_user, make_team):
    phase, organizer = board["phase"], board["organizer"]
    truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)
    run_id = rescoring.start(phase, actor=organizer).id
    drain(app)
    db.remove()
    rescoring.publish(db.get(RescoreRun, run_id), organizer)
    db.remove()
    late_user = make_user("late@example.org")
    make_team(db.get(Phase, phase.id).track.challenge, late_user, name="Team D")
    late_id = submit(late_user, db.get(Phase, phase.id), "d.txt", lines(V2_LABELS)).id
    drain(app)
    db.remove()
    assert db.get(Submission, late_id).score.truth_version == 2
    assert db.get(Submission, late_id).score.error == 0.0

    rescoring.rollback(db.get(RescoreRun, run_id), organizer)
    db.remove()
    late = db.get(Submission, late_id)
    assert late.status == "queued" and late.score.truth_version == 2  # kept until rescored
    drain(app)
    db.remove()
    late = db.get(Submission, late_id)
    assert late.status == "scored" and late.score.truth_version == 1
    assert late.score.error == pytest.approx(0.3)
    assert truth.scores_by_version(db.get(Phase, phase.id)) == {1: 4}


def test_preview_of_a_split_phase_covers_both_boards(app, db, client, board):
    phase, organizer = board["phase"], board["organizer"]
    phase.public_fraction = 0.5
    db.commit()
    truth.replace(phase, labels=labels_file(V2_LABELS), actor=organizer)
    run_id = rescoring.start(db.get(Phase, phase.id), actor=organizer).id
    drain(app)
    db.remove()
    run = db.get(RescoreRun, run_id)
    for name in ("public", "private"):
        changes = rescoring.preview(run, name)
        assert {c.team for c in changes} == {"Team A", "Team B", "Team C"}
        assert {c.team: c.new_error for c in changes}["Team B"] == 0.0
    login(client, "boss@example.org")
    page = client.get(f"/admin/rescore/{run_id}").get_data(as_text=True)
    assert "(public board)" in page and "(private board)" in page
