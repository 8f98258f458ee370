"""Per-challenge hosts: a host runs their own challenges in the console as an organizer
would, sees nothing of anyone else's, and only site admins name hosts (console and CLI)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect, select
from submit_helpers import drain
from test_migrations import _config, private_db  # noqa: F401  (the fixture)

from challenge import audit, rescoring
from challenge.db import make_engine
from challenge.models import Announcement, AuditEntry, ChallengeHost, Phase, Submission, Team, User
from challenge.submissions import service as submissions
from challenge.tokens import create_token
from tests.conftest import perfect_predictions


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


@pytest.fixture
def two(app, db, redis, make_user, make_challenge, make_team):
    """Challenges A and B, each with a team, a scored submission and its own host; a site admin."""
    people = {"admin": make_user("admin@example.org", organizer=True, name="Admin"),
              "host_a": make_user("host-a@example.org", name="Host A"),
              "host_b": make_user("host-b@example.org", name="Host B"),
              "alice": make_user("alice@example.org", name="Alice"),
              "bob": make_user("bob@example.org", name="Bob")}
    a = make_challenge("alpha2012", year=2012, leaderboard="hidden")
    b = make_challenge("bravo2013", year=2013)
    world = {"a": a, "b": b, "team_a": make_team(a, people["alice"], name="Team of Alpha"),
             "team_b": make_team(b, people["bob"], name="Team of Bravo")}
    world["sub_a"] = submissions.submit(people["alice"], a.tracks[0].phases[0], "a.txt",
                                        perfect_predictions("classification"))
    world["sub_b"] = submissions.submit(people["bob"], b.tracks[0].phases[0], "b.txt",
                                        perfect_predictions("classification"))
    drain(app)
    db.add_all([ChallengeHost(challenge_id=a.id, user_id=people["host_a"].id),
                ChallengeHost(challenge_id=b.id, user_id=people["host_b"].id)])
    world["news_a"], world["news_b"] = (Announcement(challenge_id=c.id, title=f"News of {c.slug}", body="x")
                                        for c in (a, b))
    db.add_all([world["news_a"], world["news_b"]])
    audit.record(people["admin"], "phase.update", f"phase:{a.tracks[0].phases[0].id}", challenge_id=a.id,
                 note="secret note about alpha")
    audit.record(people["admin"], "worker.retry", "job:x", note="site-wide note")
    db.commit()
    world["run_a"] = rescoring.start(a.tracks[0].phases[0], actor=people["admin"])
    return people, world


def _ids(world, key):
    c = world[key]
    phase = c.tracks[0].phases[0]
    sub = world[f"sub_{key}"]
    return {"challenge_id": c.id, "track_id": c.tracks[0].id, "phase_id": phase.id,
            "submission_id": sub.id, "team_id": world[f"team_{key}"].id, "slug": c.slug,
            "run_id": world["run_a"].id if key == "a" else 999_999, "action": "discard",
            "announcement_id": world[f"news_{key}"].id}


SITE_WIDE = {"admin.challenge_new", "admin.workers_page", "admin.workers_retry",
             "admin.host_add", "admin.host_remove"}


def test_a_host_of_another_challenge_gets_404_on_every_console_route_of_it(app, client, db, two):
    """Every console route that names a row of challenge A (challenge, track, phase,
    submission, team, rescore run, export), by GET and POST, answers A's non-host 404,
    and none of the refused requests changes anything."""
    people, world = two
    ids = _ids(world, "a")
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("admin.") and r.arguments]
    assert len(rules) >= 25
    before = db.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1))
    login(client, people["host_b"])
    checked = 0
    for rule in rules:
        url = app.url_map.bind("localhost").build(rule.endpoint, {a: ids[a] for a in rule.arguments})
        for method in sorted(rule.methods & {"GET", "POST"}):
            response = client.open(url, method=method, data={"state": "hidden", "reason": "x",
                                                              "email": "host-b@example.org"})
            assert response.status_code == 404, (method, url, response.status_code)
            checked += 1
    assert checked >= 30
    assert client.get("/admin/flags?challenge=alpha2012").status_code == 404
    db.expire_all()
    assert db.get(Submission, world["sub_a"].id).moderation == ""
    assert db.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()).limit(1)) == before
    # The same routes of their own challenge B open (GET pages), so the 404s above are about scope.
    own = _ids(world, "b")
    for path in ("/admin/challenges/{challenge_id}", "/admin/tracks/{track_id}",
                 "/admin/phases/{phase_id}", "/admin/submissions/{submission_id}",
                 "/admin/teams/{team_id}", "/admin/phases/{phase_id}/boards",
                 "/admin/phases/{phase_id}/truth", "/admin/phases/{phase_id}/submissions.csv",
                 "/admin/challenges/{challenge_id}/move", "/admin/c/{slug}/export.tar.gz",
                 "/admin/challenges/{challenge_id}/announcements/{announcement_id}/edit"):
        assert client.get(path.format(**own)).status_code == 200, path


def test_site_wide_pages_are_for_site_admins_only(app, client, db, two):
    people, world = two
    login(client, people["host_a"])
    for endpoint in SITE_WIDE:
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        url = app.url_map.bind("localhost").build(endpoint, {a: world["a"].id for a in rule.arguments})
        for method in sorted(rule.methods & {"GET", "POST"}):
            assert client.open(url, method=method, data={"email": "bob@example.org"}).status_code == 404, url
    assert db.scalars(select(ChallengeHost).where(ChallengeHost.user_id == people["bob"].id)).all() == []
    page = client.get("/admin/").get_data(as_text=True)
    assert "New challenge" not in page and "Workers and queues" not in page
    client.post("/logout")
    login(client, people["admin"])
    page = client.get("/admin/").get_data(as_text=True)
    assert "New challenge" in page and "Workers and queues" in page
    assert client.get("/admin/challenges/new").status_code == 200
    assert client.get("/admin/workers").status_code == 200


def test_a_hosts_lists_show_only_their_challenges(app, client, db, two):
    people, world = two
    a, b = world["a"], world["b"]
    lists = ["/admin/", "/admin/audit", "/admin/submissions", "/admin/submissions?moderated=1",
             "/admin/boards", "/admin/moderation", "/admin/flags", "/admin/truth"]
    db.get(Team, world["team_a"].id).moderation = "hidden"
    db.get(Team, world["team_b"].id).moderation = "hidden"
    db.commit()
    login(client, people["host_b"])
    pages = {}
    for url in lists:
        response = client.get(url)
        assert response.status_code == 200, url
        pages[url] = response.get_data(as_text=True)
    everything = "\n".join(pages.values())
    for hidden in (a.slug, "Team of Alpha", f"/admin/submissions/{world['sub_a'].id}\"",
                   f"/admin/challenges/{a.id}\"", "secret note about alpha", "site-wide note",
                   f"/admin/rescore/{world['run_a'].id}\""):
        assert hidden not in everything, hidden
    assert b.slug in pages["/admin/"]
    assert f"/admin/submissions/{world['sub_b'].id}" in pages["/admin/submissions"]
    assert "Team of Bravo" in pages["/admin/moderation"]
    # Filtering by the other challenge's slug finds nothing, not its rows.
    page = client.get("/admin/submissions?challenge=alpha2012").get_data(as_text=True)
    assert f"/admin/submissions/{world['sub_a'].id}\"" not in page
    # The site admin sees both.
    client.post("/logout")
    login(client, people["admin"])
    everything = "\n".join(client.get(url).get_data(as_text=True) for url in lists)
    for shown in (a.slug, b.slug, "Team of Alpha", "secret note about alpha", "site-wide note"):
        assert shown in everything, shown


def test_a_host_runs_their_challenge_as_an_organizer_does(app, client, db, two):
    """Edit the challenge and a phase, moderate, see the hidden board on the public pages;
    each change audited under the host's name and the challenge."""
    people, world = two
    a = world["a"]
    phase = a.tracks[0].phases[0]
    tokens = {who: {"Authorization": f"Bearer {create_token(people[who])}"} for who in ("host_a", "host_b")}
    login(client, people["host_a"])
    assert "Console" in client.get("/").get_data(as_text=True)
    # The hidden board of their challenge is theirs to see, as it is for a site admin ...
    board = client.get("/c/alpha2012/cls/leaderboard.json").get_json()
    assert [e["team"] for e in board["entries"]] == ["Team of Alpha"]
    assert client.post(f"/admin/challenges/{a.id}", data={
        "year": "2012", "title": "Alpha, renamed by its host", "description": ""}).status_code == 302
    settings = {"title": "Test", "opens": "2014-01-01T00:00", "closes": "2099-01-01T00:00",
                "quota_count": "7", "quota_period": "day", "leaderboard": "hidden"}
    assert client.post(f"/admin/phases/{phase.id}", data=settings).status_code == 302
    sub = world["sub_a"]
    assert client.post(f"/admin/submissions/{sub.id}/moderate",
                       data={"state": "hidden", "reason": "looks copied"}).status_code == 302
    db.expire_all()
    assert a.title == "Alpha, renamed by its host" and db.get(Phase, phase.id).quota_count == 7
    assert db.get(Submission, sub.id).moderation == "hidden"
    mine = db.scalars(select(AuditEntry).where(AuditEntry.actor_id == people["host_a"].id)).all()
    assert {e.action for e in mine} >= {"challenge.update", "phase.update"}
    assert all(e.challenge_id == a.id for e in mine)
    assert "Alpha, renamed by its host" in client.get("/admin/").get_data(as_text=True)
    assert client.get(f"/api/v1/submissions/{sub.id}", headers=tokens["host_a"]).status_code == 200
    # ... but not for the host of the other challenge.
    client.post("/logout")
    login(client, people["host_b"])
    assert "entries" not in client.get("/c/alpha2012/cls/leaderboard.json").get_json()
    assert client.get(f"/submissions/{sub.id}").status_code == 404
    assert client.get(f"/api/v1/submissions/{sub.id}", headers=tokens["host_b"]).status_code == 404
    assert client.get(f"/teams/{world['team_a'].id}/submissions").status_code == 404


