"""Teams: the service rules, the database constraint, the pages, and organizers moving members."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from challenge.extensions import db as database
from challenge.models import AuditEntry, Membership, Phase, Submission, Team, User
from challenge.teams.service import (
    TeamError,
    create_team,
    join_team,
    leave_team,
    move_member,
    remove_member,
    team_for,
)


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
    # Leaving once the phase has closed (while it is open, the upload keeps Ada on the team).
    leave_team(ada, team, now=challenge.tracks[0].phases[0].closes_at)
    assert db.scalars(select(Team.name)).all() == ["Nets"]
    assert members(db, team.id) == {}


# ------------------------------------------------------------------ pages

def test_my_teams_needs_login(client):
    response = client.get("/teams")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/teams"


def test_my_teams_without_any_challenge(client, make_user):
    login(client, make_user())
    assert "There are no open challenges to join now" in client.get("/teams").text


def test_closed_years_offer_no_team_and_refuse_one(client, db, make_user, make_challenge, make_team) -> None:
    now = datetime.now(UTC)
    closed = make_challenge("old2011", year=2011, opens=now - timedelta(days=60),
                            closes=now - timedelta(days=30))
    open_one = make_challenge()
    someone_else = make_team(closed, make_user("owner@example.org"))
    login(client, make_user("late@example.org"))
    page = client.get("/teams").text
    assert f'id="challenge-{open_one.id}"' in page and f'id="challenge-{closed.id}"' not in page
    assert "Closed years are not listed" in page
    for path, form in (("/teams/create", {"name": "Too Late"}),
                       ("/teams/join", {"invite_code": someone_else.invite_code})):
        answer = client.post(path, data={"challenge_id": closed.id, **form}, follow_redirects=True).text
        assert "closed on " in answer and "teams can no longer be created or joined" in answer, path
    assert db.scalar(select(func.count()).select_from(Team)) == 1


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
        assert response.status_code == 400
        assert "ada@example.org is already on the team &#39;First&#39; in Tiny 2012" in response.text
    assert db.scalars(select(Team.name).order_by(Team.id)).all() == ["First", "Other"]
    assert members(db, other.id) == {other.memberships[0].user.email: True}


def test_join_with_an_invite_code_on_the_page(client, db, make_user, make_challenge, make_team):
    challenge = make_challenge()
    team = make_team(challenge, make_user("ada@example.org"), name="Nets")
    bob = make_user("bob@example.org")
    login(client, bob)
    response = client.post("/teams/join", data={"challenge_id": challenge.id, "invite_code": "wrong"})
    assert response.status_code == 400 and "no team has that invite code" in response.text
    data = {"challenge_id": challenge.id, "invite_code": team.invite_code}
    response = client.post("/teams/join", data=data)
    assert response.headers["Location"] == f"/teams/{team.id}"
    assert "You joined &#39;Nets&#39;" in client.get(response.headers["Location"]).text
    assert members(db, team.id) == {"ada@example.org": True, "bob@example.org": False}


def test_empty_or_unknown_challenge_forms(client, db, make_user, make_challenge):
    make_challenge()
    login(client, make_user())
    # A form without its challenge (or with one that does not exist) was not made by the page.
    assert client.post("/teams/create", data={"challenge_id": "", "name": "X"}).status_code == 404
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
            # End the read: on SQLite every transaction that may write holds the write lock
            # from its first statement, and the other thread must get past its read too.
            database.session.commit()
            barrier.wait(timeout=30)
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


# ------------------------------------------------------------------ uploads keep people on their team

def _counted_upload(db, phase, team, user, *, refunded: bool = False) -> Submission:
    """A counted upload (as the upload path commits it), without a file."""
    submission = Submission(phase=phase, team=team, user=user, filename="p.txt", stored_path="x/p.txt",
                            sha256="0" * 64, size=1, quota_period="total", quota_slot=1,
                            quota_refunded_at=datetime.now(UTC) if refunded else None)
    db.add(submission)
    db.commit()
    return submission


def _closed_phase(db, challenge) -> Phase:
    """A second phase of the challenge's track that has closed already."""
    test = challenge.tracks[0].phases[0]
    now = datetime.now(UTC)
    val = Phase(track=test.track, slug="val", images=test.images, labels_blob_id=test.labels_blob_id,
                opens_at=now - timedelta(days=60), closes_at=now - timedelta(days=30))
    db.add(val)
    db.commit()
    return val


