"""Bundles: load, reload (update, never duplicate), and every kind of bad bundle
named precisely and changing nothing. Plus the real 2012 devkit files, and the
export (CLI and console) that ``challenge load`` re-creates."""

from __future__ import annotations

import hashlib
import io
import tarfile
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select
from submit_helpers import drain

from challenge import export_bundle, scoring, splits
from challenge.bundles import (
    CHALLENGE_KEYS,
    PHASE_KEYS,
    TRACK_KEYS,
    BundleError,
    describe,
    load_bundle,
    read_bundle,
)
from challenge.models import AuditEntry, Blob, Challenge, Phase, Submission, Track
from challenge.submissions.service import submit
from tests.conftest import TINY_LABELS, TINY_WNIDS, perfect_predictions, tiny_files

SAMPLE = b"1 2 3 4 5\n" * len(TINY_LABELS)

TOML = """\
slug = "tiny2012"
year = 2012
title = "Tiny 2012"
description = "A tiny test challenge."
classes = "classes.txt"

[[tracks]]
slug = "cls"
title = "Task 1: Classification"
task = "classification"
guesses = 5

[[tracks.phases]]
slug = "val"
title = "Validation"
labels = "labels.txt"
sample = "sample_cls.txt"
opens = 2012-05-01T00:00:00Z
closes = 2030-01-01T00:00:00Z
quota = "5/day"
leaderboard = "public"

[[tracks.phases]]
slug = "test"
labels = "labels.txt"
opens = 2012-06-01T00:00:00Z
closes = 2030-01-01T00:00:00Z
quota = "2/week"
leaderboard = "after-close"

[[tracks]]
slug = "loc"
title = "Task 2: Classification + localization"
task = "localization"
guesses = 5

[[tracks.phases]]
slug = "test"
labels = "labels.txt"
boxes = "boxes.csv"
blacklist = "blacklist.txt"
opens = 2012-05-01T00:00:00Z
closes = 2030-01-01T00:00:00Z
quota = "10/total"
leaderboard = "hidden"
"""


