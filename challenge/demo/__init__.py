"""The demo: four synthetic years shaped like ILSVRC, loaded into an empty database.

- 2010: a flat (top-5) and a hierarchical-cost track over one class hierarchy (the
  class list is a devkit-style ``meta.mat`` with its cost matrix);
- 2012: classification (with synthetic ReaL labels, so its board shows ReaL top-1 and
  top-5 error), and classification with localization;
- 2013: object detection (DET, mean AP) on 200 classes of its own;
- 2014: the same two tracks, localization with a blacklist (and a public/private
  split of the test images when the platform's bundles take one), and detection with
  ILSVRC 2014's two rankings (all entries; provided data only); its phases are
  open, so a newcomer can make a team and upload.

2010 and 2012 are closed, with their results published. Each year is an ordinary
bundle folder (``write_demo_bundle``) loaded by the real loader. The teams carry the
names of the teams that led those years, and their entries are real submissions,
stored like uploads and scored by the real scoring job in this process, but the
prediction files are synthetic: generated to land on the errors those teams
published (``challenge.demo.data``), and the pages say so.
"""

from __future__ import annotations

import secrets
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from flask import Flask, current_app, has_app_context
from sqlalchemy import func, select

from challenge import bundles, jobs, quota, splits, storage
from challenge.bundles import read_bundle, save_bundle
from challenge.demo import data, hierarchy
from challenge.demo import detection as det_data
from challenge.demo.data import DemoData, Model
from challenge.demo.metamat import meta_mat
from challenge.export_bundle import to_toml
from challenge.extensions import db
from challenge.leaderboards import final
from challenge.leaderboards.publish import publish_private
from challenge.models import Challenge, Membership, Phase, Submission, Team, User

DEMO_EMAIL = "demo@example.org"
DEMO_PASSWORD = "demo-password"

#: The organizers' public sample on every phase: a weak baseline (about 45% top-5 error),
#: also on every board as the organizers' reference entry.
BASELINE = Model(top5=0.45, loc=0.75, spread=6.0)
#: The detection baseline's mean AP (the synthetic files reach down to about 0.17).
BASELINE_DET = 0.18
REFERENCE = "Organizers' baseline"

SYNTHETIC = (
    "This is a synthetic demo: the images do not exist, the labels and boxes were generated, "
    "and the teams' entries are generated prediction files made to land near the errors those "
    "teams published in {year}; they are not their real submissions."
)


@dataclass(frozen=True)
class Entry:
    team: str
    method: str
    model: Model | None  # None: a detection-only entry
    uploaded: datetime
    det: float | None = None  # published detection mean AP (None: no detection entry)
    outside_data: bool = False  # trained on data beyond the challenge's (ILSVRC's second ranking)


@dataclass(frozen=True)
class TrackDef:
    slug: str
    title: str
    task: str


@dataclass(frozen=True)
class Year:
    year: int
    images: int
    tracks: tuple[TrackDef, ...]
    opens: datetime
    closes: datetime
    leaderboard: str
    quota: str
    entries: tuple[Entry, ...]
    blacklist: float = 0.0  # share of images blacklisted for localization
    public_fraction: float | None = None  # share of test images on the public board
    det_images: int = 300  # images of the detection track
    det_rankings: bool = False  # the detection track also ranks "provided data only"
    real: bool = False  # synthetic ReaL labels on the classification phase

    @property
    def slug(self) -> str:
        return f"ilsvrc{self.year}-demo"

    @property
    def title(self) -> str:
        return f"ILSVRC {self.year} (synthetic demo)"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


CLS = TrackDef("cls", "Task 1: Classification", "classification")
LOC = TrackDef("loc", "Task 2: Classification with localization", "localization")
DET = TrackDef("det", "Task 3: Object detection", "detection")

