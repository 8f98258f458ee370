"""ReaL labels on the platform: a phase's ReaL file (bundle key, console upload, truth
replacement, import-devkit --real), scored by the real worker, shown on the boards, the
exports, the API and the submission page, exact against ``scorer.real``; never shown."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from submit_helpers import api_upload, drain
from test_devkit import devkit_2012
from test_openapi import validator

import scorer
from challenge import rescoring, scoring, truth
from challenge.api.openapi import DOCUMENT
from challenge.bundles import BundleError, load_bundle
from challenge.devkit import DevkitError, ImportOptions, import_devkit
from challenge.export_bundle import write
from challenge.leaderboards.real import real_columns
from challenge.models import Challenge, Phase, RescoreRun, Score, Submission, Track
from challenge.tokens import create_token
from scorer.real import load_real, score_real
from tests.conftest import TINY_LABELS, TINY_WNIDS, tiny_files

#: The class list in reverse wnid order, so wnid-sorted ReaL index j is class id 10 - j:
#: the platform must map ReaL indices through the wnids, not take them as class ids.
REVERSED = list(reversed(TINY_WNIDS))
CLASSES = "".join(f"{w} class {i}\n" for i, w in enumerate(REVERSED, 1)).encode()
LABELS = "".join(f"{x}\n" for x in TINY_LABELS).encode()


def sorted_index(class_id: int) -> int:
    return sorted(TINY_WNIDS).index(REVERSED[class_id - 1])


def real_sets(shift: int = 1) -> list[list[int]]:
    """ReaL sets of the 20 tiny images (wnid-sorted indices): some empty, some with a second
    class, some without the original label."""
    out: list[list[int]] = []
    for i, label in enumerate(TINY_LABELS):
        other = label % 10 + shift if label % 10 + shift <= 10 else 1
        if i % 7 == 3:
            out.append([])
        elif i % 5 == 0:
            out.append(sorted({sorted_index(label), sorted_index(other)}))
        elif i % 6 == 1:
            out.append([sorted_index(other)])
        else:
            out.append([sorted_index(label)])
    return out


REAL = json.dumps(real_sets()).encode()
REAL_V2 = json.dumps(real_sets(shift=2)).encode()


def guesses(i: int, label: int) -> list[int]:
    offsets = ((0, 1, 2, 3, 4), (1, 2, 0, 3, 4), (3, 4, 5, 6, 7))[i % 3]
    return [(label - 1 + o) % 10 + 1 for o in offsets]


PREDICTIONS = "".join(" ".join(map(str, guesses(i, x))) + "\n" for i, x in enumerate(TINY_LABELS)).encode()
PERFECT = LABELS  # one guess per line, every one the original label


def documented(path: str, body: dict) -> list[str]:
    """What in ``body`` (a 200 answer of GET ``path``) the OpenAPI document does not allow."""
    schema = DOCUMENT["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    return [e.message for e in validator(schema).iter_errors(body)]


def expected(data: bytes, real: bytes = REAL) -> tuple[list[float], int]:
    """What scorer.real says, independently of the platform."""
    classes = scorer.load_classes(CLASSES)
    labels = load_real(real, classes, images=len(TINY_LABELS))
    parsed = scorer.parse_predictions(data, task="classification", guesses=5, classes=classes,
                                      images=len(TINY_LABELS))
    return score_real(parsed.labels, labels, 5)


TOML = """\
slug = "real2012"
year = 2012
title = "Tiny 2012"
classes = "classes.txt"

[[tracks]]
slug = "cls"
task = "classification"
guesses = 5