def write_bundle(folder: Path, toml: str = TOML, **files: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    contents = {**tiny_files(), "blacklist.txt": b"3\n7\n",
                "sample_cls.txt": SAMPLE, **files}
    for name, data in contents.items():
        (folder / name).write_bytes(data)
    (folder / "challenge.toml").write_text(toml)
    return folder


def counts(db) -> dict[str, int]:
    return {m.__name__: db.scalar(select(func.count()).select_from(m))
            for m in (Challenge, Track, Phase, Blob)}


def test_load_good_bundle(db, tmp_path):
    challenge = load_bundle(write_bundle(tmp_path / "b"))
    db.expire_all()
    challenge = db.scalar(select(Challenge))
    assert (challenge.slug, challenge.year, challenge.title) == ("tiny2012", 2012, "Tiny 2012")
    assert challenge.description == "A tiny test challenge."
    assert challenge.classes_blob.data == tiny_files()["classes.txt"]
    cls, loc = challenge.tracks
    assert (cls.slug, cls.task, cls.guesses, cls.title) == ("cls", "classification", 5,
                                                            "Task 1: Classification")
    val, test = cls.phases
    assert (val.slug, val.title, val.images) == ("val", "Validation", len(TINY_LABELS))
    assert (val.quota_count, val.quota_period, val.leaderboard) == (5, "day", "public")
    assert val.opens_at == datetime(2012, 5, 1, tzinfo=UTC)
    assert val.closes_at == datetime(2030, 1, 1, tzinfo=UTC)
    assert test.title == "test" and (test.quota_count, test.quota_period) == (2, "week")
    assert val.sample_blob.data == SAMPLE
    assert val.labels_blob_id == test.labels_blob_id  # content-addressed: one row per file
    loc_phase = loc.phases[0]
    assert loc_phase.boxes_blob.data == tiny_files()["boxes.csv"]
    assert loc_phase.blacklist_blob.data == b"3\n7\n"
    assert (loc_phase.quota_period, loc_phase.leaderboard) == ("total", "hidden")
    assert counts(db) == {"Challenge": 1, "Track": 2, "Phase": 3, "Blob": 5}


def test_loading_twice_updates_by_slug(db, tmp_path):
    folder = write_bundle(tmp_path / "b")
    first = load_bundle(folder)
    ids = (first.id, [t.id for t in first.tracks], [p.id for t in first.tracks for p in t.phases])
    before = counts(db)
    write_bundle(folder, TOML.replace('title = "Tiny 2012"', 'title = "Tiny 2012 (v2)"')
                 .replace('quota = "5/day"', 'quota = "7/day"'),
                 **{"labels.txt": tiny_files()["labels.txt"].replace(b"1\n", b"2\n", 1)})
    second = load_bundle(folder)
    db.expire_all()
    assert counts(db) == {**before, "Blob": before["Blob"] + 1}  # the new labels file
    second = db.scalar(select(Challenge))
    assert (second.id, [t.id for t in second.tracks],
            [p.id for t in second.tracks for p in t.phases]) == ids
    assert second.title == "Tiny 2012 (v2)"
    assert second.tracks[0].phases[0].quota_count == 7
    # Same bytes again: nothing changes at all.
    load_bundle(folder)
    assert counts(db)["Blob"] == before["Blob"] + 1


def _mutate(toml: str, old: str, new: str) -> str:
    assert old in toml, old
    return toml.replace(old, new, 1)


BAD = [
    # (what to change, expected words in the error)
    ({"toml": ("year = 2012", "year = 2012\ncolour = 'red'")}, "challenge: unknown key 'colour'"),
    ({"toml": ('slug = "cls"', 'slug = "cls"\nmetric = "top5"')}, "tracks[0]: unknown key 'metric'"),
    ({"toml": ('quota = "5/day"', 'quota = "5/day"\nprize = 1')},
     "tracks[0].phases[0]: unknown key 'prize'"),
    ({"toml": ('classes = "classes.txt"\n', "")}, "challenge: missing key 'classes'"),
    ({"toml": ('labels = "labels.txt"\nsample', "sample")},
     "tracks[0].phases[0]: missing key 'labels'"),
    ({"toml": ('task = "classification"', 'task = "segmentation"')},
     "tracks[0].task: 'segmentation' is not one of classification | localization | hierarchical"),
    ({"toml": ("guesses = 5", "guesses = 0")}, "tracks[0].guesses: expected a whole number from 1 to 5"),
    ({"toml": ('quota = "5/day"', 'quota = "5/month"')}, "tracks[0].phases[0].quota: '5/month'"),
    ({"toml": ('quota = "5/day"', 'quota = "0/day"')}, "tracks[0].phases[0].quota: '0/day'"),
    ({"toml": ('leaderboard = "public"', 'leaderboard = "secret"')},
     "tracks[0].phases[0].leaderboard: 'secret' is not one of public | after-close | hidden"),
    ({"toml": ("opens = 2012-05-01T00:00:00Z", "opens = 2012-05-01")},
     "tracks[0].phases[0].opens: expected a date-time"),
    ({"toml": ("opens = 2012-05-01T00:00:00Z", "opens = 2012-05-01T00:00:00")},
     "tracks[0].phases[0].opens: 2012-05-01T00:00:00 has no time zone"),
    ({"toml": ("closes = 2030-01-01T00:00:00Z", "closes = 2011-01-01T00:00:00Z")},
     "tracks[0].phases[0].closes: 2011-01-01T00:00:00+00:00 is not after opens"),
    ({"toml": ('slug = "tiny2012"', 'slug = "Tiny 2012!"')}, "challenge.slug: 'Tiny 2012!' is not a slug"),
    ({"toml": ('slug = "loc"', 'slug = "cls"')}, "tracks[1].slug: 'cls' is used twice"),
    ({"toml": ('classes = "classes.txt"', 'classes = "nope.txt"')},
     "challenge.classes: file 'nope.txt' not found"),
    ({"toml": ('classes = "classes.txt"', 'classes = "../outside.txt"')},
     "challenge.classes: '../outside.txt' is outside the bundle folder"),
    ({"toml": ('boxes = "boxes.csv"\n', "")},
     "tracks[1].phases[0]: missing key 'boxes' (a localization track needs the boxes file)"),
    ({"toml": ('sample = "sample_cls.txt"', 'boxes = "boxes.csv"')},
     "tracks[0].phases[0].boxes: only localization or detection tracks have boxes"),
    ({"toml": ('task = "classification"', 'task = "hierarchical"')},
     "tracks[0].task: a hierarchical track needs a class list with a cost matrix"),
    ({"toml": ("year = 2012", "year = 2012\nyear = 2013")}, "challenge.toml: "),
    ({"files": {"labels.txt": b"1\n2\n11\n"}}, "ground truth ('labels.txt'"),
    ({"files": {"labels.txt": b"1\n2\n11\n"}}, "11"),
    ({"files": {"classes.txt": b""}}, "classes: file 'classes.txt': "),
    ({"files": {"blacklist.txt": b"3\nseven\n"}}, "'blacklist.txt'"),
    ({"files": {"sample_cls.txt": b"1 2 3\n"}}, "tracks[0].phases[0].sample: file 'sample_cls.txt'"),
    ({"files": {"sample_cls.txt": perfect_predictions("classification")}},
     "tracks[0].phases[0].sample: 'sample_cls.txt' is a ground-truth file"),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _c, m in BAD])
