"""The guiding console (issue 12, item 8): dashboard, readable audit log, confirmation
pages for irreversible actions, submissions by names with scores and retry, and bundle
upload. Real database, real Redis, real RQ workers (SimpleWorker bursts)."""

from __future__ import annotations

import io
import re
import tarfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import Worker
from sqlalchemy import func, select
from submit_helpers import drain

from challenge import audit
from challenge.admin import archives
from challenge.admin.bundle_upload import UploadError, load_archive
from challenge.models import AuditEntry, Challenge, FinalResults, Phase, Submission
from challenge.queue import get_redis, worker_queues
from challenge.submissions import service as submissions
from tests.conftest import TINY_LABELS, perfect_predictions, tiny_files

CLOSED = {"opens": datetime(2012, 5, 1, tzinfo=UTC), "closes": datetime(2012, 9, 1, tzinfo=UTC)}


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


def text(response) -> str:
    return response.get_data(as_text=True)


def audit_count(db) -> int:
    return db.scalar(select(func.count(AuditEntry.id)))


def wrong(n: int) -> bytes:
    return "".join(f"{(label % 10) + 1 if i < n else label}\n"
                   for i, label in enumerate(TINY_LABELS)).encode()


# ------------------------------------------------------------------ dashboard

def test_dashboard_shows_queues_workers_uploads_per_day_and_participation(app, client, db, redis, make_user,
                                                                            make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob, carol = make_user(), make_user(), make_user()
    challenge = make_challenge(quota=(20, "day"))
    make_challenge("quiet2013", year=2013)
    make_team(challenge, alice, carol, name="Alpha")
    make_team(challenge, bob, name="Beta")
    make_team(challenge, name="Gamma")  # no uploads
    phase = challenge.tracks[0].phases[0]
    for user in (alice, alice, carol, bob):
        submissions.submit(user, phase, "p.txt", perfect_predictions("classification"))
    old = submissions.submit(alice, phase, "old.txt", wrong(2))
    old.created_at = datetime.now(UTC) - timedelta(days=3)
    db.commit()
    # A registered RQ worker (its hash in Redis, as a running `challenge worker` keeps it).
    worker = Worker(worker_queues(app), connection=get_redis(app), name="dash-worker")
    worker.register_birth()
    login(client, organizer)
    before = audit_count(db)
    try:
        page = text(client.get("/admin/"))
    finally:
        worker.register_death()
    assert audit_count(db) == before  # a GET writes nothing
    assert re.search(r'<strong id="live-workers">1</strong> live worker', page)
    assert "<strong>5</strong> waiting on <code>scoring</code>" in page
    assert "Submissions per day (last 14 days, UTC)" in page and "<svg" in page and "<script" not in page
    today = datetime.now(UTC).date()
    assert f"<title>{today.isoformat()}: 4</title>" in page
    assert f"<title>{(today - timedelta(days=3)).isoformat()}: 1</title>" in page
    assert f"<title>{(today - timedelta(days=13)).isoformat()}: 0</title>" in page
    row = re.search(r"Tiny 2012</a>.*?</tr>", page, re.S).group(0)
    # 3 teams, 2 of them uploaded, 3 people uploaded, 5 submissions, none failed.
    assert re.findall(r'<td class="num">(?:<a [^>]*>)?(\d+)', row) == ["3", "2", "3", "5", "0"]
    assert "Tiny 2013" in page and "No worker is running" not in page
    assert "No worker is running" in text(client.get("/admin/"))


# ------------------------------------------------------------------ audit log

def test_audit_log_is_a_readable_filtered_paged_table(app, client, db, make_user, make_challenge):
    organizer = make_user("boss@example.org", organizer=True)
    other = make_user("helper@example.org", organizer=True)
    tiny, second = make_challenge(), make_challenge("second2013", year=2013)
    phase = tiny.tracks[0].phases[0]
    for i in range(55):
        audit.record(organizer, "phase.update", f"phase:{phase.id}", challenge_id=tiny.id,
                     before={"quota_count": i, "title": "It's"},
                     after={"quota_count": i + 1, "title": "It's"})
    audit.record(other, "challenge.load", f"challenge:{second.id}", challenge_id=second.id,
                 before={"slug": "second2013", "tracks": [{"slug": "cls", "phases": [{"slug": "test",
                                                                                      "quota": "5/day"}]}]},
                 after={"slug": "second2013", "tracks": [{"slug": "cls", "phases": [{"slug": "test",
                                                                                     "quota": "2/week"}]}]},
                 note="bundle x")
    old = audit.record(None, "track.update", "track:1", challenge_id=tiny.id, after={"title": "Old"})
    db.flush()
    old.at = datetime(2012, 5, 2, 12, tzinfo=UTC)
    db.commit()
    login(client, organizer)

    first = text(client.get("/admin/audit"))
    assert "57 entries; page 1 of 2" in first and first.count('<tr><td><time') == 50
    assert "\\u0027" not in first and "&#34;" not in first and '{"' not in first
    assert "<code>tracks[cls].phases[test].quota</code>: <del>5/day</del> → <ins>2/week</ins>" in first
    assert "<code>quota_count</code>: <del>54</del> → <ins>55</ins>" in first
    assert "<code>title</code>" not in first  # unchanged keys are not shown (the 2012 entry is on page 2)
    assert f'<a href="/admin/phases/{phase.id}">phase:{phase.id}</a>' in first
    assert f'<a href="/admin/challenges/{second.id}">challenge:{second.id}</a>' in first
    assert 'href="/admin/audit?page=2" rel="next"' in first
    assert text(client.get("/admin/audit?page=2")).count('<tr><td><time') == 7

    by_actor = text(client.get("/admin/audit?actor=HELPER"))
    assert "1 entry." in by_actor and "bundle x" in by_actor
    assert "1 entry." in text(client.get("/admin/audit?actor=command+line"))
    by_action = text(client.get("/admin/audit?action=phase.update&page=2"))
    assert "55 entries; page 2 of 2" in by_action and by_action.count("<tr><td><time") == 5
    assert 'href="/admin/audit?page=1&amp;action=phase.update"' in by_action or \
        'href="/admin/audit?action=phase.update&amp;page=1"' in by_action
    assert "1 entry." in text(client.get("/admin/audit?challenge=second2013"))
    assert "No entries match" in text(client.get("/admin/audit?challenge=nosuch"))
    dated = text(client.get("/admin/audit?from=2012-05-01&to=2012-05-02"))
    assert "1 entry." in dated and "<ins>Old</ins>" in dated
    assert "56 entries" in text(client.get(f"/admin/audit?from={datetime.now(UTC).date().isoformat()}"))
    bad = client.get("/admin/audit?from=yesterday")
    assert bad.status_code == 400 and "from: &#39;yesterday&#39; is not a date like 2012-05-01" in text(bad)


# ------------------------------------------------------------------ confirmations

def test_publishing_final_results_needs_the_confirmation_page(app, client, db, make_user, make_challenge):
    organizer = make_user("boss@example.org", organizer=True)
    challenge = make_challenge(**CLOSED)
    login(client, organizer)
    dashboard = text(client.get("/admin/"))
    assert f'href="/admin/challenges/{challenge.id}/results">publish final results…' in dashboard
    page = text(client.get(f"/admin/challenges/{challenge.id}/results"))
    assert "What cannot be undone" in page and "never change" in page
    assert 'name="confirm" value="yes"' in page and "Publish the final results" in page
    before = audit_count(db)
    unconfirmed = client.post(f"/admin/challenges/{challenge.id}/results")
    assert unconfirmed.status_code == 303
    assert unconfirmed.headers["Location"].endswith(f"/admin/challenges/{challenge.id}/results")
    assert client.post(f"/admin/challenges/{challenge.id}/results", data={"confirm": "no"}).status_code == 303
    assert db.scalar(select(func.count(FinalResults.id))) == 0 and audit_count(db) == before
    done = client.post(f"/admin/challenges/{challenge.id}/results", data={"confirm": "yes"})
    assert done.status_code == 302 and done.headers["Location"].endswith("/results/tiny2012")
    assert db.scalar(select(func.count(FinalResults.id))) == 1
    again = text(client.get(f"/admin/challenges/{challenge.id}/results"))
    assert 'id="blocked"' in again and "Not possible now: they were published at" in again
    assert 'name="confirm"' not in again


def test_publishing_a_private_board_needs_the_confirmation_page(app, client, db, make_user, make_challenge):
    organizer = make_user("boss@example.org", organizer=True)
    phase = make_challenge(**CLOSED).tracks[0].phases[0]
    phase.public_fraction = 0.5
    db.commit()
    login(client, organizer)
    boards = text(client.get("/admin/boards"))
    assert f'href="/admin/phases/{phase.id}/publish" id="publish-{phase.id}"' in boards
    page = text(client.get(f"/admin/phases/{phase.id}/publish"))
    assert "Publish the private leaderboard of tiny2012/cls/test?" in page
    assert "cannot be hidden again" in page
    response = client.post(f"/admin/phases/{phase.id}/publish", follow_redirects=True)
    assert "Nothing was done" in text(response) and "What cannot be undone" in text(response)
    db.expire_all()
    assert db.get(Phase, phase.id).private_published_at is None
    assert client.post(f"/admin/phases/{phase.id}/publish", data={"confirm": "yes"}).status_code == 302
    db.expire_all()
    assert db.get(Phase, phase.id).private_published_at is not None
    assert "it was published at" in text(client.get(f"/admin/phases/{phase.id}/publish"))


def test_disqualifying_a_submission_needs_confirmation_hiding_does_not(app, client, db, redis, make_user,
                                                                       make_challenge, make_team):
    organizer, alice = make_user("boss@example.org", organizer=True), make_user()
    challenge = make_challenge()
    make_team(challenge, alice, name="Alpha")
    submission = submissions.submit(alice, challenge.tracks[0].phases[0], "a.txt", wrong(0))
    login(client, organizer)
    url = f"/admin/submissions/{submission.id}/moderate"
    before = audit_count(db)
    asked = client.post(url, data={"state": "disqualified", "reason": "copied from Beta"})
    page = text(asked)
    assert asked.status_code == 200 and f"Disqualify submission {submission.id} of Alpha?" in page
    assert "copied from Beta" in page and 'name="state" value="disqualified"' in page
    db.expire_all()
    assert db.get(Submission, submission.id).moderation == "" and audit_count(db) == before
    assert client.post(url, data={"state": "disqualified", "reason": "copied from Beta",
                                  "confirm": "yes"}).status_code == 302
    db.expire_all()
    assert db.get(Submission, submission.id).moderation == "disqualified"
    # Hiding is undone without trace for the team: no confirmation.
    assert client.post(url, data={"state": "hidden", "reason": "test upload"}).status_code == 302
    db.expire_all()
    assert db.get(Submission, submission.id).moderation == "hidden"


# ------------------------------------------------------------------ submissions

def test_submission_list_filters_by_names_pages_shows_scores_and_retries(app, client, db, redis, make_user,
                                                                         make_challenge, make_team):
    organizer, alice, bob = make_user("boss@example.org", organizer=True), make_user(), make_user()
    tiny = make_challenge(quota=(100, "day"))
    other = make_challenge("other2013", year=2013, task="localization", track_slug="loc")
    make_team(tiny, alice, name="Alpha")
    make_team(other, bob, name="Beta")
    phase = tiny.tracks[0].phases[0]
    good = submissions.submit(alice, phase, "good.txt", wrong(2))
    lost = submissions.submit(alice, phase, "lost.txt", wrong(0))
    loc = submissions.submit(bob, other.tracks[0].phases[0], "loc.txt", perfect_predictions("localization"))
    stored = Path(app.config["UPLOAD_FOLDER"]) / lost.stored_path
    kept = stored.read_bytes()
    stored.unlink()  # the worker fails it: the file is missing on the server
    drain(app)
    login(client, organizer)

    page = text(client.get("/admin/submissions"))
    assert '<option value="tiny2012">tiny2012 · Tiny 2012</option>' in page
    assert '<option value="cls">cls · Tiny classification</option>' in page
    assert '<option value="test">test · Test</option>' in page
    assert f">{good.id}</a>" in page and f">{loc.id}</a>" in page
    assert ">0.10000</span>" in page  # 2 of 20 wrong: the headline error
    assert page.count(">Retry</button>") == 1
    by_track = text(client.get("/admin/submissions?track=loc"))
    assert f">{loc.id}</a>" in by_track and f">{good.id}</a>" not in by_track
    narrowed = text(client.get("/admin/submissions?challenge=tiny2012"))
    assert '<option value="loc">' not in narrowed and '<option value="cls"' in narrowed
    by_names = text(client.get("/admin/submissions?challenge=tiny2012&track=cls&phase=test&status=failed"))
    assert f">{lost.id}</a>" in by_names and f">{good.id}</a>" not in by_names
    assert "missing on the server" in by_names
    assert "No submissions match" in text(client.get("/admin/submissions?phase=nosuch"))
    bad = client.get("/admin/submissions?status=bogus")
    assert bad.status_code == 400 and "status: &#39;bogus&#39; is not one of" in text(bad)

    # Retry from the filtered list: queued again through the submission's own retry, audited.
    response = client.post("/admin/submissions/retry", data={
        "submission_id": str(lost.id), "challenge": "tiny2012", "status": "failed"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/submissions?challenge=tiny2012&status=failed")
    db.expire_all()
    again = db.get(Submission, lost.id)
    assert (again.status, again.attempts, again.error) == ("queued", 0, None)
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "submission.retry")).all()
    assert entry.target == f"submission:{lost.id}" and entry.actor_id == organizer.id
    assert entry.before["status"] == "failed" and entry.after["status"] == "queued"
    assert again.job_id in worker_queues(app)[0].get_job_ids()
    refused = client.post("/admin/submissions/retry", data={"submission_id": str(good.id)},
                          follow_redirects=True)
    assert "only a failed submission can be retried" in text(refused)
    assert client.post("/admin/submissions/retry", data={"submission_id": "999999"}).status_code == 404
    stored.write_bytes(kept)
    drain(app)  # a real burst worker scores it
    db.expire_all()
    assert db.get(Submission, lost.id).status == "scored"
    assert ">0.00000</span>" in text(client.get("/admin/submissions?status=scored&team=alpha"))

    # Pages of 50, newest first, filters kept in the links.
    for _ in range(50):
        submissions.submit(alice, phase, "more.txt", wrong(1))
    first = text(client.get("/admin/submissions?challenge=tiny2012"))
    assert "52 submission(s); page 1 of 2" in first
    assert first.count('<tr><td><a href="/admin/submissions/') == 50
    assert 'href="/admin/submissions?page=2&amp;challenge=tiny2012"' in first
    second = text(client.get("/admin/submissions?challenge=tiny2012&page=2"))
    assert second.count('<tr><td><a href="/admin/submissions/') == 2 and f">{good.id}</a>" in second


# ------------------------------------------------------------------ bundle upload

BUNDLE = """\
slug = "upload2012"
year = 2012
title = "Uploaded 2012"
classes = "classes.txt"

[[tracks]]
slug = "cls"
title = "Classification"
task = "classification"
guesses = 5

[[tracks.phases]]
slug = "test"
labels = "labels.txt"
opens = 2012-05-01T00:00:00Z
closes = 2030-01-01T00:00:00Z
quota = "{quota}"
"""


def bundle_files(quota: str = "5/day", **extra: bytes) -> dict[str, bytes]:
    files = tiny_files()
    return {"challenge.toml": BUNDLE.format(quota=quota).encode(), "classes.txt": files["classes.txt"],
            "labels.txt": files["labels.txt"], **extra}


def make_zip(files: dict[str, bytes], folder: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(folder + name, data)
    return out.getvalue()


def make_tgz(files: dict[str, bytes], folder: str = "",
             links: dict[str, tuple[bytes, str]] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(folder + name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(folder + name)
            info.type, info.linkname = kind, target
            archive.addfile(info)
    return out.getvalue()


def upload(client, data: bytes, name: str = "bundle.zip"):
    return client.post("/admin/bundles/upload", data={"archive": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def test_uploading_a_bundle_archive_loads_it_like_challenge_load(app, client, db, make_user):
    organizer = make_user("boss@example.org", organizer=True)
    login(client, organizer)
    form = text(client.get("/admin/bundles/upload"))
    assert 'type="file"' in form and "at most 200 files and folders" in form
    created = upload(client, make_zip(bundle_files(), folder="upload2012/"))
    assert created.status_code == 302
    challenge = db.scalar(select(Challenge).where(Challenge.slug == "upload2012"))
    assert created.headers["Location"].endswith(f"/admin/challenges/{challenge.id}")
    assert challenge.tracks[0].phases[0].images == len(TINY_LABELS)
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "challenge.load")).all()
    assert entry.actor_id == organizer.id and entry.before is None
    assert entry.note.startswith("bundle uploaded in the console: bundle.zip (")
    # The same slug again, as tar.gz with the manifest at the top: an update, audited with the diff.
    updated = upload(client, make_tgz(bundle_files(quota="2/week")), "bundle.tar.gz")
    assert updated.status_code == 302
    shown = text(client.get(updated.headers["Location"]))
    assert "Updated upload2012 (Uploaded 2012): 1 track(s), 1 phase(s)." in shown
    db.expire_all()
    phase = challenge.tracks[0].phases[0]
    assert (phase.quota_count, phase.quota_period) == (2, "week")
    log = text(client.get("/admin/audit?action=challenge.load"))
    assert "<code>tracks[cls].phases[test].quota</code>: <del>5/day</del> → <ins>2/week</ins>" in log


HOSTILE = [
    (make_zip(bundle_files(**{"../evil.txt": b"x"})), "member '../evil.txt': '..' would write outside"),
    (make_tgz(bundle_files(**{"/etc/evil": b"x"})), "member '/etc/evil': an absolute path"),
    (make_zip(bundle_files(**{"a\\..\\evil": b"x"})), "a path with a backslash or NUL is not accepted"),
    (make_tgz(bundle_files(), links={"labels2.txt": (tarfile.SYMTYPE, "/etc/passwd")}),
     "member 'labels2.txt' is a symbolic link"),
    (make_tgz(bundle_files(), links={"labels2.txt": (tarfile.LNKTYPE, "labels.txt")}),
     "member 'labels2.txt' is a hard link"),
    (make_tgz(bundle_files(), links={"dev": (tarfile.CHRTYPE, "")}),
     "member 'dev' is not a file or a folder"),
    (make_zip({**bundle_files(), **{f"extra/{i}.txt": b"" for i in range(200)}}),
     "203 members; the limit is 200"),
    (make_tgz({**bundle_files(), **{f"extra/{i}.txt": b"" for i in range(200)}}), "more than 200 members"),
    (b"just some text, not an archive", "neither a zip nor a tar.gz"),
    (b"\x1f\x8b\x08\x00broken gzip", "not a readable tar.gz archive"),
    (b"PK\x03\x04broken zip", "not a readable zip archive"),
    (make_zip({"readme.txt": b"hello"}), "challenge.toml not found at the top of the archive"),
    (make_zip(bundle_files(**{"labels.txt": b"1\n2\n99\n"})), "bundle not loaded, nothing changed:"),
]


@pytest.mark.parametrize(("data", "message"), HOSTILE)
def test_hostile_or_bad_archives_are_refused_with_a_specific_message(app, client, db, make_user, data,
                                                                     message):
    login(client, make_user("boss@example.org", organizer=True))
    before = audit_count(db)
    response = upload(client, data)
    assert response.status_code == 400
    assert message.replace("'", "&#39;") in text(response)
    assert db.scalar(select(func.count(Challenge.id))) == 0 and audit_count(db) == before


def test_symlinks_in_a_zip_and_bombs_are_refused_within_the_limits(app, client, db, make_user):
    organizer = make_user("boss@example.org", organizer=True)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in bundle_files().items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("labels2.txt")
        link.external_attr = (0o120777 << 16)
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UploadError, match="member 'labels2.txt' is a symbolic link"):
        load_archive(organizer, "b.zip", out.getvalue())
    small = archives.Limits(archive_bytes=100_000, members=50, unpacked_bytes=5_000)
    bomb = bundle_files(**{"zeros.bin": b"\0" * 1_000_000})  # compresses to about 1 kB
    for data in (make_zip(bomb), make_tgz(bomb)):
        assert len(data) < 10_000
        with pytest.raises(UploadError, match="unpacks to (more than )?[0-9]+ bytes"):
            load_archive(organizer, "bomb", data, small)
    with pytest.raises(UploadError, match="the archive is [0-9]+ bytes; the limit is 100 bytes"):
        load_archive(organizer, "big.zip", make_zip(bundle_files()),
                     archives.Limits(archive_bytes=100, members=50, unpacked_bytes=5_000))
    # A zip whose headers understate a member's size: refused, never unpacked past its word.
    liar = make_zip(bomb)
    declared = liar.replace((1_000_000).to_bytes(4, "little"), (10).to_bytes(4, "little"))
    with pytest.raises(UploadError, match="unpacks to more than 5000 bytes|cannot be read|not a readable"):
        load_archive(organizer, "liar.zip", declared, small)
    assert db.scalar(select(func.count(Challenge.id))) == 0
    assert db.scalar(select(func.count(AuditEntry.id))) == 0
    # Through the console, an archive over the request limit is refused before it is read.
    login(client, organizer)
    app.config["MAX_CONTENT_LENGTH"] = 300
    assert upload(client, make_zip(bundle_files())).status_code == 413
    assert db.scalar(select(func.count(Challenge.id))) == 0


# ------------------------------------------------------------------ dashboard pages

def test_the_dashboards_challenges_come_20_a_page_newest_first_and_the_figures_stay_right(
        app, client, db, redis, make_user, make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob = make_user(), make_user()
    made = {year: make_challenge(f"tiny{year}", year=year) for year in range(2000, 2025)}  # 25
    newest, oldest = made[2024], made[2000]
    make_team(newest, alice, name="Alpha")
    make_team(newest, bob, name="Beta")
    make_team(oldest, alice, name="Old")
    for user in (alice, alice, bob):
        submissions.submit(user, newest.tracks[0].phases[0], "p.txt", perfect_predictions("classification"))
    failed = submissions.submit(alice, oldest.tracks[0].phases[0], "p.txt",
                                perfect_predictions("classification"))
    failed.status = "failed"
    db.commit()
    login(client, organizer)
    before = audit_count(db)

    first = text(client.get("/admin/"))
    years = [int(y) for y in re.findall(r"<tr><td>(\d{4}) · <a", first)]
    assert years == list(range(2024, 2004, -1))  # 20, newest first
    assert "25 challenges, newest first; page 1 of 2." in first
    assert 'href="/admin/?page=2" rel="next"' in first and 'rel="prev"' not in first
    row = re.search(r"Tiny 2024</a>.*?</tr>", first, re.S).group(0)
    # 2 teams, both uploaded, 2 people, 3 submissions, none failed.
    assert re.findall(r'<td class="num">(?:<a [^>]*>)?(\d+)', row) == ["2", "2", "2", "3", "0"]
    # The chart counts every managed challenge's uploads, not only this page's.
    today = datetime.now(UTC).date()
    assert f"<title>{today.isoformat()}: 4</title>" in first

    second = text(client.get("/admin/?page=2"))
    assert [int(y) for y in re.findall(r"<tr><td>(\d{4}) · <a", second)] == [2004, 2003, 2002, 2001, 2000]
    assert 'href="/admin/?page=1" rel="prev"' in second and 'rel="next"' not in second
    row = re.search(r"Tiny 2000</a>.*?</tr>", second, re.S).group(0)
    assert re.findall(r'<td class="num">(?:<a [^>]*>)?(\d+)', row) == ["1", "1", "1", "1", "1"]
    assert f"<title>{today.isoformat()}: 4</title>" in second
    assert text(client.get("/admin/?page=99")) == second  # past the end: the last page
    assert text(client.get("/admin/?page=x")) == first
    assert audit_count(db) == before  # GETs write nothing