[[tracks.phases]]
slug = "val"
labels = "labels.txt"
{real}opens = 2012-01-01T00:00:00Z
closes = 2099-01-01T00:00:00Z
quota = "5/day"
{extra}
"""


def bundle(folder: Path, *, real: bytes | None = REAL, extra: str = "", task: str = "classification",
           files: dict[str, bytes] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    written = {"classes.txt": CLASSES, "labels.txt": LABELS, **(files or {})}
    if real is not None:
        written["real.json"] = real
    for name, data in written.items():
        (folder / name).write_bytes(data)
    text = TOML.format(real='real = "real.json"\n' if real is not None else "", extra=extra)
    (folder / "challenge.toml").write_text(text.replace('task = "classification"', f'task = "{task}"'))
    return folder


@pytest.fixture
def scored(app, db, redis, client, make_user, make_team, tmp_path):
    """The ReaL bundle loaded, two teams' uploads scored by the real worker."""
    challenge = load_bundle(bundle(tmp_path / "b"))
    users = [make_user("a@example.org"), make_user("b@example.org")]
    teams = [make_team(challenge, users[0], name="Team A"), make_team(challenge, users[1], name="Team B")]
    ids, tokens = [], [create_token(u) for u in users]
    for token, data in zip(tokens, (PREDICTIONS, PERFECT), strict=True):
        response = api_upload(client, token, data, slug="real2012")
        assert response.status_code == 202, response.get_json()
        ids.append(response.get_json()["id"])
    assert drain(app)
    db.remove()
    return {"challenge": db.get(Challenge, challenge.id), "ids": ids, "tokens": tokens,
            "teams": teams, "phase": db.get(Challenge, challenge.id).tracks[0].phases[0]}


def test_the_worker_scores_real_error_exactly_and_every_board_shows_it(app, db, client, scored):
    phase, (a_id, b_id) = scored["phase"], scored["ids"]
    assert phase.real_blob.data == REAL
    assert [c.title for c in real_columns(phase)] == ["ReaL top-1", "ReaL top-5"]
    want_a, want_b = expected(PREDICTIONS), expected(PERFECT)
    a, b = db.get(Submission, a_id), db.get(Submission, b_id)
    assert (a.status, b.status) == ("scored", "scored")
    assert a.score.details["real"] == {"error_at_k": want_a[0], "images": want_a[1]}
    assert b.score.details["real"] == {"error_at_k": want_b[0], "images": want_b[1]}
    # The ReaL numbers differ from the original ones (else the test could not tell them apart).
    assert b.score.error == 0.0 and want_b[0][0] > 0 and want_a[0][0] != a.score.error_at_k[0]
    assert want_a[1] == 20 - sum(1 for s in real_sets() if not s)

    api = client.get("/api/v1/challenges/real2012/tracks/cls/leaderboard").get_json()
    assert documented("/challenges/{slug}/tracks/{track_slug}/leaderboard", api) == []
    rows = {e["team"]: e for e in api["entries"]}
    assert rows["Team A"]["real_top1_error"] == want_a[0][0]
    assert rows["Team A"]["real_top5_error"] == want_a[0][4]
    assert rows["Team B"]["real_top1_error"] == want_b[0][0]

    download = client.get("/c/real2012/cls/leaderboard.json").get_json()
    assert {e["team"]: e["real_top5_error"] for e in download["entries"]} == {
        "Team A": want_a[0][4], "Team B": want_b[0][4]}

    text = client.get("/c/real2012/cls/leaderboard.csv").get_data(as_text=True)
    header = text.splitlines()[0].split(",")
    assert header[header.index("top1_error") + 1:header.index("top1_error") + 3] == [
        "real_top1_error", "real_top5_error"]
    table = {r["team"]: r for r in csv.DictReader(io.StringIO(text))}
    assert float(table["Team A"]["real_top1_error"]) == want_a[0][0]
    assert float(table["Team B"]["real_top5_error"]) == want_b[0][4]

    page = client.get("/c/real2012/cls").get_data(as_text=True)
    assert "sort=real_top1\">ReaL top-1</a></th>" in page and "sort=real_top5\">ReaL top-5</a></th>" in page
    assert f"{want_a[0][0]:.5f}" in page and f"{want_b[0][4]:.5f}" in page
    # The ReaL columns sort the board like the others (best first; ranks stay the headline's).
    for k, column in ((1, "real_top1"), (5, "real_top5")):
        by_real = client.get(f"/c/real2012/cls?sort={column}").get_data(as_text=True)
        assert f"ReaL top-{k} ▲</th>" in by_real
        table = by_real.split('id="leaderboard"', 1)[1]
        order = sorted(("Team A", "Team B"), key=lambda t: (want_a if t == "Team A" else want_b)[0][k - 1])
        assert table.index(order[0]) < table.index(order[1])