def test_nobody_with_uploads_in_an_open_phase_changes_teams(db, make_user, make_challenge, make_team):
    ada, bob = make_user("ada@example.org", name="Ada"), make_user("bob@example.org", name="Bob")
    cy, dan = make_user("cy@example.org"), make_user("dan@example.org")
    boss = make_user("boss@example.org", organizer=True)
    challenge = make_challenge()
    test, val = challenge.tracks[0].phases[0], _closed_phase(db, challenge)
    nets, other = make_team(challenge, ada, bob, cy, name="Nets"), make_team(challenge, dan, name="Other")
    _counted_upload(db, test, nets, bob)
    # Cy uploaded only to a closed phase, and once to the open one but refunded: free to go.
    _counted_upload(db, val, nets, cy)
    _counted_upload(db, test, nets, cy, refunded=True)
    leave_team(cy, nets)
    assert set(members(db, nets.id)) == {"ada@example.org", "bob@example.org"}

    with pytest.raises(TeamError) as refused:
        leave_team(bob, nets)
    assert refused.value.message.startswith(
        "you cannot leave 'Nets': you have uploaded to a phase of Tiny 2012 that is still open "
        f"(cls/test, open until {test.closes_at:%Y-%m-%d %H:%M} UTC)")
    assert "an organizer: they can move you to another team" in refused.value.message
    for actor in (ada, boss):  # neither the captain nor an organizer removes him behind the audit log
        with pytest.raises(TeamError, match="Bob cannot be removed from 'Nets': bob@example.org has up"):
            remove_member(actor, nets, bob.id)
    assert set(members(db, nets.id)) == {"ada@example.org", "bob@example.org"}

    move_member(boss, challenge, bob, reason="out, for the test")  # onto no team
    assert team_for(bob.id, challenge.id) is None
    with pytest.raises(TeamError, match="you cannot join 'Other': you have uploaded"):
        join_team(bob, other.invite_code)
    with pytest.raises(TeamError, match="the team cannot be created: bob@example.org has uploaded"):
        create_team(challenge, "Bob's", [bob])
    assert team_for(bob.id, challenge.id) is None

    # Once the phase has closed, people may leave and join again.
    after = test.closes_at
    assert join_team(bob, other.invite_code, now=after).id == other.id
    leave_team(bob, db.get(Team, other.id), now=after)
    assert team_for(bob.id, challenge.id) is None


def test_moving_a_member_is_audited_and_keeps_every_team_captained(db, make_user, make_challenge,
                                                                   make_team):
    ada, bob, dan = make_user("ada@example.org"), make_user("bob@example.org"), make_user("dan@example.org")
    boss = make_user("boss@example.org", organizer=True)
    challenge = make_challenge()
    nets, other = make_team(challenge, ada, bob, name="Nets"), make_team(challenge, dan, name="Other")

    assert move_member(boss, challenge, ada, to_team=other, reason="asked by both teams").id == other.id
    assert members(db, nets.id) == {"bob@example.org": True}  # the captaincy passed on
    assert members(db, other.id) == {"dan@example.org": True, "ada@example.org": False}
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.actor_id, entry.action, entry.target, entry.challenge_id, entry.note) == (
        boss.id, "team.move_member", f"user:{ada.id}", challenge.id, "asked by both teams")
    assert entry.before == {"user": "ada@example.org", "team_id": nets.id, "team": "Nets", "captain": True}
    assert entry.after == {"user": "ada@example.org", "team_id": other.id, "team": "Other", "captain": False}

    # Out of an emptied team that never submitted: the team goes, as on leaving.
    assert move_member(boss, challenge, bob, reason="left the challenge") is None
    assert db.get(Team, nets.id) is None
    # Into a new team of one: its captain.
    solo = move_member(boss, challenge, bob, new_team="  Solo   Bob ", reason="back")
    assert (solo.name, members(db, solo.id)) == ("Solo Bob", {"bob@example.org": True})

    reference = Team(challenge=challenge, name="Baseline", invite_code="ref", is_reference=True)
    db.add(reference)
    db.commit()
    elsewhere = make_team(make_challenge("elsewhere", year=2013), make_user())
    refusals = [
        ({"to_team": other, "reason": " "}, "say why the member is moved"),
        ({"to_team": other, "new_team": "X", "reason": "r"}, "not both"),
        ({"to_team": solo, "reason": "r"}, "bob@example.org is already on 'Solo Bob'"),
        ({"to_team": reference, "reason": "r"}, "'Baseline' is not a competing team of Tiny 2012"),
        ({"to_team": elsewhere, "reason": "r"}, "is not a competing team of Tiny 2012"),
        ({"new_team": "other", "reason": "r"}, "a team named 'other' already exists"),
    ]
    for kwargs, message in refusals:
        with pytest.raises(TeamError, match=message):
            move_member(boss, challenge, db.get(User, bob.id), **kwargs)
    with pytest.raises(TeamError, match="on no team in Tiny 2012; nothing to move"):
        move_member(boss, challenge, make_user(), reason="r")
    assert len(db.scalars(select(AuditEntry)).all()) == 3  # refusals change and record nothing
    assert members(db, solo.id) == {"bob@example.org": True}