def test_site_admins_add_and_remove_hosts_in_the_console(app, client, db, two):
    people, world = two
    a = world["a"]
    carol_email = "carol@example.org"
    carol = User(email=carol_email, name="Carol", password_hash="")
    carol.set_password("password123")
    db.add(carol)
    db.commit()
    login(client, people["admin"])
    page = client.get(f"/admin/challenges/{a.id}").get_data(as_text=True)
    assert "host-a@example.org" in page and "Add a host" in page
    assert '<button type="submit" class="danger">Remove</button>' in page  # destructive: the danger style
    response = client.post(f"/admin/challenges/{a.id}/hosts", data={"email": " Carol@Example.org "},
                           follow_redirects=True)
    assert "carol@example.org hosts" in response.get_data(as_text=True)
    row = db.scalars(select(ChallengeHost).where(ChallengeHost.user_id == carol.id)).one()
    assert row.challenge_id == a.id and row.added_by_id == people["admin"].id and row.added_at is not None
    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "host.add")).one()
    assert (entry.actor_id, entry.challenge_id, entry.after) == (people["admin"].id, a.id,
                                                                 {"host": carol_email})
    for email, message in [("carol@example.org", "is a host of alpha2012 already"),
                           ("nobody@example.org", "no user with the email nobody@example.org"),
                           ("admin@example.org", "is a site admin"), ("", "email: give the e-mail")]:
        page = client.post(f"/admin/challenges/{a.id}/hosts", data={"email": email},
                           follow_redirects=True).get_data(as_text=True)
        assert message in page, email
    assert len(db.scalars(select(ChallengeHost).where(ChallengeHost.challenge_id == a.id)).all()) == 2
    # Carol's next request sees the console; after removal, the 404 again.
    other = app.test_client()
    login(other, carol)
    assert other.get(f"/admin/challenges/{a.id}").status_code == 200
    assert other.get(f"/admin/challenges/{world['b'].id}").status_code == 404
    assert "Add a host" not in other.get(f"/admin/challenges/{a.id}").get_data(as_text=True)
    page = client.post(f"/admin/challenges/{a.id}/hosts/remove", data={"email": carol_email},
                       follow_redirects=True).get_data(as_text=True)
    assert "carol@example.org no longer hosts" in page
    assert other.get(f"/admin/challenges/{a.id}").status_code == 404
    assert other.get("/admin/").status_code == 404
    assert db.scalars(select(AuditEntry).where(AuditEntry.action == "host.remove")).one().before == {
        "host": carol_email}
    page = client.post(f"/admin/challenges/{a.id}/hosts/remove", data={"email": carol_email},
                       follow_redirects=True).get_data(as_text=True)
    assert "is not a host of alpha2012" in page


