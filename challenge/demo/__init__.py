"""The demo: a synthetic ILSVRC 2012-like challenge, loaded into an empty database.

``write_demo_bundle`` writes an ordinary bundle folder (the same format as
``challenge load`` reads), so the demo goes through the real loader. The demo
teams' entries are real submissions: their files are stored like uploads and
scored synchronously by the real scoring job. A demo user without a team is
created so a newcomer can make a team and upload the sample file.
"""

from __future__ import annotations

import secrets
import tempfile
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import numpy as np
from flask import Flask, current_app, has_app_context
from sqlalchemy import func, select

from challenge import jobs, quota, storage
from challenge.bundles import load_bundle
from challenge.demo import data
from challenge.demo.data import Model
from challenge.extensions import db
from challenge.models import Challenge, Membership, Phase, Submission, Team, User, utcnow

DEMO_SLUG = "ilsvrc2012-demo"
DEMO_EMAIL = "demo@example.org"
DEMO_PASSWORD = "demo-password"

#: The organizers' public sample: a weak baseline (about 45% top-5 error).
BASELINE = Model(at_rank=(0.30, 0.10, 0.06, 0.05, 0.04), box_noise=0.25)

#: Demo teams and their methods: (team, method, model), uploaded in this order.
ENTRIES: tuple[tuple[str, str, Model], ...] = (
    ("Aurora Vision", "Deep convnet, 8 layers", Model((0.62, 0.12, 0.06, 0.03, 0.02), 0.10)),
    ("Aurora Vision", "Deep convnet ensemble", Model((0.66, 0.11, 0.05, 0.03, 0.02), 0.09)),
    ("Harbor Lab", "Fisher vectors + linear SVM", Model((0.45, 0.12, 0.07, 0.05, 0.04), 0.18)),
    ("Northwind", "SIFT bag of words", Model((0.28, 0.10, 0.07, 0.05, 0.04), 0.30)),
    ("Northwind", "SIFT + color, spatial pyramid", Model((0.33, 0.11, 0.07, 0.05, 0.04), 0.27)),
)

DESCRIPTION = (
    "A small synthetic challenge in the style of ILSVRC 2012, for trying the platform: "
    f"{len(data.NAMES)} classes and {data.IMAGES} validation images whose labels and boxes were "
    "generated, not photographed. Download the sample predictions of a track, make a team and "
    "upload them to see the scoring pipeline and the leaderboard at work."
)


def _toml() -> str:
    common = """opens = 2012-05-01T00:00:00Z
closes = 2099-12-31T23:59:59Z
quota = "50/day"
leaderboard = "public"
labels = "val_labels.txt"
"""
    return f'''slug = "{DEMO_SLUG}"
year = 2012
title = "ILSVRC 2012 (demo)"
description = "{DESCRIPTION}"
classes = "classes.txt"

[[tracks]]
slug = "cls"
title = "Task 1: Classification"
task = "classification"
guesses = 5

[[tracks.phases]]
slug = "val"
title = "Validation"
sample = "cls_sample.txt"
{common}
[[tracks]]
slug = "loc"
title = "Task 2: Classification + localization"
task = "localization"
guesses = 5

[[tracks.phases]]
slug = "val"
title = "Validation"
boxes = "val_boxes.csv"
sample = "loc_sample.txt"
{common}'''


def write_demo_bundle(folder: Path) -> None:
    """Write the demo bundle (challenge.toml and its files) into ``folder``."""
    rng = np.random.default_rng(data.SEED)
    demo = data.make_data(rng)
    files = {
        "challenge.toml": _toml().encode(),
        "classes.txt": data.classes_file(),
        "val_labels.txt": data.labels_file(demo),
        "val_boxes.csv": data.boxes_file(demo),
        "cls_sample.txt": data.predictions(rng, demo, BASELINE, "classification"),
        "loc_sample.txt": data.predictions(rng, demo, BASELINE, "localization"),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)


#: Not a hash of any password: the demo teams' members cannot log in.
NO_LOGIN = "!"


def _user(email: str, name: str, password: str | None) -> User:
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name=name, password_hash=NO_LOGIN)
        if password is not None:
            user.set_password(password)
        db.session.add(user)
    return user


def _submit(phase: Phase, team: Team, user: User, method: str, content: bytes, days_ago: int) -> int:
    """Store and commit one demo upload the way the upload path does; returns its id."""
    created = utcnow() - timedelta(days=days_ago)
    period = quota.period_key(phase.quota_period, created)
    slot = 1 + (db.session.scalar(
        select(func.count()).select_from(Submission).where(
            Submission.phase_id == phase.id, Submission.team_id == team.id,
            Submission.quota_period == period)
    ) or 0)
    stored = storage.store(phase.id, content)
    submission = Submission(
        phase=phase, team=team, user=user, method=method, description="Demo entry.",
        filename=f"{method.lower().replace(' ', '-')}.txt", stored_path=stored.path,
        sha256=stored.sha256, size=stored.size, quota_period=period, quota_slot=slot,
        status="queued", created_at=created,
    )
    db.session.add(submission)
    db.session.commit()
    return submission.id


def _entries(challenge: Challenge) -> None:
    rng = np.random.default_rng(data.SEED + 1)
    demo = data.make_data(np.random.default_rng(data.SEED))
    teams: dict[str, Team] = {}
    ids: list[int] = []
    for n, (team_name, method, model) in enumerate(ENTRIES):
        team = teams.get(team_name)
        if team is None:
            handle = team_name.lower().replace(" ", "-")
            member = _user(f"{handle}@demo.example.org", f"{team_name} captain", None)
            team = Team(challenge=challenge, name=team_name, invite_code=secrets.token_hex(8))
            team.memberships.append(Membership(user=member, challenge_id=challenge.id,
                                               is_captain=True))
            db.session.add(team)
            db.session.commit()
            teams[team_name] = team
        member = team.memberships[0].user
        for track in challenge.tracks:
            phase = track.phases[0]
            content = data.predictions(rng, demo, model, track.task)
            ids.append(_submit(phase, team, member, method, content, days_ago=len(ENTRIES) - n))
    for submission_id in ids:
        # The real scoring job, run in this process instead of by a worker.
        jobs.score_submission(submission_id)


def load_demo(app: Flask) -> bool:
    """Load the demo when the database has no challenge; returns whether it did."""
    inside = has_app_context() and current_app._get_current_object() is app  # type: ignore[attr-defined]
    with nullcontext() if inside else app.app_context():
        if db.session.scalar(select(func.count()).select_from(Challenge)):
            return False
        with tempfile.TemporaryDirectory(prefix="challenge-demo-") as folder:
            write_demo_bundle(Path(folder))
            challenge = load_bundle(folder)
        _user(DEMO_EMAIL, "Demo User", DEMO_PASSWORD)
        db.session.commit()
        _entries(challenge)
        return True
