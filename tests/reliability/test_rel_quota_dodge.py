"""(f) The quota dodge is refused, through the real web server and CLI.

Quota 5/day. Team A is captain Cara and Uma; team B is Vic. Uma uploads 5 files to
the classification track (A's quota is then used up). Uma then tries to dodge it:
- leave team A (web form): refused, "cannot leave", because she uploaded to an open
  phase; Cara cannot remove her either;
- an organizer takes her out of A (`challenge teams move --out`): she is on no team,
  and still cannot create a team or join team B in the challenge (web forms);
- an organizer moves her to team B (`challenge teams move --to`): her 5 uploads go
  with her, so B's classification quota is used up (Vic gets 429) and A's is free
  again (Cara's upload is accepted).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reliability_harness import make_teams, make_user, print_figures, submission_states, tiny_bundle

from tests.conftest import perfect_predictions

pytestmark = pytest.mark.slow
SLUG = "rel2012"
CLS = perfect_predictions("classification")


def _memberships(stack, user_id: int) -> list[int]:
    from sqlalchemy import select

    from challenge.models import Membership

    table = Membership.__table__
    with stack.reader().connect() as conn:
        return [row[0] for row in conn.execute(select(table.c.team_id).where(table.c.user_id == user_id))]


def _flash_after(browser, status: int, headers: dict[str, str], body: str) -> str:
    """The page a POST leads to (its redirect followed once), where the flash message is."""
    if status in (301, 302, 303) and headers.get("location"):
        location = headers["location"].replace(browser.base_url, "")
        _, _, body = browser.open("GET", location)
    return body


def test_an_uploader_cannot_dodge_the_quota_by_changing_teams(make_stack, tmp_path: Path) -> None:
    stack = make_stack(workers=1)
    stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota="5/day")))
    [team_a, team_b] = make_teams(stack, SLUG, 2, members=2, prefix="q")
    cara, uma = team_a.members
    vic = team_b.members[0]
    # B is Vic alone: the organizer takes B's second member out (nothing uploaded yet).
    stack.cli("teams", "move", team_b.members[1].email, "--challenge", SLUG, "--out", "--reason", "setup")
    make_user(stack, "org@rel.example.org", organizer=True)

    uploads = [stack.upload(uma.token, SLUG, "cls", CLS)[0] for _ in range(5)]
    sixth = stack.upload(uma.token, SLUG, "cls", CLS)

    uma_web = stack.browser()
    assert uma_web.login(uma.email, uma.password) == 302
    leave = _flash_after(uma_web, *uma_web.post(f"/teams/{team_a.id}/leave", {}, f"/teams/{team_a.id}"))
    cara_web = stack.browser()
    assert cara_web.login(cara.email, cara.password) == 302
    remove = _flash_after(cara_web, *cara_web.post(f"/teams/{team_a.id}/members/{uma.user_id}/remove", {},
                                                   f"/teams/{team_a.id}"))
    after_refusals = _memberships(stack, uma.user_id)

    # An organizer takes her out of her team: she still cannot start over in this challenge.
    out = stack.cli("teams", "move", uma.email, "--challenge", SLUG, "--out", "--reason", "asked to leave")
    with stack.session() as db:
        from sqlalchemy import select

        from challenge.models import Challenge, Team

        challenge_id = db.scalar(select(Challenge.id).where(Challenge.slug == SLUG))
        invite_b = db.scalar(select(Team.invite_code).where(Team.id == team_b.id))
    create = _flash_after(uma_web, *uma_web.post("/teams/create", {"challenge_id": str(challenge_id),
                                                                   "name": "Fresh Start"}, "/teams"))
    join = _flash_after(uma_web, *uma_web.post("/teams/join", {"challenge_id": str(challenge_id),
                                                               "invite_code": invite_b}, "/teams"))
    after_out = _memberships(stack, uma.user_id)

    # The organizer moves her to team B: her count goes with her.
    moved = stack.cli("teams", "move", uma.email, "--challenge", SLUG, "--to", str(team_b.id),
                      "--reason", "moving teams")
    _, quota_b = stack.api_get(vic.token, f"/api/v1/challenges/{SLUG}/tracks/cls/quota")
    _, quota_a = stack.api_get(cara.token, f"/api/v1/challenges/{SLUG}/tracks/cls/quota")
    vic_cls = stack.upload(vic.token, SLUG, "cls", CLS)
    vic_loc = stack.upload(vic.token, SLUG, "loc", perfect_predictions("localization"))
    cara_cls = stack.upload(cara.token, SLUG, "cls", CLS)
    after_move = _memberships(stack, uma.user_id)

    def said(page: str, *words: str) -> bool:
        return all(w.lower() in page.lower() for w in words)

    print_figures("(f) the quota dodge", {
        "Uma's 5 uploads, 6th": f"{uploads} then {sixth[0]}",
        "leave refused (says 'cannot leave')": said(leave, "cannot leave"),
        "captain's remove refused": after_refusals == [team_a.id],
        "out by organizer": out.stdout.strip()[:100],
        "create / join refused": f"{said(create, 'cannot')} / {said(join, 'cannot')}",
        "moved to B": moved.stdout.strip()[:100],
        "quota B used / A used": f"{quota_b.get('used')} / {quota_a.get('used')}",
        "Vic cls / Vic loc / Cara cls": f"{vic_cls[0]} / {vic_loc[0]} / {cara_cls[0]}",
    })

    assert uploads == [202] * 5
    assert sixth[0] == 429, sixth
    assert said(leave, "cannot leave"), "leaving was not refused with 'cannot leave'"
    assert said(leave, "uploaded"), "the refusal should say it is because of the uploads"
    assert after_refusals == [team_a.id], "Uma is no longer on team A after the refused leave/remove"
    assert said(remove, "cannot"), "the captain's removal of an uploader was not refused"
    assert after_out == [], "the organizer's move --out did not take her off the team"
    assert said(create, "cannot"), "creating a team after uploading to an open phase was not refused"
    assert said(join, "cannot"), "joining another team after uploading to an open phase was not refused"
    assert after_move == [team_b.id]
    assert (quota_b["used"], quota_b["remaining"]) == (5, 0), quota_b
    assert (quota_a["used"], quota_a["remaining"]) == (0, 5), quota_a
    assert vic_cls[0] == 429, vic_cls
    assert "quota" in json.loads(vic_cls[2])["error"]
    assert vic_loc[0] == 202, vic_loc
    assert cara_cls[0] == 202, cara_cls
    states = submission_states(stack)
    assert len(states) == 7  # Uma's 5, Vic's loc, Cara's cls
