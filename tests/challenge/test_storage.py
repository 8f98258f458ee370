"""The store, on both backends: a local folder, and S3 (moto's standalone server, a real
HTTP endpoint the session starts): keep, read, list by age, remove; a missing key; an
upload scored by a worker that reads it back from the bucket."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from submit_helpers import api_upload, drain, team_with_token

from challenge import create_app, storage
from challenge.bundles import load_bundle
from challenge.config import load_config
from challenge.models import AuditEntry, Submission
from challenge.sweeper import sweep_files
from tests.conftest import perfect_predictions


@pytest.fixture(params=["local", "s3"])
def backend(request, app_config) -> str:
    """Runs the test once per backend; on S3 each test has a prefix of its own."""
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        app_config["STORAGE_URL"] = f"s3://{server.bucket}/t-{secrets.token_hex(4)}"
        app_config["S3_ENDPOINT_URL"] = server.endpoint_url
    return request.param


def test_the_url_picks_the_backend(tmp_path: Path) -> None:
    default = load_config({"CHALLENGE_INSTANCE": str(tmp_path), "SECRET_KEY": "x"})
    assert default["STORAGE_URL"] == (tmp_path / "uploads").as_uri()
    assert default["UPLOAD_FOLDER"] == str(tmp_path / "uploads")
    local = storage.open_store(default["STORAGE_URL"])
    assert isinstance(local, storage.LocalStore) and local.root == tmp_path / "uploads"

    s3 = storage.open_store("s3://bucket/some/prefix/", "http://127.0.0.1:9000")
    assert isinstance(s3, storage.S3Store)
    assert (s3.bucket, s3.prefix, s3.endpoint_url) == ("bucket", "some/prefix", "http://127.0.0.1:9000")
    assert load_config({"CHALLENGE_INSTANCE": str(tmp_path), "SECRET_KEY": "x",
                        "STORAGE_URL": "s3://bucket"})["UPLOAD_FOLDER"] == ""
    for bad in ("s3://", "uploads", "file://relative/path", "gs://bucket"):
        with pytest.raises(ValueError, match="STORAGE_URL"):
            create_app({"CHALLENGE_INSTANCE": str(tmp_path), "SECRET_KEY": "x", "STORAGE_URL": bad})


def test_store_read_remove(backend, app) -> None:
    data = b"1 2 3 4 5\n" * 100
    stored = storage.store(7, data)
    assert stored.size == len(data)
    assert stored.path.startswith("7/") and stored.path.endswith(".txt")
    assert stored.path[2:18] == stored.sha256[:16]
    assert storage.read(stored.path) == data
    # The same bytes again: a file of its own (each submission owns its file).
    again = storage.store(7, data)
    assert again.path != stored.path and again.sha256 == stored.sha256
    storage.remove(stored.path)
    with pytest.raises(FileNotFoundError):
        storage.read(stored.path)
    storage.remove(stored.path)  # gone already: nothing happens
    assert storage.read(again.path) == data


def test_a_missing_key_is_file_not_found(backend, app) -> None:
    with pytest.raises(FileNotFoundError):
        storage.read("1/never-stored.txt")


def test_keys_outside_the_store_are_refused(backend, app) -> None:
    for bad in ("../etc/passwd", "/etc/passwd", "1/../../x", "", "a//b", "a\\b"):
        with pytest.raises(ValueError):
            storage.read(bad)
        with pytest.raises(ValueError):
            storage.get_store().put(bad, b"x")


def test_reads_are_bounded_by_the_upload_limit(backend, app) -> None:
    stored = storage.store(1, b"1\n" * 1000)
    app.config["MAX_CONTENT_LENGTH"] = 1999
    with pytest.raises(storage.StoredFileTooLarge):
        storage.read(stored.path)
    app.config["MAX_CONTENT_LENGTH"] = 2000
    assert len(storage.read(stored.path)) == 2000


def test_stored_before_lists_by_age_and_leaves_exports_out(backend, app) -> None:
    first = storage.store(1, b"1\n")
    second = storage.store(2, b"2\n")
    storage.get_store().put(f"{storage.EXPORTS}/year/bundle.tar.gz", b"bundle")
    # Object stores keep whole-second times: a cutoff a few seconds either side.
    later, earlier = time.time() + 5, time.time() - 60
    assert sorted(storage.stored_before(later)) == sorted([first.path, second.path])
    assert list(storage.stored_before(earlier)) == []


def test_the_sweeper_removes_only_files_no_submission_owns(backend, app, db, make_user, make_challenge,
                                                            make_team) -> None:
    t = team_with_token(make_user, make_challenge, make_team)
    client = app.test_client()
    assert api_upload(client, t["token"], perfect_predictions("classification")).status_code == 202
    owned = db.query(Submission).one().stored_path
    orphan = storage.store(t["phase"].id, b"1\n")  # a file whose submission never committed
    assert sweep_files(older_than=timedelta(seconds=-5)) == [orphan.path]
    with pytest.raises(FileNotFoundError):
        storage.read(orphan.path)
    assert storage.read(owned) == perfect_predictions("classification")


def test_an_upload_is_scored_by_a_worker_reading_the_store(backend, app, db, redis, make_user,
                                                           make_challenge, make_team, s3_server) -> None:
    t = team_with_token(make_user, make_challenge, make_team, task="localization", track_slug="cls")
    client = app.test_client()
    data = perfect_predictions("localization")
    response = api_upload(client, t["token"], data)
    assert response.status_code == 202, response.get_json()
    assert drain(app)
    db.remove()
    submission = db.query(Submission).one()
    assert submission.status == "scored", submission.error
    assert submission.score.error == 0.0 and submission.score.images == 20

    instance = Path(app.config["CHALLENGE_INSTANCE"])
    prefix = app.config["STORAGE_URL"].removeprefix(f"s3://{s3_server.bucket}/")
    if backend == "s3":
        # In the bucket, under the prefix, by the row's key; nothing on local disk.
        assert s3_server.keys(prefix + "/") == [f"{prefix}/{submission.stored_path}"]
        assert not (instance / "uploads").exists()
    else:
        assert (instance / "uploads" / submission.stored_path).read_bytes() == data

    # The team's download reads the same store.
    client.post("/login", data={"email": t["user"].email, "password": "password123"})
    download = client.get(f"/submissions/{submission.id}/file")
    assert download.status_code == 200 and download.data == data


def test_a_forked_child_reads_on_a_client_of_its_own(backend, app) -> None:
    # As a work horse does: the parent has used (and warmed) the store before forking.
    stored = storage.store(3, b"3\n" * 10)
    store = storage.get_store()
    store.warm()
    assert storage.read(stored.path) == b"3\n" * 10
    parent_client = getattr(store, "_client_obj", None)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, and leave without running pytest's teardown
        try:
            ok = storage.read(stored.path) == b"3\n" * 10
            fresh = backend == "local" or store._client_obj is not parent_client
            os.write(write_end, b"ok" if ok and fresh else b"bad")
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    assert os.read(read_end, 16) == b"ok" and status == 0
    os.close(read_end)
    assert storage.read(stored.path) == b"3\n" * 10  # the parent's client still works


def test_an_export_is_kept_in_the_store_and_loads_again(backend, app, db, runner, make_challenge,
                                                        tmp_path) -> None:
    make_challenge("tiny2012")
    result = runner.invoke(args=["export", "tiny2012", "--to-store", "--as", "tiny2012-copy"])
    assert result.exit_code == 0, result.output
    key = result.output.strip().rsplit(" as ", 1)[1]
    assert key.startswith(f"{storage.EXPORTS}/tiny2012-copy/") and key.endswith(".tar.gz")
    assert app.config["STORAGE_URL"] in result.output
    data = storage.get_store().get(key, 1 << 30)
    with tarfile.open(fileobj=io.BytesIO(data)) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    copy = load_bundle(tmp_path / "unpacked" / "tiny2012-copy")
    assert copy.slug == "tiny2012-copy" and len(copy.tracks) == 1
    # Kept, not an orphan upload: the sweeper never lists it.
    assert key not in list(storage.stored_before(time.time() + 5))
    entry = db.scalar(select(AuditEntry).where(AuditEntry.action == "challenge.export"))
    assert entry.note == f"kept in the store as {key}"

    for args in (["export", "tiny2012"], ["export", "tiny2012", str(tmp_path / "out"), "--to-store"]):
        refused = runner.invoke(args=args)
        assert refused.exit_code == 2 and "give OUTDIR or --to-store" in refused.output
