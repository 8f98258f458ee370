"""The year page's tabs, deadline countdowns, the track page's order and skip links, the
team's submission lists (score, status, marks), closed years, and the console's UTC dates."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from test_leaderboards import add_scored

from challenge import splits
from challenge.challenges.countdown import countdown, duration_text
from challenge.models import Phase
from challenge.rules import service as rules
from tests.conftest import make_blob


def login(client, user):
    response = client.post("/login", data={"email": user.email, "password": "password123"})
    assert response.status_code == 302
    return client


def now_s() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def nav(page: str) -> str:
    return page.split('<nav class="tabs"', 1)[1].split("</nav>", 1)[0]


def current_tab(page: str) -> str:
    found = re.findall(r'<a href="[^"]*"\s*aria-current="page">([^<]+)</a>', nav(page))
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- countdown

@pytest.mark.parametrize("seconds, text", [
    (3 * 86400 + 4 * 3600 + 59 * 60, "3 days 4 hours"),
    (86400, "1 day"),
    (86400 + 3600 + 1, "1 day 1 hour"),
    (5 * 3600 + 12 * 60 + 30, "5 hours 12 minutes"),
    (3600, "1 hour"),
    (7 * 60 + 59, "7 minutes"),
    (60, "1 minute"),
    (59, "less than a minute"),
])
def test_duration_text_rounds_down_to_two_units(seconds, text):
    assert duration_text(seconds) == text


def test_countdown_for_fixed_times():
    phase = Phase(slug="test", opens_at=datetime(2026, 5, 1, 0, 0, tzinfo=UTC),
                  closes_at=datetime(2026, 5, 10, 18, 30, tzinfo=UTC), images=1)
    before = countdown(phase, datetime(2026, 4, 28, 21, 15, tzinfo=UTC))
    assert before is not None and before.text == "opens in 2 days 2 hours" and before.verb == "opens"
    assert before.iso == "2026-05-01T00:00:00Z" and before.utc_text == "2026-05-01 00:00 UTC"
    during = countdown(phase, datetime(2026, 5, 7, 14, 0, tzinfo=UTC))
    assert during is not None and during.text == "closes in 3 days 4 hours"
    assert during.iso == "2026-05-10T18:30:00Z"
    assert countdown(phase, datetime(2026, 5, 10, 18, 5, tzinfo=UTC)).text == "closes in 25 minutes"
    assert countdown(phase, datetime(2026, 5, 10, 18, 30, tzinfo=UTC)) is None  # closed


def test_pages_render_the_countdown_with_the_utc_time(client, make_user, make_challenge, make_team):
    closes = now_s() + timedelta(days=3, hours=4, minutes=30)
    challenge = make_challenge(closes=closes)
    iso = closes.strftime("%Y-%m-%dT%H:%M:%SZ")
    element = f'<time datetime="{iso}">{closes:%Y-%m-%d %H:%M} UTC</time>'
    for url in ("/c/tiny2012", "/c/tiny2012/cls"):
        page = client.get(url).get_data(as_text=True)
        assert f"closes in 3 days 4 hours ({element})" in page, url
    # The upload form's header says it too.
    user = make_user()
    make_team(challenge, user)
    login(client, user)
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert page.count("closes in 3 days 4 hours") >= 2


def test_an_upcoming_phase_says_when_it_opens(client, make_challenge):
    opens = now_s() + timedelta(hours=2, minutes=10, seconds=30)
    make_challenge(opens=opens, closes=opens + timedelta(days=9))
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert "opens in 2 hours 10 minutes" in page
    assert f'<time datetime="{opens:%Y-%m-%dT%H:%M:%SZ}">' in page
    assert "uploads are not accepted yet: it" in page and 'id="upload"' not in page
    overview = client.get("/c/tiny2012").get_data(as_text=True)
    assert "opens in 2 hours 10 minutes" in overview and "closes in" not in overview


# ---------------------------------------------------------------- tabs

def test_each_tab_is_a_page_with_the_current_one_marked(client, make_challenge):
    make_challenge()
    expected = {"": "Overview", "?tab=overview": "Overview", "?tab=data": "Data", "?tab=rules": "Rules",
                "?tab=leaderboard": "Leaderboard"}
    for query, label in expected.items():
        response = client.get(f"/c/tiny2012{query}")
        assert response.status_code == 200, query
        page = response.get_data(as_text=True)
        assert current_tab(page) == label
        assert 'href="/c/tiny2012?tab=data"' in nav(page) and 'href="/c/tiny2012"' in nav(page)
    assert client.get("/c/tiny2012?tab=nope").status_code == 404


def test_overview_has_description_tracks_phases_and_dates(db, client, make_challenge):
    challenge = make_challenge(opens=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
                               closes=datetime(2099, 6, 30, 23, 59, tzinfo=UTC))
    challenge.description = "Classify tiny images.\n\nTwo paragraphs."
    db.commit()
    page = client.get("/c/tiny2012").get_data(as_text=True)
    assert "<p>Classify tiny images.</p>" in page and "<p>Two paragraphs.</p>" in page
    assert 'href="/c/tiny2012/cls"' in page and "Tiny classification" in page
    assert "2026-01-05 09:00" in page and "2099-06-30 23:59" in page and "5 per day (UTC)" in page
    assert 'id="join"' in page and 'href="/register"' in page  # anonymous: how to take part


def test_data_tab_gives_the_format_and_the_sample_files(db, client, make_challenge):
    challenge = make_challenge(task="localization", track_slug="loc")
    page = client.get("/c/tiny2012?tab=data").get_data(as_text=True)
    assert "<code>label xmin ymin xmax ymax</code>" in page and "ImageId,PredictionString" in page
    assert 'href="/c/tiny2012/loc/sample?phase=test"' in page and "Example predictions" in page
    phase = challenge.tracks[0].phases[0]
    phase.sample_blob = make_blob(db, "sample.txt", b"1 10 10 50 50\n" * 20)
    db.commit()
    page = client.get("/c/tiny2012?tab=data").get_data(as_text=True)
    assert "Sample predictions (the organizers&#39;)" in page
    # Ground truth is never linked or named: only the public sample is.
    assert "labels.txt" not in page and "boxes.csv" not in page and "/blob" not in page


def test_rules_tab_shows_rules_when_the_challenge_has_them(client, make_challenge):
    challenge = make_challenge()
    page = client.get("/c/tiny2012?tab=rules").get_data(as_text=True)
    assert "The organizers have not published rules for this challenge yet." in page
    rules.set_rules(None, challenge, "Be *fair*.\n\n<script>alert(1)</script>")
    page = client.get("/c/tiny2012?tab=rules").get_data(as_text=True)
    assert "<p>Be <em>fair</em>.</p>" in page and "Version 1" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page  # raw HTML escaped
    assert "have not published rules" not in page


def test_leaderboard_tab_shows_the_top_of_each_visible_board(db, client, make_user, make_challenge,
                                                            make_team):
    challenge = make_challenge()
    phase = challenge.tracks[0].phases[0]
    for i, error in enumerate([0.5, 0.25, 0.75, 0.125, 0.625, 0.875]):
        add_scored(db, phase, make_team(challenge, make_user(), name=f"Team {chr(65 + i)}"), error)
    page = client.get("/c/tiny2012?tab=leaderboard").get_data(as_text=True)
    board = page.split('id="board-cls"', 1)[1]
    assert board.index("Team D") < board.index("Team B") < board.index("Team A")
    assert "0.12500" in board and "Team F" not in board  # the top 5 of 6
    assert "Full leaderboard (6 entries)" in board and 'href="/c/tiny2012/cls?phase=test"' in board

    quiet = make_challenge("quiet2012", leaderboard="after-close")
    add_scored(db, quiet.tracks[0].phases[0], make_team(quiet, make_user(), name="Hush"), 0.4375)
    page = client.get("/c/quiet2012?tab=leaderboard").get_data(as_text=True)
    assert "Scores are published when the phase closes" in page
    assert "Hush" not in page and "0.43750" not in page


def test_my_submissions_is_for_members_only(db, client, make_user, make_challenge, make_team):
    challenge = make_challenge()
    member, outsider = make_user(), make_user()
    make_team(challenge, member, name="Owls")
    assert client.get("/c/tiny2012?tab=submissions").status_code == 404  # anonymous
    assert "My submissions" not in nav(client.get("/c/tiny2012").get_data(as_text=True))
    login(client, outsider)
    assert client.get("/c/tiny2012?tab=submissions").status_code == 404
    assert "My submissions" not in nav(client.get("/c/tiny2012").get_data(as_text=True))
    client.post("/logout")
    login(client, member)
    overview = client.get("/c/tiny2012").get_data(as_text=True)
    assert 'href="/c/tiny2012?tab=submissions"' in nav(overview) and "Owls" in overview
    page = client.get("/c/tiny2012?tab=submissions").get_data(as_text=True)
    assert current_tab(page) == "My submissions" and "No submissions yet." in page


def test_my_submissions_lists_score_status_and_moderation_marks(db, client, make_user, make_challenge,
                                                               make_team):
    challenge = make_challenge()
    phase = challenge.tracks[0].phases[0]
    user = make_user()
    team = make_team(challenge, user, name="Owls")
    good = add_scored(db, phase, team, 0.3125, method="Good net")
    cheat = add_scored(db, phase, team, 0.0625, method="Peeked", minutes=1)
    add_scored(db, phase, team, 0.0, method="Broken", status="failed", minutes=2)
    cheat.moderation, cheat.moderation_reason = "disqualified", "trained on the test images"
    db.commit()
    login(client, user)
    for url in ("/c/tiny2012?tab=submissions", f"/teams/{team.id}/submissions"):
        page = client.get(url).get_data(as_text=True)
        rows = {m.group(1): m.group(0) for m in re.finditer(
            r'<tr[^>]*><td><a href="/submissions/(\d+)">.*?</tr>', page, re.S)}
        assert "0.31250" in rows[str(good.id)] and "status-scored" in rows[str(good.id)]
        assert "0.06250" in rows[str(cheat.id)]
        assert '<span class="badge disqualified" title="trained on the test images">disqualified</span>' \
            in rows[str(cheat.id)]
        failed = next(r for r in rows.values() if "Broken" in r)
        assert "status-failed" in failed and "—" in failed
        assert "<th class=\"num\">Score</th>" in page


def test_lists_never_show_private_or_whole_set_scores_before_publication(db, client, make_user,
                                                                        make_challenge, make_team):
    challenge = make_challenge(leaderboard="public")
    phase = challenge.tracks[0].phases[0]
    phase.public_fraction = 0.5
    db.commit()
    user = make_user()
    team = make_team(challenge, user, name="Split")
    submission = add_scored(db, phase, team, 0.11111)
    numbers = {"error_at_k": [0.5, 0.5], "ci95": [0.1, 0.9]}
    submission.score.subsets = {"key": splits.split_key(phase), "public": {**numbers, "error": 0.22222},
                                "private": {**numbers, "error": 0.33333}}
    db.commit()
    login(client, user)
    for url in ("/c/tiny2012?tab=submissions", f"/teams/{team.id}/submissions", "/c/tiny2012/cls"):
        page = client.get(url).get_data(as_text=True)
        assert '0.22222 <span class="muted">(public)</span>' in page, url
        assert "0.11111" not in page and "0.33333" not in page, url


def test_hidden_board_lists_status_but_no_score(db, client, make_user, make_challenge, make_team):
    challenge = make_challenge(leaderboard="hidden")
    user = make_user()
    team = make_team(challenge, user)
    add_scored(db, challenge.tracks[0].phases[0], team, 0.4375)
    login(client, user)
    page = client.get("/c/tiny2012?tab=submissions").get_data(as_text=True)
    assert "status-scored" in page and "not shown" in page and "0.43750" not in page


def test_team_page_links_its_submissions_for_members_only(client, make_user, make_challenge, make_team):
    challenge = make_challenge()
    member, other = make_user(), make_user()
    team = make_team(challenge, member)
    link = f'href="/teams/{team.id}/submissions"'
    assert link not in client.get(f"/teams/{team.id}").get_data(as_text=True)
    login(client, other)
    assert link not in client.get(f"/teams/{team.id}").get_data(as_text=True)
    client.post("/logout")
    login(client, member)
    assert link in client.get(f"/teams/{team.id}").get_data(as_text=True)


# ---------------------------------------------------------------- track page order

def test_member_gets_the_form_before_the_board_with_skip_links(db, client, make_user, make_challenge,
                                                              make_team):
    challenge = make_challenge()
    user = make_user()
    add_scored(db, challenge.tracks[0].phases[0], make_team(challenge, user, name="Owls"), 0.25)
    login(client, user)
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    skip, form, board = page.index('id="skip-to-board"'), page.index('id="upload"'), page.index('id="board"')
    assert skip < form < board
    assert '<a class="skip-link" id="skip-to-board" href="#board">Skip to leaderboard</a>' in page
    assert page.index('href="#upload">Back to the upload form') > board


def test_others_get_the_board_first_with_a_skip_link_to_the_form(client, make_user, make_challenge):
    make_challenge()
    for who in (None, make_user()):
        if who is not None:
            login(client, who)
        page = client.get("/c/tiny2012/cls").get_data(as_text=True)
        assert page.index('id="skip-to-upload"') < page.index('id="board"') < page.index('id="upload"')
        assert 'id="skip-to-board"' not in page


def test_closed_phase_has_no_skip_links(client, make_challenge):
    make_challenge(opens=now_s() - timedelta(days=5), closes=now_s() - timedelta(days=1))
    page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    assert "skip-link" not in page and "This phase is closed; uploads are not accepted." in page


# ---------------------------------------------------------------- closed years

def test_a_closed_year_says_so_and_offers_no_team(client, make_user, make_challenge):
    ended = now_s() - timedelta(days=1)
    make_challenge("old2010", year=2010, opens=ended - timedelta(days=30), closes=ended)
    make_challenge("new2026", year=2026)
    page = client.get("/c/old2010").get_data(as_text=True)
    assert 'id="closed"' in page and f"{ended:%Y-%m-%d %H:%M} UTC" in page
    assert "teams can no longer be created or joined" in page and 'id="join"' not in page
    assert 'id="closed"' not in client.get("/c/new2026").get_data(as_text=True)
    index = client.get("/").get_data(as_text=True)
    assert '>Tiny 2010</a> <span class="muted">(closed)</span>' in index
    assert '>Tiny 2026</a> <span class="muted">(closed)' not in index
    login(client, make_user())
    page = client.get("/c/old2010").get_data(as_text=True)
    assert 'id="join"' not in page and 'href="/teams"' not in page.split("<main>", 1)[1]
    assert 'id="join"' in client.get("/c/new2026").get_data(as_text=True)
    mine = client.get("/teams").get_data(as_text=True)
    assert "Tiny 2026" in mine and "Tiny 2010" not in mine  # My teams offers only the open year
    assert mine.count("Create team") == 1


# ---------------------------------------------------------------- console dates

def test_console_date_fields_are_utc_datetime_local_with_a_hint(db, client, make_user, make_challenge):
    challenge = make_challenge(opens=datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
                               closes=datetime(2099, 1, 31, 23, 45, tzinfo=UTC))
    phase = challenge.tracks[0].phases[0]
    login(client, make_user(organizer=True))
    page = client.get(f"/admin/phases/{phase.id}").get_data(as_text=True)
    opens = re.search(r'<input[^>]*name="opens"[^>]*>', page).group(0)
    assert 'type="datetime-local"' in opens and 'value="2026-05-01T12:00"' in opens
    assert 'aria-describedby="opens-hint"' in opens
    assert '<label for="opens">Opens (UTC)</label>' in page
    assert re.search(r'<span class="hint" id="opens-hint">In UTC, 24-hour clock', page)
    response = client.post(f"/admin/phases/{phase.id}", data={
        "title": "Test", "opens": "2026-06-01T08:30", "closes": "2099-02-01T00:00", "quota_count": "5",
        "quota_period": "day", "leaderboard": "public"})
    assert response.status_code == 302
    db.expire_all()
    phase = db.get(Phase, phase.id)
    assert phase.opens_at == datetime(2026, 6, 1, 8, 30, tzinfo=UTC)
    boards = client.get(f"/admin/phases/{phase.id}/boards").get_data(as_text=True)
    freeze = re.search(r'<input[^>]*name="freeze"[^>]*>', boards).group(0)
    assert 'type="datetime-local"' in freeze and 'aria-describedby="freeze-hint"' in freeze
    response = client.post(f"/admin/phases/{phase.id}/boards", data={
        "public_fraction": "", "public_images": "", "freeze": "2098-12-31T22:15", "final_picks": "2"})
    assert response.status_code == 302
    db.expire_all()
    phase = db.get(Phase, phase.id)
    assert phase.frozen_at == datetime(2098, 12, 31, 22, 15, tzinfo=UTC)
    boards = client.get(f"/admin/phases/{phase.id}/boards").get_data(as_text=True)
    assert 'value="2098-12-31T22:15"' in boards
