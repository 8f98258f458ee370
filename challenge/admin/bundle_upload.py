"""Console: upload a whole bundle (zip or tar.gz) and load it as ``challenge load`` does.

The archive is unpacked within bounds (``archives``) into a temporary folder, then read
and checked by the bundle loader itself (``bundles.read_bundle``) and saved in one
transaction with its audit entry (``bundles.save_bundle``), so the console accepts a
bundle exactly when the command line would, with the same messages. A refused archive or
bundle changes nothing: the database is untouched and the folder is deleted.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flask import current_app, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import select
from werkzeug.utils import secure_filename

from challenge import bundles
from challenge.admin import archives
from challenge.admin.access import can_manage, site_admin_required
from challenge.admin.views import bp
from challenge.auth.current import me
from challenge.extensions import db
from challenge.models import Challenge, User

#: Files and folders in one bundle archive: a manifest, class list, ground truth, samples.
MAX_MEMBERS = 200


class UploadError(Exception):
    """The bundle is not loaded; ``message`` says why (nothing changed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Loaded:
    challenge: Challenge
    created: bool


class BundleUploadForm(FlaskForm):
    archive = FileField("Bundle archive (.zip or .tar.gz): challenge.toml and its files, at the top "
                        "or in one folder")


def limits() -> archives.Limits:
    config = current_app.config
    return archives.Limits(archive_bytes=int(config["MAX_CONTENT_LENGTH"]), members=MAX_MEMBERS,
                           unpacked_bytes=int(config["MAX_DECOMPRESSED_MB"]) * 1024 * 1024)


def load_archive(actor: User, filename: str, data: bytes, bounds: archives.Limits | None = None) -> Loaded:
    """Unpack, check and load the bundle archive; raises UploadError (nothing changed)."""
    if not data:
        raise UploadError("archive: choose a .zip or .tar.gz file (the one given is empty)")
    name = secure_filename(filename) or "bundle"
    with tempfile.TemporaryDirectory(prefix="console-bundle-") as tmp:
        folder = Path(tmp)
        try:
            archives.unpack(data, folder, bounds or limits())
            root = archives.bundle_root(folder, bundles.MANIFEST)
            spec = bundles.read_bundle(root)
        except archives.ArchiveError as exc:
            raise UploadError(f"archive {name}: {exc}; nothing was loaded") from None
        except bundles.BundleError as exc:
            # The loader names files by the folder it read: here a temporary one.
            text = str(exc).replace(str(root.resolve()), "the archive").replace(str(folder), "the archive")
            raise UploadError(f"bundle not loaded, nothing changed: {text}") from None
        existing = db.session.scalar(select(Challenge).where(Challenge.slug == spec.slug))
        if existing is not None and not can_manage(existing):
            raise UploadError(f"bundle not loaded: challenge {spec.slug!r} exists and is not yours to change")
        digest = hashlib.sha256(data).hexdigest()
        try:
            challenge = bundles.save_bundle(
                spec, actor=actor, note=f"bundle uploaded in the console: {name} ({len(data)} bytes, "
                                        f"sha256 {digest[:12]})")
        except bundles.BundleError as exc:
            raise UploadError(f"bundle not loaded, nothing changed: {exc}") from None
    return Loaded(challenge, existing is None)


@bp.route("/bundles/upload", methods=["GET", "POST"])
@site_admin_required  # a bundle may create a challenge: site-wide, like `challenge load`
def bundle_upload() -> ResponseReturnValue:
    form = BundleUploadForm()
    context = {"form": form, "limits": limits(), "manifest": bundles.MANIFEST}
    if not form.is_submitted():
        return render_template("admin/bundle_upload.html", **context)
    if not form.validate():
        flash("Not loaded: the form expired; please try again.", "error")
        return render_template("admin/bundle_upload.html", **context), 400
    storage = form.archive.data
    if storage is None or not getattr(storage, "filename", ""):
        flash("archive: choose a .zip or .tar.gz file", "error")
        return render_template("admin/bundle_upload.html", **context), 400
    try:
        loaded = load_archive(me(), storage.filename or "", storage.read())
    except UploadError as exc:
        flash(exc.message, "error")
        return render_template("admin/bundle_upload.html", **context), 400
    challenge = loaded.challenge
    phases = sum(len(t.phases) for t in challenge.tracks)
    flash(f"{'Created' if loaded.created else 'Updated'} {challenge.slug} ({challenge.title}): "
          f"{len(challenge.tracks)} track(s), {phases} phase(s).", "success")
    return redirect(url_for("admin.challenge", challenge_id=challenge.id))
