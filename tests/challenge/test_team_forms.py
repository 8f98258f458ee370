"""The create and join forms of "My teams", issue 12 item 3: a refusal re-renders the page
(400) with every error beside its input (aria-invalid, aria-describedby naming the error's
id), what was typed kept, and nothing written; a refusal about the person or the year
heads the form, which names it the same way."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from challenge.models import Membership, RulesAcceptance, Submission, Team, User
from challenge.rules import service as rules
from challenge.teams.service import move_member


def login(client, user: User) -> None:
    assert client.post("/login", data={"email": user.email, "password": "password123"}).status_code == 302


def inputs(page: str) -> dict[str, str]:
    """Each <input>'s tag, by its id."""
    tags = re.findall(r"<input[^>]*>", page)
    return {m.group(1): tag for tag in tags if (m := re.search(r'\sid="([^"]+)"', tag))}


def described(page: str, tag: str) -> list[str]:
    """The texts of the messages ``tag``'s aria-describedby names (each must be on the page)."""
    found = re.search(r'aria-describedby="([^"]+)"', tag)
    assert found, tag
    texts = []
    for error_id in found.group(1).split():
        message = re.search(rf'<(?:span|p) class="(?:error-text|flash error)" id="{error_id}">([^<]+)<', page)
        assert message, error_id
        texts.append(message.group(1))
    return texts


def field_errors(page: str, input_id: str) -> list[str]:
    tag = inputs(page)[input_id]
    assert 'aria-invalid="true"' in tag, tag
    return described(page, tag)


def form_errors(page: str, action: str, challenge_id: int) -> list[str]:
    """The form-level refusals of the form posting to ``action`` in the challenge's section."""
    section = page.split(f'id="challenge-{challenge_id}"', 1)[1].split("</section>", 1)[0]
    tag = re.search(rf'<form method="post" action="{action}"[^>]*>', section).group(0)
    return described(page, tag)


def written(db) -> tuple[int, int, int]:
    """Teams, memberships, rules acceptances: what a refusal must leave as it was."""
    db.expire_all()
    return tuple(db.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                 for model in (Team, Membership, RulesAcceptance))


def counted_upload(db, challenge, team, user) -> None:
    """A counted upload in the challenge's open phase (as the upload path commits it), no file."""
    db.add(Submission(phase=challenge.tracks[0].phases[0], team=team, user=user, filename="p.txt",
                      stored_path="x/p.txt", sha256="0" * 64, size=1, quota_period="total", quota_slot=1))
    db.commit()


@pytest.fixture
def setup(db, client, make_user, make_challenge, make_team):
    """Ada, logged in, on no team; a challenge with a team 'Taken' (invite code known)."""
    challenge = make_challenge()
    taken = make_team(challenge, make_user("owner@example.org"), name="Taken")
    ada = make_user("ada@example.org")
    login(client, ada)
    return {"challenge": challenge, "taken": taken, "ada": ada}


# ---------------------------------------------------------------- create

def test_every_create_error_at_once_beside_its_input(client, db, setup):
    challenge = setup["challenge"]
    rules.set_rules(None, challenge, "Be fair.")
    before = written(db)
    response = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "  "})
    assert response.status_code == 400
    page = response.text
    assert field_errors(page, f"create-name-{challenge.id}") == ["This field is required."]
    [unticked] = field_errors(page, f"create-accept_rules-{challenge.id}")
    assert "tick the box to accept them (version 1)" in unticked
    assert 'class="flash error"' not in page  # nothing about the person or the year
    assert written(db) == before


def test_a_taken_name_is_said_at_the_name_and_what_was_typed_stays(client, db, setup):
    challenge = setup["challenge"]
    rules.set_rules(None, challenge, "Be fair.")
    before = written(db)
    response = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "taken",
                                                  "accept_rules": "y", "rules_version": "1"})
    assert response.status_code == 400
    page = response.text
    name = inputs(page)[f"create-name-{challenge.id}"]
    assert 'value="taken"' in name
    assert field_errors(page, f"create-name-{challenge.id}") == [
        "a team named &#39;taken&#39; already exists in Tiny 2012"]
    box = inputs(page)[f"create-accept_rules-{challenge.id}"]
    assert " checked" in box and "aria-invalid" not in box  # still ticked: the rules did not change
    assert written(db) == before


def test_a_too_long_name_is_kept_and_refused_at_its_input(client, db, setup):
    challenge = setup["challenge"]
    before = written(db)
    long_name = "N" * 101
    response = client.post("/teams/create", data={"challenge_id": challenge.id, "name": long_name})
    assert response.status_code == 400
    assert f'value="{long_name}"' in inputs(response.text)[f"create-name-{challenge.id}"]
    assert field_errors(response.text, f"create-name-{challenge.id}") == [
        "Field cannot be longer than 100 characters."]
    assert written(db) == before


