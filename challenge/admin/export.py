"""Console: download a whole challenge as a bundle (.tar.gz) that ``challenge load`` re-creates.

The archive holds the hidden ground truth, so the route is for the challenge's organizers only
(site admins and its hosts; 404 for everyone else) and every download is written to the audit log.
"""

from __future__ import annotations

import io

from flask import abort, send_file
from flask.typing import ResponseReturnValue

from challenge import export_bundle
from challenge.admin.access import can_manage, organizer_required
from challenge.admin.views import bp
from challenge.auth.current import me


@bp.get("/c/<slug>/export.tar.gz")
@organizer_required
def export_challenge(slug: str) -> ResponseReturnValue:
    challenge = export_bundle.find(slug)
    if challenge is None or not can_manage(challenge):
        abort(404)
    data = export_bundle.archive(challenge, actor=me())
    return send_file(io.BytesIO(data), mimetype="application/gzip", as_attachment=True,
                     download_name=f"{slug}-bundle.tar.gz", max_age=0)