#: Published top-5 errors (ILSVRC results pages), rounded; the entries are made to match them.
YEARS: tuple[Year, ...] = (
    # The 2010 flat track shares its slug with the later classification tracks: one line
    # across the years on the history chart.
    Year(2010, 3000, (TrackDef("cls", "Classification, flat cost", "classification"),
                      TrackDef("hier", "Classification, hierarchical cost", "hierarchical")),
         _at("2010-05-03T00:00:00"), _at("2010-08-31T23:59:59"), "after-close", "2/week", (
             Entry("Hminmax", "HMAX-style features", Model(0.543, spread=5.0), _at("2010-08-27T10:00:00")),
             Entry("UCI", "Bag of words, multiple kernels", Model(0.466, spread=4.0),
                   _at("2010-08-28T15:00:00")),
             Entry("ISIL", "Spatial pyramid matching, SVMs", Model(0.446, spread=4.0),
                   _at("2010-08-29T09:00:00")),
             Entry("NEC-UIUC", "SIFT + LBP, coordinate coding, linear SVMs", Model(0.303, spread=2.5),
                   _at("2010-08-29T20:00:00")),
             Entry("XRCE", "Fisher vectors, linear SVMs", Model(0.336, spread=3.0),
                   _at("2010-08-30T11:00:00")),
             Entry("NEC-UIUC", "SIFT + LBP, coordinate coding, ensemble", Model(0.282, spread=2.2),
                   _at("2010-08-31T08:00:00")),
         )),
    Year(2012, 3000, (CLS, LOC), _at("2012-05-18T00:00:00"), _at("2012-09-30T23:59:59"),
         "after-close", "2/week", (
             Entry("LEAR-XRCE", "Fisher vectors, nearest class mean", Model(0.345),
                   _at("2012-09-24T12:00:00")),
             Entry("University of Amsterdam", "Fisher vectors, color SIFT", Model(0.296),
                   _at("2012-09-25T12:00:00")),
             Entry("XRCE/INRIA", "Fisher vectors, product quantization", Model(0.271),
                   _at("2012-09-26T12:00:00")),
             Entry("SuperVision", "Deep convnet, 1 model", Model(0.164, loc=0.342, top1=0.38),
                   _at("2012-09-27T12:00:00")),
             Entry("OXFORD_VGG", "Fisher vectors + DPM boxes", Model(0.270, loc=0.500),
                   _at("2012-09-28T12:00:00")),
             Entry("ISI", "Fisher vectors, graphs of features", Model(0.262, loc=0.536),
                   _at("2012-09-29T12:00:00")),
             Entry("SuperVision", "Deep convnet, 7 models", Model(0.153, loc=0.335, top1=0.36, spread=2.0),
                   _at("2012-09-30T12:00:00")),
         ), real=True),
    # Published DET mean AP (ILSVRC 2013 results page).
    Year(2013, 3000, (DET,), _at("2013-05-01T00:00:00"), _at("2013-11-15T23:59:59"),
         "after-close", "2/week", (
             Entry("OverFeat-NYU", "Convnet, sliding windows", None, _at("2013-11-12T12:00:00"), det=0.195),
             Entry("NEC-MU", "Regionlets", None, _at("2013-11-13T12:00:00"), det=0.209),
             Entry("UvA-Euvision", "Selective search, Fisher vectors", None, _at("2013-11-14T12:00:00"),
                   det=0.226),
         )),
    Year(2014, 3000, (CLS, LOC, DET), _at("2014-05-01T00:00:00"), _at("2099-12-31T23:59:59"),
         "public", "50/day", (
             Entry("DeeperVision", "Deep convnet", Model(0.095), _at("2014-08-12T12:00:00")),
             Entry("Andrew Howard", "Convnets, multi-scale", Model(0.081), _at("2014-08-13T12:00:00")),
             Entry("MSRA Visual Computing", "Spatial pyramid pooling nets", Model(0.081, loc=0.355),
                   _at("2014-08-14T12:00:00")),
             Entry("GoogLeNet", "Inception, 1 model", Model(0.079, loc=0.285, top1=0.22),
                   _at("2014-08-15T12:00:00")),
             Entry("VGG", "Very deep convnets, 16-19 layers", Model(0.073, loc=0.253, top1=0.245),
                   _at("2014-08-16T12:00:00")),
             Entry("GoogLeNet", "Inception, 7 models", Model(0.067, loc=0.264, top1=0.20, spread=2.0),
                   _at("2014-08-17T12:00:00")),
             # DET: GoogLeNet won with outside data; NUS led the provided-data ranking.
             Entry("UvA-Euvision", "Selective search, deep features", None, _at("2014-08-14T18:00:00"),
                   det=0.354),
             Entry("NUS", "Region proposals, context", None, _at("2014-08-15T18:00:00"), det=0.372),
             Entry("CUHK DeepID-Net", "Deformable deep convnets", None, _at("2014-08-16T18:00:00"),
                   det=0.406, outside_data=True),
             Entry("GoogLeNet", "Inception, R-CNN style", None, _at("2014-08-17T18:00:00"), det=0.439,
                   outside_data=True),
         ), blacklist=0.035, public_fraction=0.5, det_rankings=True),
)

#: The open year: the front page's first, where a newcomer uploads.
DEMO_SLUG = YEARS[-1].slug
ENTRIES = tuple(e for y in YEARS for e in y.entries)


def _tasks_of(entry: Entry, year: Year) -> list[TrackDef]:
    if entry.model is None:
        return [t for t in year.tracks if t.task == "detection" and entry.det is not None]
    return [t for t in year.tracks if t.task != "detection"
            and (t.task != "localization" or entry.model.loc is not None)]