def test_rules_changed_meanwhile_untick_the_box_and_show_the_new_version(client, db, setup):
    challenge = setup["challenge"]
    rules.set_rules(None, challenge, "Be fair.")
    rules.set_rules(None, challenge, "Be fair, and kind.")  # the page the person read showed version 1
    before = written(db)
    response = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Bees",
                                                  "accept_rules": "y", "rules_version": "1"})
    assert response.status_code == 400
    page = response.text
    [changed] = field_errors(page, f"create-accept_rules-{challenge.id}")
    assert "changed after this page was shown: read version 2" in changed
    assert " checked" not in inputs(page)[f"create-accept_rules-{challenge.id}"]
    section = page.split(f'id="challenge-{challenge.id}"', 1)[1]
    assert 'name="rules_version" value="2"' in section and "(version 2)" in section
    assert 'value="Bees"' in inputs(page)[f"create-name-{challenge.id}"]
    assert written(db) == before


# ---------------------------------------------------------------- join

def test_a_wrong_invite_code_is_said_at_the_code_and_kept(client, db, setup):
    challenge = setup["challenge"]
    before = written(db)
    response = client.post("/teams/join", data={"challenge_id": challenge.id, "invite_code": "nope-123"})
    assert response.status_code == 400
    page = response.text
    assert 'value="nope-123"' in inputs(page)[f"join-invite_code-{challenge.id}"]
    assert field_errors(page, f"join-invite_code-{challenge.id}") == [
        "no team has that invite code; ask your captain for it again"]
    # The create form beside it is untouched: empty, nothing marked.
    name = inputs(page)[f"create-name-{challenge.id}"]
    assert 'value=""' in name and "aria-invalid" not in name
    assert written(db) == before


def test_a_code_of_another_year_is_said_at_the_code(client, db, setup, make_challenge, make_team, make_user):
    challenge = setup["challenge"]
    other = make_team(make_challenge("tiny2013", year=2013), make_user(), name="Later")
    before = written(db)
    response = client.post("/teams/join", data={"challenge_id": challenge.id,
                                                "invite_code": other.invite_code})
    assert response.status_code == 400
    assert field_errors(response.text, f"join-invite_code-{challenge.id}") == [
        "that invite code is for a team in Tiny 2013, not Tiny 2012"]
    assert f'value="{other.invite_code}"' in inputs(response.text)[f"join-invite_code-{challenge.id}"]
    # Each year's copy of the forms has ids of its own; only the refused copy is marked.
    later = inputs(response.text)[f"join-invite_code-{other.challenge_id}"]
    assert 'value=""' in later and "aria-invalid" not in later
    assert written(db) == before


def test_joining_without_ticking_the_rules_keeps_the_code(client, db, setup):
    challenge, taken = setup["challenge"], setup["taken"]
    rules.set_rules(None, challenge, "Be fair.")
    before = written(db)
    response = client.post("/teams/join", data={"challenge_id": challenge.id,
                                                "invite_code": taken.invite_code, "rules_version": "1"})
    assert response.status_code == 400
    assert "tick the box" in field_errors(response.text, f"join-accept_rules-{challenge.id}")[0]
    assert f'value="{taken.invite_code}"' in inputs(response.text)[f"join-invite_code-{challenge.id}"]
    assert written(db) == before


# ---------------------------------------------------------------- about the person or the year

def test_a_closed_year_heads_the_form_which_is_still_shown(client, db, make_user, make_challenge,
                                                           make_team):
    now = datetime.now(UTC)
    closed = make_challenge("old2011", year=2011, opens=now - timedelta(days=60),
                            closes=now - timedelta(days=30))
    team = make_team(closed, make_user(), name="Old Hands")
    login(client, make_user("late@example.org"))
    before = written(db)
    for action, data, input_id in (("/teams/create", {"name": "Too Late"}, f"create-name-{closed.id}"),
                                   ("/teams/join", {"invite_code": team.invite_code},
                                    f"join-invite_code-{closed.id}")):
        response = client.post(action, data={"challenge_id": closed.id, **data})
        assert response.status_code == 400, action
        [message] = form_errors(response.text, action, closed.id)
        assert "Tiny 2011 closed on " in message and "teams can no longer be created or joined" in message
        assert f'value="{next(iter(data.values()))}"' in inputs(response.text)[input_id]
    assert written(db) == before


