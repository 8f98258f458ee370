"""Detection (ILSVRC DET, mean AP) on the platform: a bundle with the devkit's files, uploads
through the web form, a real RQ worker, a board sorted by mean AP with paired-bootstrap tie
groups and the "categories won" ranking. A subset of det-sample (200 images) keeps it fast."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from submit_helpers import drain
from test_admin import login, upload_form

from challenge import scoring
from challenge.bundles import load_bundle
from challenge.models import Challenge, Submission, Track
from scorer import detection

IMAGES = 200

TOML = """\
slug = "det2013"
year = 2013
title = "DET 2013"
classes = "meta_det.mat"

[[tracks]]
slug = "det"
title = "Object detection"
task = "detection"

[[tracks.phases]]
slug = "val"
title = "Validation"
labels = "val.txt"
boxes = "xml.tar.gz"
blacklist = "blacklist.txt"
opens = 2013-05-01T00:00:00Z
closes = 2099-01-01T00:00:00Z
quota = "10/day"
leaderboard = "public"
"""


@pytest.fixture
def det_bundle(shared: Path, tmp_path: Path) -> dict:
    source = shared / "det-sample"
    val = b"".join(source.joinpath("val.txt").read_bytes().splitlines(keepends=True)[:IMAGES])
    ids = {int(line.split()[1]) for line in val.splitlines()}
    blacklist = [line for line in source.joinpath("blacklist.txt").read_bytes().splitlines()
                 if int(line.split()[0]) in ids]
    preds = [line for line in source.joinpath("pred.txt").read_bytes().splitlines()
             if int(line.split()[0]) in ids]
    folder = tmp_path / "bundle"
    folder.mkdir()
    files = {"val.txt": val, "blacklist.txt": b"\n".join(blacklist) + b"\n",
             "meta_det.mat": source.joinpath("meta_det.mat").read_bytes(),
             "xml.tar.gz": source.joinpath("xml.tar.gz").read_bytes()}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    (folder / "challenge.toml").write_text(TOML)
    return {"folder": folder, "files": files, "preds": preds}


def _expected(files: dict, lines: list[bytes]) -> float:
    images = detection.load_image_list(files["val.txt"])
    classes = detection.load_det_classes(files["meta_det.mat"])
    truth = detection.load_det_truth(images, classes, files["xml.tar.gz"], files["blacklist.txt"])
    dets = detection.parse_detections(b"\n".join(lines) + b"\n", images=images, classes=len(classes))
    return detection.evaluate_detection(dets, truth, bootstrap=0).score


def _upload(client, data: bytes):
    return client.post("/c/det2013/det/submissions", data={
        "file": (BytesIO(data), "dets.txt"), "method": "Net", "description": "d", "extra_data": "no",
        "phase": "val"}, content_type="multipart/form-data")


def test_detection_track_end_to_end(det_bundle, app, client, db, redis, make_user, make_team):
    challenge = load_bundle(det_bundle["folder"])
    assert challenge.tracks[0].phases[0].images == IMAGES
    preds = det_bundle["preds"]
    files = {"Full": preds, "Half": preds[::2], "Quarter": preds[::4]}
    ids = {}
    for name, lines in files.items():
        user = make_user(f"{name.lower()}@example.org")
        make_team(challenge, user, name=name)
        login(client, user)
        response = _upload(client, b"\n".join(lines) + b"\n")
        assert response.status_code == 302, response.get_data(as_text=True)
        ids[name] = int(re.search(r"/submissions/(\d+)$", response.headers["Location"]).group(1))
        if name == "Quarter":
            # A detection on an image that is not in the list is refused at once, with its line.
            bad = _upload(client, b"999999 1 0.5 0 0 10 10\n")
            page = bad.get_data(as_text=True) if bad.status_code == 200 else \
                client.get(bad.headers["Location"]).get_data(as_text=True)
            assert "line 1" in page and "image id not in the image list" in page
        client.post("/logout")
    drain(app)
    db.expire_all()
    for name, sid in ids.items():
        score = db.get(Submission, sid).score
        assert db.get(Submission, sid).status == "scored"
        assert score.error == pytest.approx(_expected(det_bundle["files"], files[name]), abs=1e-12)
        assert score.ci_low < score.error < score.ci_high

    api = client.get("/api/v1/challenges/det2013/tracks/det/leaderboard?phase=val").get_json()
    assert (api["direction"], api["headline"]) == ("higher", "mean AP")
    entries = api["entries"]
    assert [e["team"] for e in entries] == ["Full", "Half", "Quarter"]
    assert entries[0]["error"] > entries[1]["error"] > entries[2]["error"]
    # The paired bootstrap of mean AP: halving the detections is a real loss.
    assert entries[1]["vs_above"]["difference"] < 0 and entries[1]["vs_above"]["significant"]
    assert entries[1]["vs_above"]["ci95"][1] < 0
    assert [e["tie_group"] for e in entries][:2] == [1, 2]

    page = client.get("/c/det2013/det?phase=val").get_data(as_text=True)
    assert "Mean AP" in page and "higher is better" in page
    assert page.index(">Full<") < page.index(">Half<") < page.index(">Quarter<")

    # Per-class AP on the validation phase's submission page, worst class first.
    user = db.get(Submission, ids["Full"]).team.memberships[0].user
    login(client, user)
    shown = client.get(f"/submissions/{ids['Full']}").get_data(as_text=True)
    assert "Per-class mean AP" in shown and 'id="per-class"' in shown
    per_class = detection.evaluate_detection(
        detection.parse_detections(b"\n".join(preds) + b"\n",
                                   images=detection.load_image_list(det_bundle["files"]["val.txt"]),
                                   classes=200),
        detection.load_det_truth(detection.load_image_list(det_bundle["files"]["val.txt"]),
                                 detection.load_det_classes(det_bundle["files"]["meta_det.mat"]),
                                 det_bundle["files"]["xml.tar.gz"], det_bundle["files"]["blacklist.txt"]),
        bootstrap=0).ap_per_class
    worst = int(np.nanargmin(per_class))
    rows = re.findall(r'<td class="num">(\d+)</td>\s*<td class="num" data-value', shown)
    assert int(rows[0]) == worst + 1

    # ILSVRC's second DET ranking: categories won, selectable like the other rankings.
    assert api["rankings"] == ["all", "categories"]
    won = {e["team"]: e["categories_won"] for e in entries}
    positives = int(np.isfinite(per_class).sum())
    assert sum(won.values()) >= positives and all(w is not None for w in won.values())
    by_cat = client.get("/api/v1/challenges/det2013/tracks/det/leaderboard?phase=val&ranking=categories"
                        ).get_json()["entries"]
    assert [e["categories_won"] for e in by_cat] == sorted(won.values(), reverse=True)
    assert by_cat[0]["rank"] == 1 and by_cat[0]["vs_above"] is None
    page = client.get("/c/det2013/det?phase=val").get_data(as_text=True)
    assert "Categories won" in page and "ranking=categories" in page
    assert client.get("/c/det2013/det?phase=val&ranking=categories").status_code == 200
    csv_head = client.get("/c/det2013/det/leaderboard.csv?phase=val").get_data(as_text=True).splitlines()[0]
    assert csv_head.startswith("rank,tie_group,team,method,submitted_at,error,categories_won,ci95_low")


def test_import_devkit_reads_a_det_devkit(det_bundle, shared, runner, db, tmp_path):
    kit = tmp_path / "ILSVRC2013_devkit"
    (kit / "data" / "det_lists").mkdir(parents=True)
    files = det_bundle["files"]
    (kit / "data" / "det_lists" / "val.txt").write_bytes(files["val.txt"])
    (kit / "data" / "meta_det.mat").write_bytes(files["meta_det.mat"])
    (kit / "data" / "ILSVRC2013_det_validation_blacklist.txt").write_bytes(files["blacklist.txt"])
    boxes = shared / "det-sample" / "xml.tar.gz"
    result = runner.invoke(args=["import-devkit", str(kit), "--year", "2013", "--boxes", str(boxes)])
    assert result.exit_code == 0, result.output
    challenge = db.scalar(select(Challenge).where(Challenge.slug == "ilsvrc2013-det"))
    [track] = challenge.tracks
    assert (track.slug, track.task) == ("det", "detection")
    phase = track.phases[0]
    assert phase.images == IMAGES and phase.blacklist_blob is not None
    assert phase.boxes_blob.data.startswith(b"image_id,wnid,xmin,ymin,xmax,ymax\n")
    # The stored objects score a file exactly as the XML does.
    lines = det_bundle["preds"]
    truth = scoring.ground_truth(phase)
    dets = detection.parse_detections(b"\n".join(lines) + b"\n", images=truth.images, classes=200)
    assert detection.evaluate_detection(dets, truth, bootstrap=0).score == _expected(files, lines)

    # Without --boxes a DET devkit is refused, naming the option.
    bad = runner.invoke(args=["import-devkit", str(kit), "--year", "2013"])
    assert bad.exit_code != 0 and "--boxes" in bad.output


def test_console_adds_a_detection_track_with_its_own_classes(det_bundle, app, client, db, redis,
                                                             make_user, make_challenge, make_team):
    challenge = make_challenge()  # a classification year of 10 classes
    login(client, make_user("boss@example.org", organizer=True))
    files = det_bundle["files"]
    response = client.post(f"/admin/challenges/{challenge.id}/tracks/new", data=upload_form(
        slug="det", title="Object detection", task="detection", guesses="5",
        classes=files["meta_det.mat"]), content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    track = db.scalar(select(Track).where(Track.slug == "det"))
    assert track.classes_blob.data == files["meta_det.mat"] and len(scoring.class_list(track)) == 200
    response = client.post(f"/admin/tracks/{track.id}/phases/new", data=upload_form(
        slug="val", title="Validation", opens="2013-01-01T00:00", closes="2099-01-01T00:00",
        quota_count="5", quota_period="day", leaderboard="public", labels=files["val.txt"],
        boxes=files["xml.tar.gz"], blacklist=files["blacklist.txt"]), content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    client.post("/logout")
    user = make_user("det@example.org")
    make_team(challenge, user, name="Detectors")
    login(client, user)
    response = client.post("/c/tiny2012/det/submissions", data={
        "file": (BytesIO(b"\n".join(det_bundle["preds"]) + b"\n"), "dets.txt"), "method": "Net",
        "description": "d", "extra_data": "no", "phase": "val"}, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    drain(app)
    db.expire_all()
    [submission] = db.scalars(select(Submission).where(Submission.phase_id == track.phases[0].id)).all()
    assert submission.status == "scored"
    assert submission.score.error == pytest.approx(_expected(files, det_bundle["preds"]), abs=1e-12)
    # The year's classification track still reads the challenge's 10 classes.
    assert len(scoring.class_list(db.scalar(select(Track).where(Track.slug == "cls")))) == 10


def test_console_replaces_the_class_list_of_a_det_year(det_bundle, client, db, make_user):
    """A DET-only year's class list is a meta_det.mat: the console reads it with detection's
    reader (not the classification one, which cannot), and checks the phases still fit."""
    challenge = load_bundle(det_bundle["folder"])
    login(client, make_user("boss@example.org", organizer=True))
    files = det_bundle["files"]
    same = client.post(f"/admin/challenges/{challenge.id}/classes",
                       data=upload_form(classes=files["meta_det.mat"]), content_type="multipart/form-data",
                       follow_redirects=True)
    assert same.status_code == 200 and "error" not in _flash_kinds(same)
    db.expire_all()
    assert db.get(Challenge, challenge.id).classes_blob.data == files["meta_det.mat"]

    # A list the objects do not fit (100 of the 200 wnids) is refused, and nothing changes.
    wnids = detection.load_det_classes(files["meta_det.mat"]).wnids[:100]
    short = client.post(f"/admin/challenges/{challenge.id}/classes",
                        data=upload_form(classes="\n".join(wnids).encode() + b"\n"),
                        content_type="multipart/form-data")
    page = short.get_data(as_text=True)
    assert short.status_code == 400 and "does not fit the new class list" in page, page[-2000:]
    db.expire_all()
    assert db.get(Challenge, challenge.id).classes_blob.data == files["meta_det.mat"]


def _flash_kinds(response) -> set[str]:
    return set(re.findall(r'class="flash (\w+)"', response.get_data(as_text=True)))