def _toml(year: Year, files: dict[str, bytes]) -> str:
    description = SYNTHETIC.format(year=year.year) + (
        f" {len(data.NAMES)} classes (real ImageNet class names) and {year.images} test images.")
    if year.real:
        description += (" The classification board also shows the error against synthetic "
                        "ReaL labels (generated like the Reassessed Labels of the 2012 validation "
                        "set: some images with two right classes, some relabeled, some left out).")
    if year.closes.year < 2099:
        description += " This year is closed; its results are published."
    else:
        description += (" The phases are open: make a team, download a track's sample predictions "
                        "and upload them to see scoring and the leaderboard at work.")
    manifest: dict = {
        "slug": year.slug, "year": year.year, "title": year.title, "description": description,
        "classes": "meta.mat" if "meta.mat" in files else "classes.txt", "tracks": [],
    }
    for track in year.tracks:
        phase: dict = {
            "slug": "test", "title": "Test", "labels": "test_labels.txt", "opens": year.opens,
            "closes": year.closes, "quota": year.quota, "leaderboard": year.leaderboard,
            "sample": f"sample.{track.slug}.txt",
        }
        table: dict = {"slug": track.slug, "title": track.title, "task": track.task}
        if track.task == "detection":
            # Its own 200 classes and image list; ILSVRC 2014 also ranked provided data only.
            table["classes"] = "det_classes.txt"
            phase.update(labels="det_val.txt", boxes="det_objects.csv")
            if year.det_rankings:
                phase["rankings"] = ["all", "provided"]
        else:
            table["guesses"] = 5
        if track.task == "classification" and "real.json" in files:
            phase["real"] = "real.json"
        if track.task == "localization":
            phase["boxes"] = "test_boxes.csv"
            if "blacklist.txt" in files:
                phase["blacklist"] = "blacklist.txt"
            if "public_images.txt" in files:
                phase["public_images"] = "public_images.txt"
        manifest["tracks"].append({**table, "phases": [phase]})
    # The exporter's TOML writer: the demo bundle is what an export of it would look like.
    return to_toml(manifest)


def _files(year: Year) -> tuple[dict[str, bytes], DemoData]:
    rng = np.random.default_rng(year.year)
    # The split is an explicit list (not a fraction drawn from the phase's secret) so the
    # entries can meet their published errors on the public and the private board alike.
    split = year.public_fraction if "public_images" in bundles.PHASE_KEYS else None
    truth = data.make_data(rng, year.images, blacklist=year.blacklist, public=split)
    tasks = {t.task for t in year.tracks}
    files: dict[str, bytes] = {"test_labels.txt": data.labels_file(truth)}
    if "hierarchical" in tasks:
        files["meta.mat"] = meta_mat(year.year, hierarchy.synsets(data.wnids()), with_costs=True)
    else:
        files["classes.txt"] = data.classes_file()
    if "localization" in tasks:
        files["test_boxes.csv"] = data.boxes_file(truth, prefix=f"DEMO{year.year}_test")
        if truth.blacklist.any():
            files["blacklist.txt"] = data.blacklist_file(truth)
        if truth.public is not None:
            files["public_images.txt"] = data.public_images_file(truth)
    for track in year.tracks:
        if track.task != "detection":
            files[f"sample.{track.slug}.txt"] = data.predictions(rng, truth, BASELINE, track.task)
    if year.real:
        # A generator of its own: the other files stay as they were without ReaL labels.
        files["real.json"] = data.real_file(np.random.default_rng(year.year * 1000 + 1), truth)
    if "detection" in tasks:
        det = _det(year)
        files["det_classes.txt"] = det_data.classes_file()
        files["det_val.txt"] = det_data.list_file(det, year.year)
        files["det_objects.csv"] = det_data.objects_file(det)
        files["sample.det.txt"] = det_data.predictions(year.year, det, BASELINE_DET)
    return files, truth


def _det(year: Year) -> det_data.DetDemo:
    """The year's detection images and objects (their own seed: the CLS files stay as they were)."""
    return det_data.make_det(np.random.default_rng(year.year + 7), year.det_images)


def write_demo_bundle(folder: Path, year: Year | None = None) -> DemoData:
    """Write one demo year's bundle (default: the open year) into ``folder``; returns its data."""
    year = year or YEARS[-1]
    files, truth = _files(year)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / bundles.MANIFEST).write_text(_toml(year, files), encoding="utf-8")
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return truth


#: Not a hash of any password: the demo teams' members cannot log in.
NO_LOGIN = "!"


def _user(email: str, name: str, password: str | None) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        # The demo's own entries are scored (and its 2012 results published) at load: their
        # made-up members get no e-mail.
        user = User(email=email, name=name, password_hash=NO_LOGIN,
                    notify_submissions=password is not None, notify_announcements=password is not None)
        if password is not None:
            user.set_password(password)
        db.session.add(user)
    return user


