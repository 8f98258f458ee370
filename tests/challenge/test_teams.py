"""Teams: the service rules, the database constraint, and the pages."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from challenge.extensions import db as database
from challenge.models import Membership, Submission, Team, User
from challenge.teams.service import TeamError, create_team, join_team, leave_team, remove_member, team_for


def login(client, user: User, password: str = "password123"):
    response = client.post("/login", data={"email": user.email, "password": password})
    assert response.status_code == 302


def members(db, team_id: int) -> dict[str, bool]:
    """email -> is_captain, read fresh from the database."""
    rows = db.execute(select(User.email, Membership.is_captain).join(Membership.user)
                      .where(Membership.team_id == team_id)).all()
    return dict(rows)


# ------------------------------------------------------------------ service

def test_create_team_makes_the_first_member_captain(db, make_user, make_challenge):
    challenge = make_challenge()
    ada, bob = make_user("ada@example.org"), make_user("bob@example.org")
    team = create_team(challenge, "  Deep   Nets ", [ada, bob])
    assert team.name == "Deep Nets"
    assert members(db, team.id) == {"ada@example.org": True, "bob@example.org": False}
    assert len(team.invite_code) >= 16
    assert team_for(bob.id, challenge.id).id == team.id
    other = create_team(make_challenge("tiny2013", year=2013), "Deep Nets", [ada])
    assert other.invite_code != team.invite_code


def test_one_team_per_challenge(db, make_user, make_challenge):
    challenge = make_challenge()
    ada = make_user("ada@example.org")
    first = create_team(challenge, "First", [ada])
    with pytest.raises(TeamError, match=r"ada@example.org is already on the team 'First' in Tiny 2012"):
        create_team(challenge, "Second", [ada])
    other = create_team(challenge, "Other", [make_user()])
    with pytest.raises(TeamError, match="already on the team 'First'"):
        join_team(ada, other.invite_code)
    assert db.scalars(select(Team.name).order_by(Team.id)).all() == ["First", "Other"]
    assert members(db, first.id) == {"ada@example.org": True}
    # A different challenge is fine.
    assert create_team(make_challenge("tiny2013", year=2013), "First", [ada]).name == "First"


def test_the_database_itself_refuses_a_second_team_per_challenge(db, make_user, make_challenge, make_team):
    challenge = make_challenge()
    ada = make_user()
    make_team(challenge, ada)
    other = make_team(challenge, make_user())
    db.add(Membership(team_id=other.id, user_id=ada.id, challenge_id=challenge.id))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()


def test_team_names_are_unique_per_challenge_ignoring_case(db, make_user, make_challenge):
    challenge = make_challenge()
    create_team(challenge, "Deep Nets", [make_user()])
    with pytest.raises(TeamError, match="a team named 'deep nets' already exists in Tiny 2012"):
        create_team(challenge, "deep nets", [make_user()])
    with pytest.raises(TeamError, match="a team needs a name"):
        create_team(challenge, "   ", [make_user()])
    with pytest.raises(TeamError, match="at most 100 characters"):
        create_team(challenge, "x" * 101, [make_user()])
    assert db.scalars(select(Team.name)).all() == ["Deep Nets"]


def test_join_checks_the_code_and_its_challenge(db, make_user, make_challenge):
    c2012, c2013 = make_challenge(), make_challenge("tiny2013", year=2013)
    team = create_team(c2012, "Nets", [make_user("ada@example.org")])
    bob = make_user("bob@example.org")
    with pytest.raises(TeamError, match="no team has that invite code"):
        join_team(bob, "nope")
    with pytest.raises(TeamError, match="that invite code is for a team in Tiny 2012, not Tiny 2013"):
        join_team(bob, team.invite_code, c2013)
    assert join_team(bob, f"  {team.invite_code} ", c2012).id == team.id
    assert members(db, team.id) == {"ada@example.org": True, "bob@example.org": False}


def test_only_the_captain_removes_others(db, make_user, make_challenge):
    ada, bob, cy = make_user("ada@example.org"), make_user("bob@example.org"), make_user("cy@example.org")
    team = create_team(make_challenge(), "Nets", [ada, bob, cy])
    with pytest.raises(TeamError, match="only the team's captain can remove members"):
        remove_member(bob, team, cy.id)
    with pytest.raises(TeamError, match="use 'Leave team' instead"):
        remove_member(ada, team, ada.id)
    with pytest.raises(TeamError, match="not on this team"):
        remove_member(ada, team, make_user().id)
    assert remove_member(ada, team, bob.id).email == "bob@example.org"
    assert members(db, team.id) == {"ada@example.org": True, "cy@example.org": False}
    organizer = make_user(organizer=True)
    remove_member(organizer, team, cy.id)
    assert members(db, team.id) == {"ada@example.org": True}


def test_a_leaving_captain_hands_over_and_an_empty_team_goes(db, make_user, make_challenge):
    ada, bob = make_user("ada@example.org"), make_user("bob@example.org")
    challenge = make_challenge()
    team = create_team(challenge, "Nets", [ada, bob])
    leave_team(ada, team)
    assert members(db, team.id) == {"bob@example.org": True}
    with pytest.raises(TeamError, match="you are not on this team"):
        leave_team(ada, team)
    leave_team(bob, team)
    assert db.scalars(select(Team)).all() == []
    # Having left, Ada may start again.
    assert create_team(challenge, "Nets again", [ada]).name == "Nets again"


def test_an_emptied_team_with_submissions_is_kept(db, make_user, make_challenge):
    ada = make_user()
    challenge = make_challenge()
    team = create_team(challenge, "Nets", [ada])
    db.add(Submission(phase=challenge.tracks[0].phases[0], team=team, user=ada, filename="p.txt",
                      stored_path="x/p.txt", sha256="0" * 64, size=1, quota_period="total", quota_slot=1))
    db.commit()
    leave_team(ada, team)
    assert db.scalars(select(Team.name)).all() == ["Nets"]
    assert members(db, team.id) == {}


# ------------------------------------------------------------------ pages

def test_my_teams_needs_login(client):
    response = client.get("/teams")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/teams"


def test_my_teams_without_any_challenge(client, make_user):
    login(client, make_user())
    assert "There are no challenges to join yet" in client.get("/teams").text


def test_create_a_team_on_the_page_and_see_the_invite_code(client, db, make_user, make_challenge):
    challenge = make_challenge()
    ada = make_user("ada@example.org")
    login(client, ada)
    page = client.get("/teams").text
    assert "You are not on a team yet" in page
    assert f'id="challenge-{challenge.id}"' in page and "Create team" in page and "Join team" in page

    response = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Deep Nets"})
    assert response.status_code == 302
    team = db.scalar(select(Team))
    assert response.headers["Location"] == f"/teams/{team.id}"
    page = client.get(response.headers["Location"]).text
    assert "Team &#39;Deep Nets&#39; created; you are its captain" in page
    assert team.invite_code in page
    assert "Leave team" in page

    page = client.get("/teams").text
    assert "Deep Nets" in page and "captain" in page
    assert f'id="challenge-{challenge.id}"' not in page  # no create/join forms for it any more


def test_a_second_team_in_a_challenge_is_a_message_not_a_500(client, db, make_user, make_challenge,
                                                             make_team):
    challenge = make_challenge()
    ada = make_user("ada@example.org")
    make_team(challenge, ada, name="First")
    other = make_team(challenge, make_user(), name="Other")
    login(client, ada)
    for url, data in (("/teams/create", {"challenge_id": challenge.id, "name": "Second"}),
                      ("/teams/join", {"challenge_id": challenge.id, "invite_code": other.invite_code})):
        response = client.post(url, data=data)
        assert response.status_code == 302
        page = client.get(response.headers["Location"]).text
        assert "ada@example.org is already on the team &#39;First&#39; in Tiny 2012" in page
    assert db.scalars(select(Team.name).order_by(Team.id)).all() == ["First", "Other"]
    assert members(db, other.id) == {other.memberships[0].user.email: True}


def test_join_with_an_invite_code_on_the_page(client, db, make_user, make_challenge, make_team):
    challenge = make_challenge()
    team = make_team(challenge, make_user("ada@example.org"), name="Nets")
    bob = make_user("bob@example.org")
    login(client, bob)
    response = client.post("/teams/join", data={"challenge_id": challenge.id, "invite_code": "wrong"})
    assert "no team has that invite code" in client.get(response.headers["Location"]).text
    data = {"challenge_id": challenge.id, "invite_code": team.invite_code}
    response = client.post("/teams/join", data=data)
    assert response.headers["Location"] == f"/teams/{team.id}"
    assert "You joined &#39;Nets&#39;" in client.get(response.headers["Location"]).text
    assert members(db, team.id) == {"ada@example.org": True, "bob@example.org": False}


def test_empty_or_unknown_challenge_forms(client, db, make_user, make_challenge):
    make_challenge()
    login(client, make_user())
    response = client.post("/teams/create", data={"challenge_id": "", "name": ""})
    assert response.status_code == 302
    assert "Team name: This field is required" in client.get("/teams").text
    assert client.post("/teams/create", data={"challenge_id": 999, "name": "X"}).status_code == 404
    assert db.scalars(select(Team)).all() == []


def test_invite_code_and_emails_only_for_members(client, make_user, make_challenge, make_team):
    team = make_team(make_challenge(), make_user("ada@example.org", name="Ada"))
    page = client.get(f"/teams/{team.id}").text  # anonymous
    assert "Ada" in page and "captain" in page
    assert team.invite_code not in page and "ada@example.org" not in page
    login(client, make_user("eve@example.org"))
    page = client.get(f"/teams/{team.id}").text
    assert team.invite_code not in page and "Leave team" not in page and "Remove" not in page
    assert client.get("/teams/999").status_code == 404


def test_captain_removes_a_member_on_the_page(client, db, make_user, make_challenge, make_team):
    ada, bob, cy = make_user("ada@example.org"), make_user("bob@example.org"), make_user("cy@example.org")
    team = make_team(make_challenge(), ada, bob, cy)
    login(client, bob)
    response = client.post(f"/teams/{team.id}/members/{cy.id}/remove")
    assert "only the team&#39;s captain can remove members" in client.get(response.headers["Location"]).text
    client.post("/logout")

    login(client, ada)
    page = client.get(f"/teams/{team.id}").text
    assert f"/teams/{team.id}/members/{bob.id}/remove" in page
    assert f"/teams/{team.id}/members/{ada.id}/remove" not in page  # not himself
    response = client.post(f"/teams/{team.id}/members/{bob.id}/remove")
    assert "was removed from the team" in client.get(response.headers["Location"]).text
    assert members(db, team.id) == {"ada@example.org": True, "cy@example.org": False}
    response = client.post(f"/teams/{team.id}/members/{ada.id}/remove")
    assert "use &#39;Leave team&#39; instead" in client.get(response.headers["Location"]).text
    assert members(db, team.id) == {"ada@example.org": True, "cy@example.org": False}


def test_a_member_leaves_on_the_page(client, db, make_user, make_challenge, make_team):
    challenge = make_challenge()
    ada, bob = make_user("ada@example.org"), make_user("bob@example.org")
    team = make_team(challenge, ada, bob, name="Nets")
    login(client, bob)
    response = client.post(f"/teams/{team.id}/leave")
    assert response.headers["Location"] == "/teams"
    page = client.get("/teams").text
    assert "You left &#39;Nets&#39;" in page
    assert f'id="challenge-{challenge.id}"' in page  # free to create or join again
    assert members(db, team.id) == {"ada@example.org": True}


@pytest.fixture
def csrf_on(app_config):
    app_config["WTF_CSRF_ENABLED"] = True


def test_team_creation_needs_a_csrf_token(csrf_on, client, db, make_user, make_challenge):
    challenge = make_challenge()
    ada = make_user("ada@example.org")
    page = client.get("/login").text
    token = page.split('name="csrf_token" type="hidden" value="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"email": ada.email, "password": "password123", "csrf_token": token})
    data = {"challenge_id": challenge.id, "name": "Nets"}
    assert client.post("/teams/create", data=data).status_code == 400
    assert db.scalars(select(Team)).all() == []
    token = client.get("/teams").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    assert client.post("/teams/create", data={**data, "csrf_token": token}).status_code == 302
    team = db.scalar(select(Team))
    # Button-only forms are protected too: leaving without the token does nothing.
    response = client.post(f"/teams/{team.id}/leave")
    assert response.status_code == 400
    assert "The CSRF token is missing" in response.text
    assert len(team.memberships) == 1



def test_racing_joins_leave_one_team_and_a_message(app, db, make_user, make_challenge, make_team):
    """Two requests for the same user join two teams at once: the database lets one in and
    the service turns the other's collision into the usual message (never a 500)."""
    challenge = make_challenge()
    ada = make_user("ada@example.org")
    teams = [make_team(challenge, make_user()), make_team(challenge, make_user())]
    codes = [t.invite_code for t in teams]
    barrier = threading.Barrier(len(codes))
    outcomes: list[str] = []

    def join(code: str) -> None:
        with app.app_context():
            user = database.session.get(User, ada.id)
            barrier.wait()
            try:
                join_team(user, code)
                outcomes.append("joined")
            except TeamError as exc:
                outcomes.append(exc.message)

    threads = [threading.Thread(target=join, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("joined") == 1, outcomes
    assert "ada@example.org is already on the team" in [o for o in outcomes if o != "joined"][0]
    db.expire_all()
    assert len(db.scalars(select(Membership).where(Membership.user_id == ada.id)).all()) == 1
