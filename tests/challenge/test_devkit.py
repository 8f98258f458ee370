"""``challenge import-devkit``: the real 2010 and 2012 devkit files (shaped like the
official kits, as a folder and as a .tar.gz), XML boxes, blacklists, and every
missing piece named precisely without changing anything."""

from __future__ import annotations

import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from challenge import scoring
from challenge.demo.metamat import Synset, meta_mat
from challenge.devkit import DevkitError, ImportOptions, import_devkit
from challenge.models import AuditEntry, Blob, Challenge, Phase, Track


def devkit_2012(shared: Path, root: Path) -> Path:
    """The layout of ILSVRC2012_devkit_t12.tar.gz, over the real files (symlinks)."""
    kit = root / "ILSVRC2012_devkit_t12"
    (kit / "data").mkdir(parents=True)
    (kit / "evaluation").mkdir()
    (kit / "COPYING").write_text("MIT-style licence of the devkit\n")
    for name in ("meta.mat", "ILSVRC2012_validation_ground_truth.txt"):
        (kit / "data" / name).symlink_to(shared / "2012" / name)
    for name in ("demo.val.pred.txt", "demo.val.pred.det.txt"):
        (kit / "evaluation" / name).symlink_to(shared / "2012" / name)
    return kit


def tarball(folder: Path, target: Path) -> Path:
    # dereference: the symlinked real files go into the archive as files, as in the official kit
    with tarfile.open(target, "w:gz", compresslevel=1, dereference=True) as archive:
        archive.add(folder, arcname=folder.name)
    return target


def counts(db) -> dict[str, int]:
    return {m.__name__: db.scalar(select(func.count()).select_from(m))
            for m in (Challenge, Track, Phase, Blob, AuditEntry)}


def test_real_2012_devkit_tarball_with_kaggle_boxes(db, shared, tmp_path):
    folder = devkit_2012(shared, tmp_path / "unpacked")
    archive = tarball(folder, tmp_path / "ILSVRC2012_devkit_t12.tar.gz")
    opens = datetime(2012, 5, 1, tzinfo=UTC)
    result = import_devkit(archive, ImportOptions(year=2012, boxes=shared / "2012" / "LOC_val_solution.csv",
                                                  opens=opens))
    challenge = result.challenge
    assert (challenge.slug, challenge.year, challenge.title) == ("ilsvrc2012", 2012, "ILSVRC 2012")
    assert [(t.slug, t.task) for t in challenge.tracks] == [("cls", "classification"),
                                                            ("loc", "localization")]
    cls, loc = (t.phases[0] for t in challenge.tracks)
    assert (cls.slug, cls.images, loc.images) == ("val", 50_000, 50_000)
    assert cls.opens_at == opens and cls.closes_at == datetime(2013, 5, 1, tzinfo=UTC)
    assert (cls.quota_count, cls.quota_period, cls.leaderboard) == (5, "day", "public")
    assert len(scoring.class_list(challenge.tracks[0])) == 1000
    assert challenge.classes_blob.data == (shared / "2012" / "meta.mat").read_bytes()
    assert loc.boxes_blob.data == (shared / "2012" / "LOC_val_solution.csv").read_bytes()
    assert loc.blacklist_blob is None
    # The devkit's demo submissions became the public samples, and score as the devkit says.
    assert cls.sample_blob.data == (shared / "2012" / "demo.val.pred.txt").read_bytes()
    assert scoring.score(cls.sample_blob.data, cls).error_at_k[0] == pytest.approx(0.99898)
    loc_result = scoring.score(loc.sample_blob.data, loc)
    assert [round(x, 4) for x in loc_result.error_at_k] == [1.0, 0.9999, 0.9998, 0.9997, 0.9996]
    assert any("ILSVRC2012_devkit_t12/data/meta.mat" in line for line in result.used)
    # Audited in the same transaction, from the command line (no actor).
    entry = db.scalar(select(AuditEntry))
    assert (entry.action, entry.actor_id, entry.challenge_id) == ("challenge.import_devkit", None,
                                                                  challenge.id)
    assert entry.before is None and [t["slug"] for t in entry.after["tracks"]] == ["cls", "loc"]
    assert str(archive.resolve()) in entry.note