def test_teams_move_command(app, db, runner, make_user, make_challenge, make_team):
    ada, dan = make_user("ada@example.org"), make_user("dan@example.org")
    challenge = make_challenge()
    nets, other = make_team(challenge, ada, name="Nets"), make_team(challenge, dan, name="Other")
    _counted_upload(db, challenge.tracks[0].phases[0], nets, ada)

    def move(*args: str):
        return runner.invoke(args=["teams", "move", *args])

    result = move("ADA@example.org", "--challenge", "tiny2012", "--to", "other", "--reason", "merge")
    assert result.exit_code == 0, result.output
    assert result.output == (f"moved ada@example.org to the team 'Other' (id {other.id}) in tiny2012; "
                             "their uploads count there now\n")
    db.expire_all()
    assert team_for(ada.id, challenge.id).id == other.id
    assert db.get(Team, nets.id) is not None  # kept: it has a submission
    entry = db.scalars(select(AuditEntry)).one()
    assert (entry.actor_id, entry.action, entry.note, entry.after["team"]) == (
        None, "team.move_member", "merge", "Other")

    result = move("ada@example.org", "--challenge", "tiny2012", "--to", str(nets.id), "--reason", "back")
    assert result.exit_code == 0 and "to the team 'Nets'" in result.output, result.output
    result = move("ada@example.org", "--challenge", "tiny2012", "--new-team", "Ada alone", "--reason", "x")
    assert result.exit_code == 0 and "to the team 'Ada alone'" in result.output, result.output
    result = move("ada@example.org", "--challenge", "tiny2012", "--out", "--reason", "gone")
    assert result.output == "moved ada@example.org out of their team in tiny2012: they are on no team now\n"

    for args, code, message in [
        (["ada@example.org", "--challenge", "tiny2012", "--to", "Nope", "--reason", "r"], 1,
         "no team named or numbered 'Nope' in tiny2012"),
        (["who@example.org", "--challenge", "tiny2012", "--out", "--reason", "r"], 1,
         "no user with the email who@example.org"),
        (["ada@example.org", "--challenge", "nope", "--out", "--reason", "r"], 1, "no challenge with the"),
        (["ada@example.org", "--challenge", "tiny2012", "--out", "--to", "Nets", "--reason", "r"], 2,
         "give exactly one of --to TEAM, --new-team NAME or --out"),
        (["ada@example.org", "--challenge", "tiny2012", "--to", "Nets"], 2, "Missing option '--reason'"),
        (["ada@example.org", "--challenge", "tiny2012", "--out", "--reason", "r"], 1, "nothing to move"),
    ]:
        result = move(*args)
        assert (result.exit_code, message in result.output) == (code, True), (args, result.output)
    assert len(db.scalars(select(AuditEntry)).all()) == 4


def test_leaving_on_the_page_says_why_not_and_who_can_help(client, db, make_user, make_challenge,
                                                           make_team):
    challenge = make_challenge()
    ada, bob = make_user("ada@example.org"), make_user("bob@example.org")
    team = make_team(challenge, ada, bob, name="Nets")
    _counted_upload(db, challenge.tracks[0].phases[0], team, bob)
    login(client, bob)
    response = client.post(f"/teams/{team.id}/leave")
    assert response.headers["Location"] == f"/teams/{team.id}"
    page = client.get(response.headers["Location"]).text
    assert "you cannot leave &#39;Nets&#39;: you have uploaded to a phase of Tiny 2012" in page
    assert "they can move you to another team" in page
    assert members(db, team.id) == {"ada@example.org": True, "bob@example.org": False}