def test_uploads_in_an_open_phase_head_the_form(client, db, setup, make_team, make_user):
    """The quota rule: a person with a counted upload in an open phase cannot start another team
    or join one, even after an organizer took them off theirs."""
    challenge, ada, taken = setup["challenge"], setup["ada"], setup["taken"]
    mine = make_team(challenge, ada, make_user(), name="Mine")
    counted_upload(db, challenge, mine, ada)
    move_member(None, challenge, ada, reason="asked to leave")
    before = written(db)
    for action, data, input_id in (("/teams/create", {"name": "Fresh Start"}, f"create-name-{challenge.id}"),
                                   ("/teams/join", {"invite_code": taken.invite_code},
                                    f"join-invite_code-{challenge.id}")):
        response = client.post(action, data={"challenge_id": challenge.id, **data})
        assert response.status_code == 400, action
        [message] = form_errors(response.text, action, challenge.id)
        assert "uploaded to a phase of Tiny 2012 that is still open" in message, message
        assert f'value="{next(iter(data.values()))}"' in inputs(response.text)[input_id]
    assert written(db) == before


def test_already_on_a_team_from_another_tab_heads_the_form(client, db, setup, make_team):
    challenge, ada = setup["challenge"], setup["ada"]
    make_team(challenge, ada, name="Mine")  # joined in another tab after this page was shown
    before = written(db)
    response = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Second"})
    assert response.status_code == 400
    # The year is shown again (it is no longer offered) so the reason has a place.
    [message] = form_errors(response.text, "/teams/create", challenge.id)
    assert message == "ada@example.org is already on the team &#39;Mine&#39; in Tiny 2012; " \
                      "a user can be on one team per challenge"
    assert 'value="Second"' in inputs(response.text)[f"create-name-{challenge.id}"]
    assert written(db) == before


@pytest.fixture
def verification_on(app_config):
    app_config["REQUIRE_EMAIL_VERIFICATION"] = True


def test_an_unconfirmed_address_heads_the_form_with_the_other_errors(verification_on, client, db, setup):
    challenge = setup["challenge"]
    before = written(db)
    response = client.post("/teams/create", data={"challenge_id": challenge.id, "name": ""})
    assert response.status_code == 400
    [message] = form_errors(response.text, "/teams/create", challenge.id)
    assert message.startswith("Confirm your e-mail address")
    assert field_errors(response.text, f"create-name-{challenge.id}") == ["This field is required."]
    assert written(db) == before


# ---------------------------------------------------------------- what still works

def test_a_good_create_and_join_still_redirect_to_the_team(client, db, setup, make_user):
    challenge, taken = setup["challenge"], setup["taken"]
    rules.set_rules(None, challenge, "Be fair.")
    page = client.get("/teams").text
    assert f'<label for="create-name-{challenge.id}">New team name</label>' in page
    assert f'<label for="join-invite_code-{challenge.id}">Or join with an invite code</label>' in page
    assert "aria-invalid" not in page and 'class="error-text"' not in page
    created = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Bees",
                                                 "accept_rules": "y", "rules_version": "1"})
    assert created.status_code == 302
    team = db.scalar(select(Team).where(Team.name == "Bees"))
    assert created.headers["Location"] == f"/teams/{team.id}"
    client.post("/logout")
    bob = make_user("bob@example.org")
    login(client, bob)
    joined = client.post("/teams/join", data={"challenge_id": challenge.id, "invite_code": taken.invite_code,
                                              "accept_rules": "y", "rules_version": "1"})
    assert joined.status_code == 302 and joined.headers["Location"] == f"/teams/{taken.id}"
    assert db.scalar(select(Membership.team_id).where(Membership.user_id == bob.id)) == taken.id
    assert db.scalar(select(func.count()).select_from(RulesAcceptance)) == 2


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


def token_of(page: str) -> str:
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def test_a_refused_page_carries_a_csrf_token_the_retry_uses(csrf_on, client, db, make_user, make_challenge,
                                                            make_team):
    challenge = make_challenge()
    make_team(challenge, make_user(), name="Taken")
    ada = make_user("ada@example.org")
    login_page = client.get("/login").text
    token = login_page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"email": ada.email, "password": "password123", "csrf_token": token})
    data = {"challenge_id": challenge.id, "name": "Taken"}
    assert client.post("/teams/create", data=data).status_code == 400  # no token: refused before the view
    refused = client.post("/teams/create", data={**data, "csrf_token": token_of(client.get("/teams").text)})
    assert refused.status_code == 400 and "already exists" in refused.text
    retry = client.post("/teams/create", data={**data, "name": "Fresh", "csrf_token": token_of(refused.text)})
    assert retry.status_code == 302
    assert db.scalars(select(Team.name).order_by(Team.id)).all() == ["Taken", "Fresh"]


def test_leave_and_remove_are_danger_buttons(client, db, make_user, make_challenge, make_team):
    ada, bob = make_user("ada@example.org"), make_user("bob@example.org")
    team = make_team(make_challenge(), ada, bob)
    login(client, ada)
    page = client.get(f"/teams/{team.id}").text
    assert '<button type="submit" class="danger">Leave team</button>' in page
    assert '<button type="submit" class="danger">Remove</button>' in page