def test_real_2010_devkit_folder_gets_the_hierarchical_track(db, shared, tmp_path):
    kit = tmp_path / "devkit-1.0"
    (kit / "data").mkdir(parents=True)
    (kit / "demo").mkdir()
    for name in ("meta.mat", "ILSVRC2010_validation_ground_truth.txt"):
        (kit / "data" / name).symlink_to(shared / "2010" / name)
    (kit / "demo" / "demo.val.pred.txt").symlink_to(shared / "2010" / "demo.val.pred.txt")
    challenge = import_devkit(kit, ImportOptions(year=2010, slug="ilsvrc2010-val")).challenge
    assert [(t.slug, t.task) for t in challenge.tracks] == [("cls", "classification"),
                                                            ("hier", "hierarchical")]
    flat, hier = (t.phases[0] for t in challenge.tracks)
    assert hier.images == 50_000 and hier.sample_blob_id == flat.sample_blob_id
    # The official figures of the 2010 devkit's demo (README: k = 5).
    assert scoring.score(flat.sample_blob.data, flat).error == pytest.approx(0.8003, abs=5e-5)
    assert scoring.score(hier.sample_blob.data, hier).error == pytest.approx(6.7695, abs=5e-5)


def test_2012_hierarchy_is_not_a_hierarchical_track_unless_asked(db, shared, tmp_path):
    kit = devkit_2012(shared, tmp_path)
    plain = import_devkit(kit, ImportOptions(year=2012)).challenge
    assert [t.task for t in plain.tracks] == ["classification"]
    forced = import_devkit(kit, ImportOptions(year=2012, slug="h2012", hierarchical=True)).challenge
    assert [t.task for t in forced.tracks] == ["classification", "hierarchical"]


# ---------------------------------------------------------------- a small synthetic devkit

WNIDS = [f"n0100000{i}" for i in range(1, 5)]
LABELS = [1, 2, 3, 4, 1, 2]
BOXES = {1: [(1, 10, 10, 50, 60)], 2: [(2, 5, 5, 20, 20), (2, 30, 30, 40, 40)], 3: [(3, 0, 0, 9, 9)],
         4: [(4, 1, 2, 3, 4)], 5: [(1, 100, 100, 200, 200)], 6: [(2, 7, 7, 70, 70)]}


def small_devkit(root: Path, year: int = 2014) -> Path:
    kit = root / f"ILSVRC{year}_devkit"
    (kit / "data").mkdir(parents=True)
    synsets = [Synset(w, f"class {i}") for i, w in enumerate(WNIDS, 1)]
    synsets += [Synset("n02000001", "pairs", 2, (1, 2)), Synset("n02000002", "root", 6, (5, 3, 4))]
    (kit / "data" / "meta_clsloc.mat").write_bytes(meta_mat(year, synsets, with_costs=False))
    (kit / "data" / f"ILSVRC{year}_clsloc_validation_ground_truth.txt").write_text(
        "".join(f"{x}\n" for x in LABELS))
    (kit / "data" / f"ILSVRC{year}_clsloc_validation_blacklist.txt").write_text("2\n5\n")
    return kit


def xml_folder(root: Path, year: int = 2014) -> Path:
    root.mkdir(parents=True)
    for image, boxes in BOXES.items():
        objects = "".join(
            f"<object><name>{WNIDS[label - 1]}</name><bndbox><xmin>{x0}</xmin><ymin>{y0}</ymin>"
            f"<xmax>{x1}</xmax><ymax>{y1}</ymax></bndbox></object>" for label, x0, y0, x1, y1 in boxes)
        (root / f"ILSVRC{year}_val_{image:08d}.xml").write_text(f"<annotation>{objects}</annotation>")
    return root


