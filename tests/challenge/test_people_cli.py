"""The admin commands: users create, teams create, tokens create."""

from __future__ import annotations

from sqlalchemy import select

from challenge.models import ApiToken, Membership, Team, User
from challenge.tokens import user_for_token


def test_users_create(runner, db):
    result = runner.invoke(args=["users", "create", "Ada@Example.org", "--password", "s3cret-pass",
                                 "--name", "Ada L", "--organizer"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created organizer ada@example.org (id ")
    user = db.scalar(select(User))
    assert (user.email, user.name, user.is_organizer) == ("ada@example.org", "Ada L", True)
    assert "s3cret-pass" not in user.password_hash and user.check_password("s3cret-pass")

    result = runner.invoke(args=["users", "create", "bob@example.org", "--password", "s3cret-pass"])
    assert result.exit_code == 0
    assert "created competitor bob@example.org" in result.output
    assert db.scalar(select(User).where(User.email == "bob@example.org")).name == "bob"


def test_users_create_errors(runner, db, make_user):
    make_user("ada@example.org")
    cases = [
        (["ADA@example.org", "--password", "s3cret-pass"],
         "an account with the email ada@example.org already exists"),
        (["bob@example.org", "--password", "short"], "passwords need at least 8 characters"),
        (["bob", "--password", "s3cret-pass"], "'bob' is not an email address"),
        (["bob@example.org"], "Missing option '--password'"),
    ]
    for args, message in cases:
        result = runner.invoke(args=["users", "create", *args])
        assert result.exit_code != 0
        assert message in result.output
    assert db.scalars(select(User.email)).all() == ["ada@example.org"]


def test_teams_create(runner, db, make_user, make_challenge):
    make_challenge("ilsvrc2012")
    make_user("ada@example.org")
    make_user("bob@example.org")
    result = runner.invoke(args=["teams", "create", "Deep Nets", "--challenge", "ilsvrc2012",
                                 "--member", "bob@example.org", "--member", "ADA@example.org"])
    assert result.exit_code == 0, result.output
    team = db.scalar(select(Team))
    assert f"created team 'Deep Nets' (id {team.id}) in ilsvrc2012, captain bob@example.org" in result.output
    assert team.invite_code in result.output
    rows = db.execute(select(User.email, Membership.is_captain).join(Membership.user)).all()
    assert dict(rows) == {"bob@example.org": True, "ada@example.org": False}


def test_teams_create_errors(runner, db, make_user, make_challenge, make_team):
    challenge = make_challenge("ilsvrc2012")
    make_team(challenge, make_user("ada@example.org"), name="Taken")
    make_user("bob@example.org")
    cases = [
        (["X", "--challenge", "nope", "--member", "bob@example.org"], "no challenge with the slug 'nope'"),
        (["X", "--challenge", "ilsvrc2012", "--member", "bob@example.org", "--member", "who@example.org"],
         "no user with the email who@example.org"),
        (["X", "--challenge", "ilsvrc2012", "--member", "bob@example.org", "--member", "ada@example.org"],
         "ada@example.org is already on the team 'Taken' in Tiny 2012"),
        (["taken", "--challenge", "ilsvrc2012", "--member", "bob@example.org"],
         "a team named 'taken' already exists"),
        (["X", "--challenge", "ilsvrc2012", "--member", "bob@example.org", "--member", "BOB@example.org"],
         "a member is listed twice"),
        (["X", "--challenge", "ilsvrc2012"], "Missing option '--member'"),
    ]
    for args, message in cases:
        result = runner.invoke(args=["teams", "create", *args])
        assert result.exit_code != 0, args
        assert message in result.output, result.output
    assert db.scalars(select(Team.name)).all() == ["Taken"]
    assert len(db.scalars(select(Membership)).all()) == 1


def test_tokens_create_prints_only_the_token(runner, db, make_user):
    user = make_user("ada@example.org")
    result = runner.invoke(args=["tokens", "create", "Ada@example.org", "--name", "ci"])
    assert result.exit_code == 0, result.output
    raw = result.output.strip()
    assert result.output == raw + "\n" and " " not in raw
    assert user_for_token(raw).id == user.id
    assert db.scalar(select(ApiToken.name)) == "ci"

    result = runner.invoke(args=["tokens", "create", "nobody@example.org"])
    assert result.exit_code != 0
    assert "no user with the email nobody@example.org" in result.output
    assert len(db.scalars(select(ApiToken)).all()) == 1