def test_bad_bundle_names_the_problem_and_changes_nothing(db, tmp_path, change, message):
    # A loaded version first, so "changes nothing" also covers a failed update.
    folder = write_bundle(tmp_path / "b")
    load_bundle(folder)
    before = counts(db)
    (tmp_path / "outside.txt").write_bytes(tiny_files()["classes.txt"])
    toml = TOML
    if "toml" in change:
        toml = _mutate(toml, *change["toml"])
        toml = toml.replace('title = "Tiny 2012"', 'title = "Changed"')
    else:
        toml = toml.replace('title = "Tiny 2012"', 'title = "Changed"')
    write_bundle(folder, toml, **change.get("files", {}))
    with pytest.raises(BundleError) as caught:
        load_bundle(folder)
    assert message in str(caught.value)
    db.expire_all()
    assert counts(db) == before
    assert db.scalar(select(Challenge.title)) == "Tiny 2012"


def test_missing_manifest(tmp_path):
    with pytest.raises(BundleError, match="challenge.toml not found"):
        read_bundle(tmp_path)


def test_cli_load(runner, db, tmp_path):
    folder = write_bundle(tmp_path / "b")
    result = runner.invoke(args=["load", str(folder)])
    assert result.exit_code == 0, result.output
    assert "loaded tiny2012 (Tiny 2012): 2 tracks, 3 phases" in result.output
    (folder / "labels.txt").unlink()
    bad = runner.invoke(args=["load", str(folder)])
    assert bad.exit_code == 1
    assert "bundle not loaded, nothing changed" in bad.output
    assert "file 'labels.txt' not found" in bad.output


def test_real_2012_bundle(db, shared, bundle_2012):
    """The issue's own example, pointing at the real devkit files (symlinks: the
    bundle folder resolves files through them)."""
    challenge = load_bundle(bundle_2012)
    cls, loc = challenge.tracks
    assert cls.phases[0].images == loc.phases[0].images == 50_000
    assert loc.phases[0].boxes_blob.size == (shared / "2012" / "LOC_val_solution.csv").stat().st_size
    assert len(scoring.class_list(cls)) == 1000
    demo = (shared / "2012" / "demo.val.pred.txt").read_bytes()
    assert scoring.score(demo, cls.phases[0]).error_at_k[0] == pytest.approx(0.99898)


# ---------------------------------------------------------------- export


def test_every_reader_key_has_an_exporter():
    """A key the reader accepts but the exporter cannot write would be lost in a round trip."""
    for keys, getters, model in ((CHALLENGE_KEYS, export_bundle.CHALLENGE_EXPORT, Challenge),
                                 (TRACK_KEYS, export_bundle.TRACK_EXPORT, Track),
                                 (PHASE_KEYS, export_bundle.PHASE_EXPORT, Phase)):
        missing = {k for k in keys if k not in getters and k not in model.__table__.columns}
        assert not missing, f"{model.__name__}: bundle keys without an exporter: {sorted(missing)}"