def expected_csv(year: int = 2014) -> bytes:
    rows = ["ImageId,PredictionString"]
    for image, boxes in BOXES.items():
        groups = " ".join(f"{WNIDS[label - 1]} {x0} {y0} {x1} {y1}" for label, x0, y0, x1, y1 in boxes)
        rows.append(f"ILSVRC{year}_val_{image:08d},{groups}")
    return ("\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("form", ["folder", "tarball"])
def test_xml_boxes_become_a_solution_csv_and_the_devkit_blacklist_applies(db, tmp_path, form):
    kit = small_devkit(tmp_path)
    boxes = xml_folder(tmp_path / "val_xml")
    if form == "tarball":
        boxes = tarball(boxes, tmp_path / "ILSVRC2014_bbox_val.tgz")
    result = import_devkit(kit, ImportOptions(year=2014, boxes=boxes))
    cls, loc = result.challenge.tracks
    assert (cls.task, loc.task) == ("classification", "localization")
    phase = loc.phases[0]
    assert phase.boxes_blob.data == expected_csv()
    assert phase.blacklist_blob.data == b"2\n5\n" and cls.phases[0].blacklist_blob is None
    # Blacklisted images count as correct for localization: 4 of 6 wrong, out of 4 counted.
    wrong = b"".join(b"%d 0 0 1 1\n" % x for x in LABELS)
    assert scoring.score(wrong, phase).error == pytest.approx(1.0)
    right = "".join(f"{boxes[0][0]} {' '.join(map(str, boxes[0][1:]))}\n" for boxes in BOXES.values())
    assert scoring.score(right.encode(), phase).error == 0.0


def test_explicit_blacklist_overrides_the_devkits(db, tmp_path):
    kit = small_devkit(tmp_path)
    (tmp_path / "mine.txt").write_text("6\n")
    challenge = import_devkit(kit, ImportOptions(year=2014, boxes=xml_folder(tmp_path / "x"),
                                                 blacklist=tmp_path / "mine.txt")).challenge
    assert challenge.tracks[1].phases[0].blacklist_blob.data == b"6\n"


def test_devkit_blacklist_without_boxes_is_reported_as_skipped(db, tmp_path):
    result = import_devkit(small_devkit(tmp_path), ImportOptions(year=2014))
    assert [t.task for t in result.challenge.tracks] == ["classification"]
    assert result.skipped == ["blacklist data/ILSVRC2014_clsloc_validation_blacklist.txt in "
                              f"{tmp_path / 'ILSVRC2014_devkit'}: localization only, and no boxes were given"]


def test_reimport_updates_and_audits_before_and_after(db, tmp_path):
    kit = small_devkit(tmp_path)
    first = import_devkit(kit, ImportOptions(year=2014)).challenge
    second = import_devkit(kit, ImportOptions(year=2014, boxes=xml_folder(tmp_path / "x"),
                                              quota="2/week")).challenge
    assert second.id == first.id and [t.slug for t in second.tracks] == ["cls", "loc"]
    entry = db.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert [t["slug"] for t in entry.before["tracks"]] == ["cls"]
    assert entry.after["tracks"][0]["phases"][0]["quota"] == "2/week"


MISSING = [
    # (what to break, words of the error)
    ("meta", "no class list: expected data/meta.mat (data/meta_clsloc.mat from 2013) in the devkit"),
    ("labels", "no validation ground truth: expected data/ILSVRC2014_validation_ground_truth.txt "
               "(data/ILSVRC2014_clsloc_validation_ground_truth.txt from 2013) in the devkit"),
    ("year", "found ILSVRC2014_clsloc_validation_ground_truth.txt: is --year 2013 right?"),
    ("bad labels", "ground truth ('ILSVRC2014_clsloc_validation_ground_truth.txt'): line 2"),
    ("bad xml", "--boxes "),
    ("few xml", "expected 6 annotation files, found 5 (none for image 6)"),
    ("not a kit", "is neither a folder nor a .tar/.tar.gz devkit archive"),
    ("nothing", "no devkit at"),
    ("blacklist", "--blacklist applies to localization only; give the boxes too (--boxes)"),
    ("quota", "tracks[0].phases[0].quota: '5/month'"),
    ("naive time", "--opens: 2014-05-01T00:00:00 has no time zone"),
]


@pytest.mark.parametrize(("broken", "message"), MISSING, ids=[b for b, _m in MISSING])
def test_missing_or_bad_pieces_are_named_and_change_nothing(db, tmp_path, broken, message):
    kit = small_devkit(tmp_path)
    import_devkit(kit, ImportOptions(year=2014))  # something to leave unchanged
    before = counts(db)
    options = ImportOptions(year=2014, title="Changed")
    data = kit / "data"
    path: Path = kit
    if broken == "meta":
        (data / "meta_clsloc.mat").unlink()
    elif broken == "labels":
        (data / "ILSVRC2014_clsloc_validation_ground_truth.txt").unlink()
    elif broken == "year":
        options = ImportOptions(year=2013)
    elif broken == "bad labels":
        (data / "ILSVRC2014_clsloc_validation_ground_truth.txt").write_text("1\n9\n")
    elif broken in ("bad xml", "few xml"):
        boxes = xml_folder(tmp_path / "x")
        if broken == "bad xml":
            (boxes / "ILSVRC2014_val_00000003.xml").write_text("<annotation><object>")
        else:
            (boxes / "ILSVRC2014_val_00000006.xml").unlink()
        options = ImportOptions(year=2014, title="Changed", boxes=boxes)
    elif broken == "not a kit":
        path = tmp_path / "readme.txt"
        path.write_text("not a tarball")
    elif broken == "nothing":
        path = tmp_path / "absent"
    elif broken == "blacklist":
        (tmp_path / "b.txt").write_text("1\n")
        options = ImportOptions(year=2014, title="Changed", blacklist=tmp_path / "b.txt")
    elif broken == "quota":
        options = ImportOptions(year=2014, title="Changed", quota="5/month")
    elif broken == "naive time":
        options = ImportOptions(year=2014, title="Changed", opens=datetime(2014, 5, 1))
    with pytest.raises(DevkitError) as caught:
        import_devkit(path, options)
    assert message in str(caught.value)
    db.expire_all()
    assert counts(db) == before
    assert db.scalar(select(Challenge.title)) == "ILSVRC 2014"


def test_cli_import_devkit(runner, db, tmp_path):
    kit = small_devkit(tmp_path)
    boxes = xml_folder(tmp_path / "x")
    result = runner.invoke(args=["import-devkit", str(kit), "--year", "2014", "--boxes", str(boxes),
                                 "--slug", "ilsvrc2014", "--opens", "2014-05-01T00:00:00Z",
                                 "--quota", "2/week"])
    assert result.exit_code == 0, result.output
    assert f"used classes: data/meta_clsloc.mat in {kit}\n" in result.output
    assert "imported ilsvrc2014 (ILSVRC 2014): cls (classification, 6 images), " \
           "loc (localization, 6 images)" in result.output
    phase = db.scalar(select(Phase))
    assert phase.opens_at == datetime(2014, 5, 1, tzinfo=UTC) and phase.quota_period == "week"
    bad = runner.invoke(args=["import-devkit", str(tmp_path / "x"), "--year", "2014"])
    assert bad.exit_code == 1
    assert "devkit not imported, nothing changed: " in bad.output and "no class list" in bad.output
    naive = runner.invoke(args=["import-devkit", str(kit), "--year", "2014", "--opens", "May 2014"])
    assert naive.exit_code == 2 and "is not a date-time" in naive.output