def test_the_submission_page_shows_both_errors_and_no_real_label(app, db, client, scored):
    a_id = scored["ids"][0]
    want = expected(PREDICTIONS)[0]
    login(client, "a@example.org")
    page = client.get(f"/submissions/{a_id}").get_data(as_text=True)
    assert "ReaL top-1 error" in page and f"{want[0]:.5f}" in page
    assert "ReaL top-5 error" in page and f"{want[4]:.5f}" in page
    score = db.get(Submission, a_id).score
    assert f"{score.error:.5f}" in page  # the original error beside it
    api = client.get(f"/api/v1/submissions/{a_id}",
                     headers={"Authorization": f"Bearer {scored['tokens'][0]}"}).get_json()
    assert api["scores"]["real_error_at_k"] == want
    assert documented("/submissions/{submission_id}", api) == []
    # Hidden ground truth: the ReaL file itself is on no page a participant can open.
    track_page = client.get("/c/real2012/cls").get_data(as_text=True)
    for text in (page, track_page, json.dumps(api)):
        assert REAL.decode() not in text and "real.json" not in text


def test_a_board_without_real_labels_has_no_real_columns(app, db, client, redis, make_user, make_team,
                                                         tmp_path):
    challenge = load_bundle(bundle(tmp_path / "plain", real=None))
    user = make_user()
    make_team(challenge, user)
    assert api_upload(client, create_token(user), PREDICTIONS, slug="real2012").status_code == 202
    assert drain(app)
    db.remove()
    score = db.scalar(select(Score))
    assert "real" not in score.details
    assert real_columns(db.get(Challenge, challenge.id).tracks[0].phases[0]) == ()
    assert "real_top1_error" not in client.get("/c/real2012/cls/leaderboard.csv").get_data(as_text=True)
    assert "ReaL" not in client.get("/c/real2012/cls").get_data(as_text=True)
    entry = client.get("/api/v1/challenges/real2012/tracks/cls/leaderboard").get_json()["entries"][0]
    assert not any(k.startswith("real_") for k in entry)


def test_bundle_key_real_is_checked_and_named(db, tmp_path):
    with pytest.raises(BundleError, match=r"phases\[0\]\.real: file 'real.json': expected 20 lists"):
        load_bundle(bundle(tmp_path / "short", real=json.dumps(real_sets()[:19]).encode()))
    with pytest.raises(BundleError, match=r"entry 2: a label index must be 0\.\.9"):
        load_bundle(bundle(tmp_path / "range", real=json.dumps([[0], [10]] + [[1]] * 18).encode()))
    with pytest.raises(BundleError, match="only classification tracks have ReaL labels"):
        load_bundle(bundle(tmp_path / "hier", task="localization",
                           files={"boxes.csv": tiny_files()["boxes.csv"]},
                           extra='boxes = "boxes.csv"'))
    with pytest.raises(BundleError, match="without a public/private split"):
        load_bundle(bundle(tmp_path / "split", extra="public_fraction = 0.5"))
    # The sample is public: the ReaL file may not be offered as one.
    with pytest.raises(BundleError, match="is a ground-truth file"):
        load_bundle(bundle(tmp_path / "sample", extra='sample = "real.json"'))
    assert db.scalar(select(Challenge)) is None


def test_export_writes_the_real_file_and_loads_back(db, tmp_path):
    challenge = load_bundle(bundle(tmp_path / "b"))
    out = tmp_path / "out"
    write(challenge, out)
    manifest = (out / "challenge.toml").read_text()
    assert 'real = "real.json"' in manifest and (out / "real.json").read_bytes() == REAL
    db.delete(challenge)
    db.commit()
    again = load_bundle(out)
    assert again.tracks[0].phases[0].real_blob.data == REAL


def login(client, email: str) -> None:
    assert client.post("/login", data={"email": email, "password": "password123"}).status_code == 302


def upload_form(**fields):
    return {k: (io.BytesIO(v), f"{k}.json") if isinstance(v, bytes) else v for k, v in fields.items()}