def _without_slug(bundle: export_bundle.ExportedBundle) -> dict:
    return {k: v for k, v in bundle.manifest.items() if k != "slug"}


def test_export_round_trip_under_a_new_slug(db, tmp_path):
    original = load_bundle(write_bundle(tmp_path / "b"))
    before = counts(db)
    exported = export_bundle.write(original, tmp_path / "out", slug="tiny2012-copy")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted(["challenge.toml", "classes.txt", "labels.txt", "boxes.csv", "blacklist.txt",
                            "sample_cls.txt"])
    copy = load_bundle(tmp_path / "out")
    assert copy.slug == "tiny2012-copy" and copy.id != original.id
    # Same tracks, phases, settings and files (by checksum: no new blob rows at all).
    again = export_bundle.build(copy)
    assert _without_slug(again) == _without_slug(exported)
    assert {n: hashlib.sha256(d).hexdigest() for n, d in again.files.items()} == \
           {n: hashlib.sha256(d).hexdigest() for n, d in exported.files.items()}
    assert counts(db) == {**before, "Challenge": 2, "Track": 4, "Phase": 6}
    assert describe(copy)["tracks"] == describe(original)["tracks"]
    # The export is audited, from the command line (no actor).
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "challenge.export"))
    assert entry.actor_id is None and entry.challenge_id == original.id
    assert str((tmp_path / "out").resolve()) in entry.note


def test_export_then_load_over_the_same_slug_changes_nothing(db, tmp_path):
    original = load_bundle(write_bundle(tmp_path / "b"))
    first = describe(original)
    before = counts(db)
    export_bundle.write(original, tmp_path / "out")
    load_bundle(tmp_path / "out")
    db.expire_all()
    assert counts(db) == before
    assert describe(db.scalar(select(Challenge))) == first


def test_export_into_a_fresh_database(db, tmp_path):
    original = load_bundle(write_bundle(tmp_path / "b"))
    exported = export_bundle.write(original, tmp_path / "out")
    db.execute(delete(AuditEntry))
    db.delete(original)
    db.commit()
    db.execute(delete(Blob))
    db.commit()
    assert counts(db) == {"Challenge": 0, "Track": 0, "Phase": 0, "Blob": 0}
    recreated = load_bundle(tmp_path / "out")
    assert _without_slug(export_bundle.build(recreated)) == _without_slug(exported)
    assert counts(db) == {"Challenge": 1, "Track": 2, "Phase": 3, "Blob": 5}


def test_toml_writer_round_trips_awkward_values():
    table = {"slug": "x", "description": 'quote " back \\ new\nline tab\t del\x7f é 😀',
             "opens": datetime(2012, 5, 1, 12, 30, 15, 250000, tzinfo=UTC), "n": 3, "f": 0.25,
             "yes": True, "ids": [1, 2, 3], "tracks": [{"slug": "a", "phases": [{"slug": "p"}]}]}
    parsed = tomllib.loads(export_bundle.to_toml(table))
    assert parsed == table


def test_cli_export(runner, db, tmp_path):
    load_bundle(write_bundle(tmp_path / "b"))
    result = runner.invoke(args=["export", "tiny2012", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"exported tiny2012 to {tmp_path / 'out'}: 6 files" in result.output
    again = runner.invoke(args=["export", "tiny2012", str(tmp_path / "out")])
    assert again.exit_code == 1 and "exists and is not an empty folder" in again.output
    unknown = runner.invoke(args=["export", "nope", str(tmp_path / "other")])
    assert unknown.exit_code == 1 and "no challenge 'nope'" in unknown.output
    assert not (tmp_path / "other").exists()


def _login(client, user):
    assert client.post("/login", data={"email": user.email, "password": "password123"}).status_code == 302


def test_console_export_is_for_organizers_only(client, db, make_user, tmp_path):
    load_bundle(write_bundle(tmp_path / "b"))
    url = "/admin/c/tiny2012/export.tar.gz"
    assert client.get(url).status_code == 404
    _login(client, make_user("someone@example.org"))
    assert client.get(url).status_code == 404
    client.post("/logout")
    organizer = make_user("boss@example.org", organizer=True)
    _login(client, organizer)
    assert 'href="/admin/c/tiny2012/export.tar.gz"' in client.get("/admin/").get_data(as_text=True)
    assert client.get("/admin/c/nope/export.tar.gz").status_code == 404
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/gzip"
    assert "tiny2012-bundle.tar.gz" in response.headers["Content-Disposition"]
    with tarfile.open(fileobj=io.BytesIO(response.data)) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    folder = tmp_path / "unpacked" / "tiny2012"
    (folder / "challenge.toml").write_text((folder / "challenge.toml").read_text()
                                           .replace('slug = "tiny2012"', 'slug = "tiny2012-b"', 1))
    copy = load_bundle(folder)
    assert describe(copy)["tracks"] == describe(db.scalar(select(Challenge).where(
        Challenge.slug == "tiny2012")))["tracks"]
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "challenge.export"))
    assert entry.actor_id == organizer.id and entry.note == "downloaded from the console"


