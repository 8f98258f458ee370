"""Moderation (hide, disqualify, restore; audited; reason shown to the team) and the
organizers' flags (copied prediction files, groups of accounts at their quota)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from submit_helpers import drain

from challenge import flags, moderation
from challenge.bundles import load_bundle
from challenge.leaderboards.service import ranked
from challenge.models import AuditEntry, Submission, Team
from challenge.submissions import service as submissions
from tests.conftest import TINY_LABELS


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


def predictions(wrong: int, *, offset: int = 1) -> bytes:
    """Tiny classification predictions: the first ``wrong`` images wrong (by ``offset``)."""
    return "".join(f"{(label + offset - 1) % 10 + 1 if i < wrong else label}\n"
                   for i, label in enumerate(TINY_LABELS)).encode()


def actions(db) -> list[tuple[str, str, dict | None, dict | None]]:
    return [(e.action, e.target, e.before, e.after)
            for e in db.scalars(select(AuditEntry).order_by(AuditEntry.id))]


@pytest.fixture
def board(app, db, redis, make_user, make_challenge, make_team):
    """Two teams with scored entries: Alpha (2 wrong, then 4 wrong) and Beta (6 wrong)."""
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob = make_user("alice@example.org"), make_user("bob@example.org")
    challenge = make_challenge()
    alpha, beta = make_team(challenge, alice, name="Alpha"), make_team(challenge, bob, name="Beta")
    phase = challenge.tracks[0].phases[0]
    best = submissions.submit(alice, phase, "a.txt", predictions(2)).id
    second = submissions.submit(alice, phase, "b.txt", predictions(4)).id
    other = submissions.submit(bob, phase, "c.txt", predictions(6)).id
    drain(app)
    return {"organizer": organizer, "alice": alice, "bob": bob, "phase": phase, "alpha": alpha.id,
            "beta": beta.id, "best": best, "second": second, "other": other}


def test_hiding_a_submission_takes_it_off_the_board_shows_the_team_why_and_can_be_undone(
        app, client, db, board):
    phase = board["phase"]
    assert [(e.team, e.submission_id) for e in ranked(phase)] == [("Alpha", board["best"]),
                                                                  ("Beta", board["other"])]
    login(client, board["organizer"])
    response = client.post(f"/admin/submissions/{board['best']}/moderate",
                           data={"state": "hidden", "reason": "uploaded by mistake, says the team"})
    assert response.status_code == 302
    # The team's next best entry takes its place; the cached board was invalidated.
    assert [(e.team, e.submission_id) for e in ranked(phase)] == [("Alpha", board["second"]),
                                                                  ("Beta", board["other"])]
    [entry] = [a for a in actions(db) if a[0] == "submission.hide"]
    assert entry[1] == f"submission:{board['best']}"
    assert entry[2] == {"moderation": "", "moderation_reason": ""}
    assert entry[3] == {"moderation": "hidden", "moderation_reason": "uploaded by mistake, says the team"}

    client.post("/logout")
    login(client, board["alice"])
    page = client.get(f"/submissions/{board['best']}").get_data(as_text=True)
    assert 'id="moderation"' in page and "uploaded by mistake, says the team" in page and "hidden" in page
    assert 'id="moderation"' not in client.get(f"/submissions/{board['second']}").get_data(as_text=True)

    client.post("/logout")
    login(client, board["organizer"])
    assert client.post(f"/admin/submissions/{board['best']}/moderate",
                       data={"state": "", "reason": ""}).status_code == 302
    assert ranked(phase)[0].submission_id == board["best"]
    restore = [a for a in actions(db) if a[0] == "submission.restore"][0]
    assert restore[2]["moderation"] == "hidden" and restore[3] == {"moderation": "", "moderation_reason": ""}


def test_disqualifying_a_team_removes_all_its_entries_and_tells_only_the_team(app, client, db, board):
    phase = board["phase"]
    login(client, board["organizer"])
    asked = client.post(f"/admin/teams/{board['alpha']}/moderate",
                        data={"state": "disqualified", "reason": "one person, two teams"})
    # Disqualifying asks first (challenge.admin.confirm): nothing changed yet.
    assert asked.status_code == 200 and "What cannot be undone" in asked.get_data(as_text=True)
    assert len(ranked(phase)) == 2
    response = client.post(f"/admin/teams/{board['alpha']}/moderate",
                           data={"state": "disqualified", "reason": "one person, two teams",
                                 "confirm": "yes"})
    assert response.status_code == 302
    assert [e.team for e in ranked(phase)] == ["Beta"]
    console = client.get(f"/admin/phases/{phase.id}").get_data(as_text=True)
    assert 'class="moderated"' in console and "one person, two teams" in console
    assert "one person, two teams" in client.get("/admin/moderation").get_data(as_text=True)

    client.post("/logout")
    public = client.get("/c/tiny2012/cls?phase=test").get_data(as_text=True)
    assert "Beta" in public and "Alpha" not in public
    assert "one person, two teams" not in client.get(f"/teams/{board['alpha']}").get_data(as_text=True)
    login(client, board["bob"])
    assert "one person, two teams" not in client.get(f"/teams/{board['alpha']}").get_data(as_text=True)
    client.post("/logout")
    login(client, board["alice"])
    assert "one person, two teams" in client.get(f"/teams/{board['alpha']}").get_data(as_text=True)
    page = client.get(f"/submissions/{board['second']}").get_data(as_text=True)
    assert "Your team was disqualified" in page and "one person, two teams" in page

    moderation.moderate_team(board["organizer"], db.get(Team, board["alpha"]), "", "appeal granted")
    assert [e.team for e in ranked(phase)] == ["Alpha", "Beta"]
    assert [a[0] for a in actions(db)] == ["team.disqualify", "team.restore"]


def test_moderation_needs_a_reason_and_a_known_state(app, client, db, board):
    submission = db.get(Submission, board["best"])
    with pytest.raises(moderation.ModerationError, match="reason: say why"):
        moderation.moderate_submission(board["organizer"], submission, "disqualified", "  ")
    with pytest.raises(moderation.ModerationError, match="state: 'banned'"):
        moderation.moderate_submission(board["organizer"], submission, "banned", "x")
    login(client, board["organizer"])
    response = client.post(f"/admin/submissions/{board['best']}/moderate", data={"state": "hidden"})
    assert response.status_code == 400 and "reason: say why" in response.get_data(as_text=True)
    assert db.get(Submission, board["best"]).moderation == ""
    assert actions(db) == []


def test_moderate_command_hides_and_restores_with_an_audit_entry(app, db, runner, board):
    result = runner.invoke(args=["moderate", "submission", str(board["other"]), "disqualify",
                                 "--reason", "copied from Alpha"])
    assert result.exit_code == 0, result.output
    assert "disqualified" in result.output
    assert [e.team for e in ranked(board["phase"])] == ["Alpha"]
    result = runner.invoke(args=["moderate", "team", str(board["beta"]), "hide"])
    assert result.exit_code != 0 and "reason" in result.output
    result = runner.invoke(args=["moderate", "submission", "999", "restore"])
    assert result.exit_code != 0 and "no submission with id 999" in result.output
    assert runner.invoke(args=["moderate", "submission", str(board["other"]), "restore"]).exit_code == 0
    assert [a[0] for a in actions(db)] == ["submission.disqualify", "submission.restore"]
    assert db.scalars(select(AuditEntry)).first().actor_id is None  # the command line


# ------------------------------------------------------------------ flags

def test_flags_find_identical_and_nearly_identical_files_of_different_teams(app, client, db, redis,
                                                                             make_user, make_challenge,
                                                                             make_team):
    organizer = make_user("boss@example.org", organizer=True)
    users = [make_user() for _ in range(4)]
    challenge = make_challenge()
    for user, name in zip(users, ("Orig", "Copy", "Near", "Far"), strict=True):
        make_team(challenge, user, name=name)
    phase = challenge.tracks[0].phases[0]
    original = predictions(10)
    orig = submissions.submit(users[0], phase, "o.txt", original)
    again = submissions.submit(users[0], phase, "o2.txt", original)  # the same team twice: fine
    copy = submissions.submit(users[1], phase, "copy.txt", original.replace(b"\n", b"\r\n"))
    exact = submissions.submit(users[1], phase, "exact.txt", original)
    # 19 of 20 lines the same (95%), with different spacing; and 17 of 20 (85%).
    lines = original.decode().splitlines()
    near_lines = ["  " + x + " " for x in lines[:19]] + [str(int(lines[19]) % 10 + 1)]
    near = submissions.submit(users[2], phase, "near.txt", "\n".join(near_lines).encode())
    far_lines = lines[:17] + [str((int(x) + 1) % 10 + 1) for x in lines[17:]]
    submissions.submit(users[3], phase, "far.txt", "\n".join(far_lines).encode())

    found = flags.scan()
    pairs = {(f.first.id, f.second.id): (round(f.share, 2), f.identical) for f in found.copies}
    assert pairs[(orig.id, exact.id)] == (1.0, True)
    assert pairs[(orig.id, copy.id)] == (1.0, False)  # CRLF: other bytes, the same lines
    assert pairs[(orig.id, near.id)] == (0.95, False)
    assert pairs[(copy.id, near.id)] == (0.95, False)
    assert not any(again.id in pair for pair in pairs)  # same team, and the same bytes as orig
    assert len(pairs) == 4, sorted(pairs.items())  # none with Far (85% like Orig, Copy and Near)
    assert found.skipped == []

    login(client, organizer)
    page = client.get("/admin/flags?challenge=tiny2012").get_data(as_text=True)
    assert "identical file" in page and "95.0%" in page and "Far" not in page


def test_kaggle_csv_rows_in_another_order_are_the_same_lines():
    a = b"ImageId,PredictionString\nimg_1,n1 n2\nimg_2,n3 n4\n"
    b = b"ImageId,PredictionString\r\nimg_2,n3  n4\r\nimg_1,n1 n2\r\n"
    assert (flags.line_hashes(a) == flags.line_hashes(b)).all()


def test_flags_find_several_teams_of_one_domain_all_at_their_quota(app, client, db, redis, make_user,
                                                                   make_challenge, make_team, runner):
    organizer = make_user("boss@example.org", organizer=True)
    challenge = make_challenge(quota=(2, "total"))
    phase = challenge.tracks[0].phases[0]
    farm = [make_user(f"acct{i}@deepvision.ai") for i in range(3)]
    for i, user in enumerate(farm):
        make_team(challenge, user, name=f"Farm {i}")
        for k in range(2):  # each uses its whole quota
            submissions.submit(user, phase, "p.txt", predictions(i + k, offset=3))
    # Public mail domains say nothing, however busy.
    for i in range(3):
        user = make_user(f"student{i}@gmail.com")
        make_team(challenge, user, name=f"Gmail {i}")
        for k in range(2):
            submissions.submit(user, phase, "p.txt", predictions(10 + i + k, offset=5))
    # Three teams of another domain, one of which stays under its quota.
    for i in range(3):
        user = make_user(f"lab{i}@uni.example.edu")
        make_team(challenge, user, name=f"Lab {i}")
        for k in range(2 if i else 1):
            submissions.submit(user, phase, "p.txt", predictions(6 + i + k, offset=7))

    [flag] = flags.scan(challenge).farms
    assert flag.domain == "deepvision.ai" and [t.name for t in flag.teams] == ["Farm 0", "Farm 1", "Farm 2"]
    assert (flag.members, flag.submissions) == (3, 6)
    assert set(flag.full_periods.values()) == {1}

    login(client, organizer)
    page = client.get("/admin/flags").get_data(as_text=True)
    assert "deepvision.ai" in page and "uni.example.edu" not in page and "gmail.com" not in page
    result = runner.invoke(args=["flags", "--challenge", "tiny2012"])
    assert result.exit_code == 0 and "3 teams @deepvision.ai" in result.output


def test_reference_entries_are_never_flagged(app, client, db, redis, make_user, make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    user = make_user()
    challenge = make_challenge()
    make_team(challenge, user, name="Solo")
    phase = challenge.tracks[0].phases[0]
    submissions.submit(user, phase, "p.txt", predictions(3))
    login(client, organizer)
    response = client.post(f"/admin/phases/{phase.id}/reference", data={
        "name": "Baseline", "method": "", "file": (io.BytesIO(predictions(3)), "base.txt")},
        content_type="multipart/form-data")
    assert response.status_code == 302
    assert flags.scan().copies == []


def test_large_phases_get_the_identical_file_check_only(app, db, redis, make_user, make_challenge,
                                                        make_team, monkeypatch):
    users = [make_user() for _ in range(3)]
    challenge = make_challenge()
    for i, user in enumerate(users):
        make_team(challenge, user, name=f"T{i}")
    phase = challenge.tracks[0].phases[0]
    same = predictions(10)
    a = submissions.submit(users[0], phase, "a.txt", same)
    b = submissions.submit(users[1], phase, "b.txt", same)
    submissions.submit(users[2], phase, "c.txt", predictions(9))  # 95% like the others
    monkeypatch.setattr(flags, "MAX_NEAR_CELLS", 10)  # 2 distinct files x 20 images: 20 comparisons
    found = flags.scan()
    assert [(f.first.id, f.second.id, f.identical) for f in found.copies] == [(a.id, b.id, True)]
    assert len(found.skipped) == 1 and "only identical files were checked" in found.skipped[0]


def test_flags_on_the_real_2012_devkit_predictions(app, db, redis, shared, bundle_2012, make_user,
                                                    make_team):
    challenge = load_bundle(bundle_2012)
    phase = challenge.tracks[0].phases[0]  # classification, 50,000 images
    users = [make_user() for _ in range(3)]
    for i, user in enumerate(users):
        make_team(challenge, user, name=f"Team {i}")
    real = (shared / "2012" / "demo.val.pred.txt").read_bytes()
    lines = real.splitlines()
    # The third team changed its first 3,000 lines (94% of the file left as it was).
    edited = b"\n".join([b"1 2 3 4 5"] * 3000 + lines[3000:]) + b"\n"
    first = submissions.submit(users[0], phase, "demo.val.pred.txt", real)
    second = submissions.submit(users[1], phase, "copy.txt", real)
    third = submissions.submit(users[2], phase, "edited.txt", edited)
    found = {(f.first.id, f.second.id): f for f in flags.copies(phase)}
    assert found[(first.id, second.id)].identical
    assert round(found[(first.id, third.id)].share, 2) == 0.94 and not found[(first.id, third.id)].identical
    assert len(found) == 2  # the second is the first's bytes: compared once


def test_moderated_entries_leave_the_public_team_history_but_not_the_teams_own(app, client, db, board):
    moderation.moderate_submission(board["organizer"], db.get(Submission, board["best"]), "hidden",
                                   "a test upload")
    history = f"/teams/{board['alpha']}/history"
    # The history table shows each scored submission's error: 2 and 4 of the images wrong.
    best, second = (f"{db.get(Submission, board[k]).score.error:.5f}" for k in ("best", "second"))
    assert best != second
    public = client.get(history).get_data(as_text=True)
    assert best not in public and second in public
    login(client, board["bob"])
    assert best not in client.get(history).get_data(as_text=True)
    client.post("/logout")
    login(client, board["alice"])
    assert best in client.get(history).get_data(as_text=True)

    moderation.moderate_team(board["organizer"], db.get(Team, board["alpha"]), "disqualified", "two teams")
    client.post("/logout")
    assert second not in client.get(history).get_data(as_text=True)