def test_hosts_cli_adds_lists_and_removes(app, db, runner, two):
    people, world = two
    result = runner.invoke(args=["hosts", "add", "bravo2013", "alice@example.org"])
    assert result.exit_code == 0, result.output
    assert "alice@example.org hosts bravo2013 now" in result.output
    result = runner.invoke(args=["hosts", "list", "bravo2013"])
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["bravo2013", "host-b@example.org"],
                                                        ["bravo2013", "alice@example.org"]]
    assert "by command line" in lines[1]
    result = runner.invoke(args=["hosts", "list"])
    assert "alpha2012\thost-a@example.org" in result.output
    assert "bravo2013\talice@example.org" in result.output
    alice = "alice@example.org"
    for args, message in [(["hosts", "add", "nope", alice], "no challenge with the slug 'nope'"),
                          (["hosts", "add", "bravo2013", alice], "already"),
                          (["hosts", "add", "bravo2013", "ghost@example.org"], "no user with the email"),
                          (["hosts", "remove", "alpha2012", alice], "is not a host of alpha2012")]:
        result = runner.invoke(args=args)
        assert result.exit_code == 1 and message in result.output, (args, result.output)
    result = runner.invoke(args=["hosts", "remove", "bravo2013", "alice@example.org"])
    assert result.exit_code == 0 and "no longer hosts bravo2013" in result.output
    db.expire_all()
    assert not db.get(User, people["alice"].id).hosting
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.action.like("host.%"))
                         .order_by(AuditEntry.id)).all()
    assert actions == ["host.add", "host.remove"]
    assert "hosts" in runner.invoke(args=["--help"]).output