def test_console_phase_upload_with_real_labels(app, db, client, make_user, make_challenge):
    challenge = make_challenge()
    track = challenge.tracks[0]
    organizer = make_user("boss@example.org", organizer=True)
    login(client, organizer.email)
    # The tiny class list is in wnid order, so ReaL index j is class j + 1.
    real = json.dumps([[x - 1] for x in TINY_LABELS]).encode()
    common = dict(opens="2014-01-01T00:00", closes="2099-01-01T00:00", quota_count="2",
                  quota_period="day", leaderboard="public", labels=tiny_files()["labels.txt"])
    bad = client.post(f"/admin/tracks/{track.id}/phases/new", content_type="multipart/form-data",
                      data=upload_form(slug="val", real=b"[[0]]", **common))
    assert bad.status_code == 400 and "expected 20 lists" in bad.get_data(as_text=True)
    response = client.post(f"/admin/tracks/{track.id}/phases/new", content_type="multipart/form-data",
                           data=upload_form(slug="val", real=real, **common))
    assert response.status_code == 302, response.get_data(as_text=True)
    phase = db.scalar(select(Phase).where(Phase.track_id == track.id, Phase.slug == "val"))
    assert phase.real_blob.data == real
    assert "ReaL labels real.json" in client.get(f"/admin/phases/{phase.id}").get_data(as_text=True)
    assert scoring.score(tiny_files()["labels.txt"], phase).real_error_at_k == [0.0] * 5


def test_replacing_real_labels_is_a_truth_change_rescored_like_the_others(app, db, client, scored):
    phase, ids = scored["phase"], scored["ids"]
    phase_id = phase.id
    before = {i: db.get(Submission, i).score.details["real"] for i in ids}
    with pytest.raises(truth.TruthError, match="expected 20 lists"):
        truth.replace(phase, real=truth.TruthFile("bad.json", b"[[1]]"))
    version = truth.replace(phase, real=truth.TruthFile("real_v2.json", REAL_V2), note="ReaL fixed")
    db.remove()
    phase = db.get(Phase, phase_id)
    # Published scores stay on version 1 until the rescore is published.
    assert version.number == 2 and phase.truth_version == 1 and phase.real_blob.data == REAL
    assert {i: db.get(Submission, i).score.details["real"] for i in ids} == before

    run = rescoring.start(phase)
    assert drain(app)
    db.remove()
    assert rescoring.publish(db.get(RescoreRun, run.id), None) == 2
    db.remove()
    phase = db.get(Phase, phase_id)
    assert phase.truth_version == 2 and phase.real_blob.data == REAL_V2
    for sub_id, data in zip(ids, (PREDICTIONS, PERFECT), strict=True):
        want = expected(data, REAL_V2)
        assert db.get(Submission, sub_id).score.details["real"] == {"error_at_k": want[0], "images": want[1]}
    api = client.get("/api/v1/challenges/real2012/tracks/cls/leaderboard").get_json()
    top1 = {e["team"]: e["real_top1_error"] for e in api["entries"]}
    assert top1["Team A"] == expected(PREDICTIONS, REAL_V2)[0][0]

    # Dropping them is a version too; the board loses its ReaL columns once it is published.
    truth.replace(phase, drop_real=True)
    run = rescoring.start(db.get(Phase, phase_id))
    assert drain(app)
    db.remove()
    rescoring.publish(db.get(RescoreRun, run.id), None)
    db.remove()
    assert real_columns(db.get(Phase, phase_id)) == ()
    assert "real_top1_error" not in client.get("/c/real2012/cls/leaderboard.csv").get_data(as_text=True)


