"""Routes of the confirmation pages (``challenge.admin.confirm``): GET shows what will
happen and what cannot be undone; the page's form posts to the action's own route."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from challenge.admin import confirm
from challenge.admin.access import managed, organizer_required
from challenge.admin.views import bp
from challenge.extensions import db
from challenge.models import Challenge, Phase


@bp.get("/challenges/<int:challenge_id>/results")
@organizer_required
def confirm_publish_results(challenge_id: int) -> ResponseReturnValue:
    return confirm.render(confirm.publish_results_page(managed(db.session.get(Challenge, challenge_id))))


@bp.get("/phases/<int:phase_id>/publish")
@organizer_required
def confirm_publish_private(phase_id: int) -> ResponseReturnValue:
    return confirm.render(confirm.publish_private_page(managed(db.session.get(Phase, phase_id))))