def test_real_2012_export_keeps_the_devkit_file_names(db, bundle_2012, tmp_path):
    original = load_bundle(bundle_2012)
    exported = export_bundle.write(original, tmp_path / "out", slug="ilsvrc2012-copy")
    assert sorted(exported.files) == ["ILSVRC2012_validation_ground_truth.txt", "LOC_val_solution.csv",
                                      "meta.mat"]
    for name, data in exported.files.items():
        assert data == (bundle_2012 / name).read_bytes()
    copy = load_bundle(tmp_path / "out")
    assert describe(copy)["tracks"] == describe(original)["tracks"]


VISIBILITY = {"public_fraction", "public_images", "freeze", "final_picks", "rankings", "private_published"}


@pytest.mark.skipif(not VISIBILITY <= PHASE_KEYS, reason="the bundle reader has no visibility keys yet")
def test_export_round_trip_keeps_splits_freeze_picks_and_rankings(db, tmp_path):
    public = list(range(1, len(TINY_LABELS), 2))  # 10 images: written inline
    toml = (TOML
            .replace('quota = "5/day"\n', 'quota = "5/day"\npublic_fraction = 0.4\n'
                     'freeze = 2029-12-01T00:00:00Z\nfinal_picks = 3\nrankings = ["all", "provided"]\n')
            .replace('quota = "10/total"\n', f'quota = "10/total"\npublic_images = {public}\n'
                     'private_published = 2030-02-01T00:00:00Z\n'))
    original = load_bundle(write_bundle(tmp_path / "b", toml))
    exported = export_bundle.write(original, tmp_path / "out", slug="copy")
    val = exported.manifest["tracks"][0]["phases"][0]
    assert (val["public_fraction"], val["final_picks"], val["rankings"]) == (0.4, 3, ["all", "provided"])
    assert val["freeze"] == datetime(2029, 12, 1, tzinfo=UTC)
    loc = exported.manifest["tracks"][1]["phases"][0]
    assert loc["public_images"] == public and loc["rankings"] == ["all"]
    assert loc["private_published"] == datetime(2030, 2, 1, tzinfo=UTC)
    copy = load_bundle(tmp_path / "out")
    assert _without_slug(export_bundle.build(copy)) == _without_slug(exported)
    # The same images are public after the round trip, including for the fraction split
    # (drawn from the phase's secret, which the bundle carries).
    for before, after in zip((p for t in original.tracks for p in t.phases),
                             (p for t in copy.tracks for p in t.phases), strict=True):
        assert splits.is_split(before) == splits.is_split(after)
        if splits.is_split(before):
            assert splits.public_mask(before).tolist() == splits.public_mask(after).tolist()
    assert splits.public_mask(copy.tracks[0].phases[0]).sum() == 8