def test_console_truth_page_replaces_the_real_labels(app, db, client, make_user, scored):
    phase_id = scored["phase"].id
    organizer = make_user("boss@example.org", organizer=True)
    login(client, organizer.email)
    bad = client.post(f"/admin/phases/{phase_id}/truth", content_type="multipart/form-data",
                      data={"real": (io.BytesIO(b"{}"), "bad.json"), "note": ""})
    assert bad.status_code == 400 and "expected a JSON list" in bad.get_data(as_text=True)
    added = client.post(f"/admin/phases/{phase_id}/truth", content_type="multipart/form-data",
                        data={"real": (io.BytesIO(REAL_V2), "real_v2.json"), "note": "new ReaL"})
    assert added.status_code == 302
    page = client.get(f"/admin/phases/{phase_id}/truth").get_data(as_text=True)
    assert "real_v2.json" in page and "<th>ReaL</th>" in page
    db.remove()
    assert [v.real_blob.data if v.real_blob else None for v in truth.versions(db.get(Phase, phase_id))] == [
        REAL, REAL_V2]


def tiny_devkit(root: Path) -> Path:
    """A 2012-style devkit over the tiny classes (meta.mat written like the devkit's)."""
    from challenge.demo.metamat import Synset, meta_mat

    kit = root / "ILSVRC2012_devkit_t12"
    (kit / "data").mkdir(parents=True)
    synsets = [Synset(w, f"class {i}") for i, w in enumerate(REVERSED, 1)]
    (kit / "data" / "meta.mat").write_bytes(meta_mat(2012, synsets, with_costs=False))
    (kit / "data" / "ILSVRC2012_validation_ground_truth.txt").write_bytes(LABELS)
    return kit


def test_import_devkit_real_option(db, runner, tmp_path):
    kit = tiny_devkit(tmp_path)
    (tmp_path / "real.json").write_bytes(REAL)
    (tmp_path / "short.json").write_bytes(b"[[0]]")
    with pytest.raises(DevkitError, match=r"real: file 'real\.short\.json': expected 20 lists"):
        import_devkit(kit, ImportOptions(year=2012, real=tmp_path / "short.json"))
    with pytest.raises(DevkitError, match="--real .*missing.json: file not found"):
        import_devkit(kit, ImportOptions(year=2012, real=tmp_path / "missing.json"))
    out = runner.invoke(args=["import-devkit", str(kit), "--year", "2012",
                              "--real", str(tmp_path / "real.json")])
    assert out.exit_code == 0, out.output
    assert f"used ReaL labels: {tmp_path / 'real.json'}" in out.output
    cls = db.scalar(select(Track).where(Track.slug == "cls")).phases[0]
    assert cls.real_blob.data == REAL
    assert scoring.score(PREDICTIONS, cls).real_error_at_k == expected(PREDICTIONS)[0]


def test_import_devkit_real_2012_matches_the_readme(db, shared, tmp_path):
    kit = devkit_2012(shared, tmp_path)
    result = import_devkit(kit, ImportOptions(year=2012, real=shared / "2012" / "real.json",
                                              opens=datetime(2012, 5, 1, tzinfo=UTC)))
    cls = result.challenge.tracks[0].phases[0]
    assert cls.real_blob.data == (shared / "2012" / "real.json").read_bytes()
    scored = scoring.score(cls.sample_blob.data, cls)
    assert scored.real_images == 46_837
    assert scored.real_error_at_k == pytest.approx(
        [0.9987616627879667, 0.9975873775006939, 0.9966265986292888, 0.995345560134082,
         0.9940004697141149], abs=1e-12)


def test_a_new_real_file_alone_rewarms_the_worker(app, db, tmp_path):
    """The worker preloads ReaL labels like the ground truth; a version that changes only the
    ReaL file (no artifact key changes) is preloaded too, so horses never parse it."""
    from challenge.worker import make_worker

    phase = load_bundle(bundle(tmp_path / "b")).tracks[0].phases[0]
    worker = make_worker(app)
    worker.warm_up()
    assert worker.warm == {phase.id: scoring.warm_key(phase)}
    truth.replace(phase, real=truth.TruthFile("real_v2.json", REAL_V2))  # no scores: current at once
    db.remove()
    phase = db.get(Phase, phase.id)
    scoring._real_by_sha.cache_clear()
    worker.warm_up()
    assert worker.warm == {phase.id: scoring.warm_key(phase)}
    assert scoring._real_by_sha.cache_info().currsize == 1  # parsed by the worker, before any fork
    assert scoring.real_labels(phase).keys.size == sum(len(s) for s in real_sets(shift=2))