def test_deleting_an_account_deletes_its_host_rows(db, two):
    people, world = two
    db.delete(db.get(User, people["host_a"].id))
    db.commit()
    assert db.scalars(select(ChallengeHost.challenge_id)).all() == [world["b"].id]


def test_migration_0014_creates_and_drops_the_host_table(private_db: str, tmp_path: Path) -> None:  # noqa: F811
    config = _config(private_db, tmp_path)
    engine = make_engine(private_db)
    try:
        command.upgrade(config, "head")
        inspector = inspect(engine)
        assert {c["name"] for c in inspector.get_columns("challenge_host")} == {
            "id", "challenge_id", "user_id", "added_by_id", "added_at"}
        uniques = [u["column_names"] for u in inspector.get_unique_constraints("challenge_host")]
        assert ["challenge_id", "user_id"] in uniques
        targets = {tuple(fk["constrained_columns"]): fk["referred_table"]
                   for fk in inspector.get_foreign_keys("challenge_host")}
        assert targets == {("challenge_id",): "challenge", ("user_id",): "user", ("added_by_id",): "user"}
        command.downgrade(config, "0013")  # this revision (and any after it) only
        tables = set(inspect(engine).get_table_names())
        assert "challenge_host" not in tables and "user" in tables
        command.upgrade(config, "head")
        assert "challenge_host" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