def _submit(phase: Phase, team: Team, user: User | None, entry: Entry, content: bytes,
            outside_data: bool = False) -> int:
    """Store and commit one demo upload the way the upload path does; returns its id."""
    period = quota.period_key(phase.quota_period, entry.uploaded)
    slot = 1 + (db.session.scalar(
        select(func.count()).select_from(Submission).where(
            Submission.phase_id == phase.id, Submission.team_id == team.id,
            Submission.quota_period == period)
    ) or 0)
    stored = storage.store(phase.id, content)
    submission = Submission(
        phase=phase, team=team, user=user, method=entry.method,
        description=("The organizers' weak baseline: the sample file offered on the track page."
                     if team.is_reference else
                     "Synthetic demo entry, generated to land near the error this team published."),
        filename=f"{entry.method.lower().replace(' ', '-').replace(',', '')}.txt",
        stored_path=stored.path, sha256=stored.sha256, size=stored.size, quota_period=period,
        quota_slot=slot, status="queued", created_at=entry.uploaded, extra_data=outside_data,
    )
    db.session.add(submission)
    db.session.commit()
    return submission.id


def _team(challenge: Challenge, name: str) -> Team:
    team = db.session.scalar(select(Team).where(Team.challenge_id == challenge.id, Team.name == name))
    if team is None:
        handle = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
        member = _user(f"{handle}@demo.example.org", f"{name} captain", None)
        team = Team(challenge=challenge, name=name, invite_code=secrets.token_hex(8))
        team.memberships.append(Membership(user=member, challenge_id=challenge.id, is_captain=True))
        db.session.add(team)
        db.session.commit()
    return team


def _baseline(challenge: Challenge, year: Year) -> list[int]:
    """The organizers' baseline (the public sample) as a reference entry on every track:
    shown on the board, never ranked, outside every quota."""
    team = Team(challenge=challenge, name=REFERENCE, invite_code=secrets.token_hex(16), is_reference=True)
    db.session.add(team)
    db.session.commit()
    entry = Entry(REFERENCE, "Baseline: the sample predictions", BASELINE, year.opens + timedelta(days=1))
    return [_submit(t.phases[0], team, None, entry, t.phases[0].sample_blob.data) for t in challenge.tracks]


def _entries(challenge: Challenge, year: Year, truth: DemoData) -> list[int]:
    rng = np.random.default_rng(year.year + 1)
    ids = _baseline(challenge, year)
    for entry in year.entries:
        team = _team(challenge, entry.team)
        member = team.memberships[0].user
        files: dict[str, bytes] = {}
        for track_def in _tasks_of(entry, year):
            track = next(t for t in challenge.tracks if t.slug == track_def.slug)
            if track_def.task == "detection":
                assert entry.det is not None
                content = det_data.predictions(year.year * 100 + len(ids), _det(year), entry.det)
                ids.append(_submit(track.phases[0], team, member, entry, content, entry.outside_data))
                continue
            # One file per kind: the 2010 flat and hierarchical tracks score the same predictions.
            assert entry.model is not None
            kind = "localization" if track_def.task == "localization" else "classification"
            if kind not in files:
                files[kind] = data.predictions(rng, truth, entry.model, kind)
            ids.append(_submit(track.phases[0], team, member, entry, files[kind]))
    return ids


def load_demo(app: Flask) -> bool:
    """Load the demo years when the database has no challenge; returns whether it did."""
    inside = has_app_context() and current_app._get_current_object() is app  # type: ignore[attr-defined]
    with nullcontext() if inside else app.app_context():
        if db.session.scalar(select(func.count()).select_from(Challenge)):
            return False
        ids: list[int] = []
        closed: list[Challenge] = []
        for year in YEARS:
            with tempfile.TemporaryDirectory(prefix="challenge-demo-") as folder:
                truth = write_demo_bundle(Path(folder), year)
                challenge = save_bundle(read_bundle(folder), note=f"the synthetic demo ({year.year})")
            ids += _entries(challenge, year, truth)
            if year.closes < datetime.now(UTC):
                closed.append(challenge)
        _user(DEMO_EMAIL, "Demo User", DEMO_PASSWORD)
        db.session.commit()
        for submission_id in ids:
            # The real scoring job, run in this process instead of by a worker.
            jobs.score_submission(submission_id)
        for challenge in closed:
            # What the organizers of a closed year did: publish its final results (the
            # private boards first, where a phase has one), through the same functions.
            for phase in (p for t in challenge.tracks for p in t.phases):
                if splits.is_split(phase) and phase.private_published_at is None:
                    publish_private(None, phase)
            final.publish(None, challenge)
        return True