@pytest.mark.skipif(not VISIBILITY <= PHASE_KEYS, reason="the bundle reader has no visibility keys yet")
def test_a_long_public_list_is_exported_as_a_file(db, tmp_path):
    labels = b"".join(b"%d\n" % (i % 10 + 1) for i in range(200))
    public = list(range(1, 200, 3))
    toml = TOML.replace('quota = "10/total"\n', f'quota = "10/total"\npublic_images = {public}\n')
    boxes = ["ImageId,PredictionString"] + [f"img_{i + 1:08d},{TINY_WNIDS[i % 10]} 10 10 50 50"
                                            for i in range(200)]
    original = load_bundle(write_bundle(tmp_path / "b", toml, **{
        "labels.txt": labels, "boxes.csv": ("\n".join(boxes) + "\n").encode(),
        "sample_cls.txt": b"1 2 3 4 5\n" * 200}))
    exported = export_bundle.write(original, tmp_path / "out", slug="copy")
    name = exported.manifest["tracks"][1]["phases"][0]["public_images"]
    assert name == "loc.test.public_images.txt"
    assert (tmp_path / "out" / name).read_text().split() == [str(i) for i in public]
    copy = load_bundle(tmp_path / "out")
    assert copy.tracks[1].phases[0].public_images == public


@pytest.mark.skipif("split_secret" not in PHASE_KEYS, reason="the bundle reader has no split secret yet")
@pytest.mark.parametrize(("extra", "message"), [
    ('split_secret = "00ff00ff00ff00ff"\n', "tracks[0].phases[0].split_secret: only a phase with a "
                                            "public_fraction draws its split from a secret"),
    ('public_fraction = 0.5\nsplit_secret = "not hex"\n',
     "tracks[0].phases[0].split_secret: expected 16 to 64 lower-case hex digits"),
])
def test_bad_split_secret(db, tmp_path, extra, message):
    toml = TOML.replace('quota = "5/day"\n', 'quota = "5/day"\n' + extra)
    with pytest.raises(BundleError) as caught:
        load_bundle(write_bundle(tmp_path / "b", toml))
    assert message in str(caught.value)


def test_reloading_never_swaps_ground_truth_under_scored_submissions(app, db, redis, tmp_path, make_user,
                                                                      make_team):
    folder = write_bundle(tmp_path / "b")
    challenge = load_bundle(folder)
    user = make_user()
    make_team(challenge, user)
    val = challenge.tracks[0].phases[0]
    submit(user, val, "p.txt", perfect_predictions("classification"))
    drain(app)
    assert db.scalar(select(Submission.status)) == "scored"
    labels_before = db.scalar(select(Phase).where(Phase.slug == "val")).labels_blob.sha256

    changed = tiny_files()["labels.txt"].replace(b"1\n", b"2\n", 1)
    write_bundle(folder, **{"labels.txt": changed})
    with pytest.raises(BundleError, match=r"phases\[val\]: its ground truth .* 1 submission\(s\) are scored "
                                          r".*challenge truth replace tiny2012/cls/val"):
        load_bundle(folder)
    db.expire_all()
    assert db.scalar(select(Phase).where(Phase.slug == "val")).labels_blob.sha256 == labels_before

    write_bundle(folder, TOML.replace("guesses = 5", "guesses = 3", 1))
    with pytest.raises(BundleError, match=r"tracks\[cls\]: task and guesses cannot change"):
        load_bundle(folder)
    # The same files with other settings still update.
    write_bundle(folder, TOML.replace('quota = "5/day"', 'quota = "9/day"'))
    load_bundle(folder)
    db.expire_all()
    assert db.scalar(select(Phase).where(Phase.slug == "val")).quota_count == 9
    # The class list: numbers in scores mean its classes, so two swapped are refused (nothing
    # changes), a class added at the end is taken.
    classes = tiny_files()["classes.txt"].decode().splitlines()
    swapped = [classes[1], classes[0], *classes[2:]]
    write_bundle(folder, **{"classes.txt": ("\n".join(swapped) + "\n").encode()})
    classes_before = db.scalar(select(Challenge)).classes_blob.sha256
    with pytest.raises(BundleError, match=rf"tracks\[cls\]: 1 submission\(s\) are scored with the stored "
                                          rf"class list; in the bundle's list class 1 is {TINY_WNIDS[1]}, "
                                          rf"not {TINY_WNIDS[0]}"):
        load_bundle(folder)
    db.expire_all()
    assert db.scalar(select(Challenge)).classes_blob.sha256 == classes_before
    write_bundle(folder, **{"classes.txt": ("\n".join([*classes, "n99999999 a new class"]) + "\n").encode()})
    load_bundle(folder)
    db.expire_all()
    assert db.scalar(select(Challenge)).classes_blob.sha256 != classes_before
