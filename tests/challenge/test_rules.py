"""A challenge's rules: Markdown rendered safely, versions set from the console and bundles
(audited), accepted on creating or joining a team, and asked for again before the next
upload (web and API) once they change."""

from __future__ import annotations

import json
from hashlib import sha256
from io import BytesIO

import pytest
from sqlalchemy import func, select
from submit_helpers import api_upload
from test_bundles import TOML, write_bundle

from challenge.bundles import BundleError, load_bundle
from challenge.export_bundle import write as export_write
from challenge.models import AuditEntry, Membership, RulesAcceptance, RulesVersion, Submission, Team
from challenge.rules import service as rules
from challenge.rules import text_audit
from challenge.rules.markdown import render, safe_link
from challenge.tokens import create_token
from tests.conftest import perfect_predictions

HOSTILE = """# Rules

<script>alert('x')</script>

<img src=x onerror="alert(1)">

[click](javascript:alert(1)) [tab](java&#09;script:alert(2)) [enc](%6Aavascript:alert(3))
[vb](vbscript:msgbox) ![pixel](data:image/png;base64,AAAA) [ok](https://example.org/faq)
<a href="javascript:alert(4)">raw link</a>

1. Be **fair**.
"""


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


def flashes(response) -> str:
    return response.get_data(as_text=True)


def assert_safe(html: str) -> None:
    """No tag the text wrote survives, and no link or image points anywhere but the web."""
    lowered = html.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered  # the raw tag is text, and the data: image is dropped
    assert "onerror=\"" not in lowered
    for attribute in ('href="', 'src="'):
        for target in lowered.split(attribute)[1:]:
            assert target.startswith(("http://", "https://", "mailto:", "/", "#", "?")), target[:40]


# ---------------------------------------------------------------- Markdown


def test_markdown_escapes_raw_html_and_drops_unsafe_links():
    html = str(render(HOSTILE))
    assert_safe(html)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html or "&lt;script&gt;" in html
    assert '<a href="https://example.org/faq" rel="nofollow noopener noreferrer">ok</a>' in html
    assert "<h2>Rules</h2>" in html  # '#' becomes the page's second level
    assert "<strong>fair</strong>" in html
    assert str(render("# Top", top=4)) == "<h4>Top</h4>\n"
    for bad in ("javascript:x", "JAVASCRIPT:x", "java\tscript:x", "%6Aavascript:x", "data:text/html,x",
                "vbscript:x", "file:///etc/passwd"):
        assert not safe_link(bad), bad
    for good in ("https://a.org", "http://a.org/x?y=1", "mailto:a@b.org", "/c/x", "#faq", "rules.md"):
        assert safe_link(good), good


# ---------------------------------------------------------------- console, versions, audit


@pytest.fixture
def year(app, db, redis, make_user, make_challenge, make_team):
    organizer = make_user("boss@example.org", organizer=True)
    alice, bob = make_user("alice@example.org"), make_user("bob@example.org")
    challenge = make_challenge()
    team = make_team(challenge, alice, name="Alpha")
    return {"organizer": organizer, "alice": alice, "bob": bob, "challenge": challenge, "team": team}


def set_rules_in_console(client, challenge, text):
    return client.post(f"/admin/challenges/{challenge.id}/rules", data={"text": text}, follow_redirects=True)


def test_console_sets_versions_audited_and_the_page_renders_them_safely(app, db, client, year):
    challenge = year["challenge"]
    login(client, year["alice"])
    assert client.get(f"/admin/challenges/{challenge.id}/rules").status_code == 404  # not an organizer
    assert client.post(f"/admin/challenges/{challenge.id}/rules", data={"text": "x"}).status_code == 404
    client.post("/logout")
    login(client, year["organizer"])
    page = set_rules_in_console(client, challenge, HOSTILE)
    assert "Rules saved as version 1" in flashes(page)
    again = set_rules_in_console(client, challenge, HOSTILE.replace("\n", "\r\n") + "\n\n")
    assert "unchanged: no new version" in flashes(again)
    assert "Rules saved as version 2" in flashes(set_rules_in_console(client, challenge, "Be kind."))
    assert db.scalar(select(func.count()).select_from(RulesVersion)) == 2

    entries = db.scalars(select(AuditEntry).where(AuditEntry.action == "rules.update")
                         .order_by(AuditEntry.id)).all()
    assert [e.after["version"] for e in entries] == [1, 2]
    assert entries[0].before is None and entries[1].before == {
        "version": 1, "text": text_audit.fingerprint(rules.clean(HOSTILE))}
    assert entries[1].after["text"] == {"sha256": sha256(b"Be kind.").hexdigest(), "length": 8}
    diff = entries[1].after["diff"]["text"]
    assert diff.startswith("--- version 1\n+++ version 2\n") and "\n-1. Be **fair**.\n+Be kind." in diff
    assert entries[1].actor_id == year["organizer"].id
    assert entries[1].challenge_id == challenge.id

    public = client.get(f"/challenges/{challenge.slug}/rules")
    assert public.status_code == 200 and "Be kind." in flashes(public) and "Version 2" in flashes(public)
    old = client.get(f"/challenges/{challenge.slug}/rules?version=1")
    html = flashes(old)
    assert "This is an older version" in html and "<strong>fair</strong>" in html
    main = html.split("<main", 1)[1]
    assert_safe(main)
    assert client.get(f"/challenges/{challenge.slug}/rules?version=9").status_code == 404
    assert client.get("/challenges/nope/rules").status_code == 404
    year_page = flashes(client.get(f"/c/{challenge.slug}"))
    assert f'href="/challenges/{challenge.slug}/rules"' in year_page and "version 2" in year_page

    too_long = set_rules_in_console(client, challenge, "x" * (rules.MAX_RULES + 1))
    assert too_long.status_code == 400 and "rules:" in flashes(too_long)
    removed = set_rules_in_console(client, challenge, "   ")
    assert "Rules removed (version 3 is empty)" in flashes(removed)
    assert rules.in_force(challenge) is None


def test_a_long_rules_change_is_audited_as_checksums_and_a_bounded_diff(app, db, client, year):
    """Rules far longer than the diff's cap: the entry holds both versions' number, SHA-256 and
    length and a diff cut at DIFF_CHARS that says it was cut, not the texts; the audit page
    shows that diff (escaped) beside the checksums."""
    challenge = year["challenge"]
    first = "\n".join(f"{n}. Rule {n}: be fair to every team, every day." for n in range(1, 1501))
    second = "\n".join(line.replace("be fair", "be <script>kind</script>") if n % 10 == 0 else line
                       for n, line in enumerate(first.split("\n"), 1))
    assert len(first) > 15 * text_audit.DIFF_CHARS and len(second) <= rules.MAX_RULES
    login(client, year["organizer"])
    assert "version 1" in flashes(set_rules_in_console(client, challenge, first))
    assert "version 2" in flashes(set_rules_in_console(client, challenge, second))

    entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "rules.update")
                       .order_by(AuditEntry.id.desc())).first()
    assert entry.before == {"version": 1, "text": {"sha256": sha256(first.encode()).hexdigest(),
                                                   "length": len(first)}}
    assert entry.after["version"] == 2
    assert entry.after["text"] == {"sha256": sha256(second.encode()).hexdigest(), "length": len(second)}
    diff = entry.after["diff"]["text"]
    *lines, note = diff.split("\n")
    assert lines[:3] == ["--- version 1", "+++ version 2", "@@ -8,5 +8,5 @@"]
    assert "-10. Rule 10: be fair to every team, every day." in lines
    assert "+10. Rule 10: be <script>kind</script> to every team, every day." in lines
    assert len("\n".join(lines)) <= text_audit.DIFF_CHARS
    assert note.startswith(f"{text_audit.CUT_MARK} at 4,096 characters:") and "more lines not shown" in note
    stored = json.dumps(entry.before) + json.dumps(entry.after)
    assert len(stored) < text_audit.DIFF_CHARS + 1000
    assert "Rule 1000:" not in stored  # past the cut: the log does not hold the text

    page = flashes(client.get("/admin/audit?action=rules.update"))
    row = page.split(f'<a href="/admin/challenges/{challenge.id}">challenge:{challenge.id}</a>', 1)[1]
    row = row.split("</tr>", 1)[0]
    assert f"<del>{sha256(first.encode()).hexdigest()}</del>" in row and "text.length" in row
    assert "<code>text</code>: diff, 12 lines added, 12 removed (cut: more were not kept)" in row
    assert "<ins>+10. Rule 10: be &lt;script&gt;kind&lt;/script&gt; to every team, every day.</ins>" in row
    assert "<del>-10. Rule 10: be fair to every team, every day.</del>" in row
    assert f'<em class="muted">{text_audit.CUT_MARK} at 4,096 characters' in row
    assert "<script>" not in row


def test_the_diff_is_cut_at_a_line_end_or_inside_a_first_line_too_long():
    assert text_audit.unified_diff("same\n", "same", "a", "b") == ""
    short = text_audit.unified_diff("one\ntwo", "one\nthree", "a", "b", limit=1000)
    assert short == "--- a\n+++ b\n@@ -1,2 +1,2 @@\n one\n-two\n+three"
    cut = text_audit.unified_diff("", "\n".join(f"line {n}" for n in range(100)), "a", "b", limit=40)
    assert cut == (f"--- a\n+++ b\n@@ -0,0 +1,100 @@\n+line 0\n{text_audit.CUT_MARK} at 40 characters: "
                   "919 in all, 99 more lines not shown")  # "+line 1" would pass 40: cut before it
    wide = text_audit.unified_diff("", "x" * 500, "a", "b", limit=3)  # no line end within the cap
    assert wide == f"---\n{text_audit.CUT_MARK} at 3 characters: 527 in all, 3 more lines not shown"


# ---------------------------------------------------------------- team forms


def test_creating_or_joining_a_team_asks_to_accept_the_current_rules(app, db, client, year):
    challenge, bob = year["challenge"], year["bob"]
    rules.set_rules(year["organizer"], challenge, "Rule one.")
    login(client, bob)
    mine = flashes(client.get("/teams"))
    assert 'name="accept_rules"' in mine and 'name="rules_version" value="1"' in mine
    assert f'href="/challenges/{challenge.slug}/rules"' in mine

    refused = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Bees"},
                          follow_redirects=True)
    assert "tick the box to accept them (version 1)" in flashes(refused)
    assert db.scalar(select(Team).where(Team.name == "Bees")) is None

    rules.set_rules(year["organizer"], challenge, "Rule one, amended.")  # the page showed version 1
    stale = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Bees",
                                               "accept_rules": "y", "rules_version": "1"},
                        follow_redirects=True)
    assert "changed after this page was shown: read version 2" in flashes(stale)
    assert db.scalar(select(Team).where(Team.name == "Bees")) is None

    created = client.post("/teams/create", data={"challenge_id": challenge.id, "name": "Bees",
                                                 "accept_rules": "y", "rules_version": "2"})
    assert created.status_code == 302
    [row] = db.scalars(select(RulesAcceptance)).all()
    assert (row.user_id, row.challenge_id, row.version) == (bob.id, challenge.id, 2)
    assert row.accepted_at is not None


def test_joining_asks_too(app, db, client, year, make_user):
    challenge, team = year["challenge"], year["team"]
    rules.set_rules(None, challenge, "Rule one.")
    carol = make_user("carol@example.org")
    login(client, carol)
    data = {"challenge_id": challenge.id, "invite_code": team.invite_code}
    refused = client.post("/teams/join", data=data, follow_redirects=True)
    assert "tick the box" in flashes(refused)
    assert db.scalar(select(Membership).where(Membership.user_id == carol.id)) is None
    joined = client.post("/teams/join", data={**data, "accept_rules": "y", "rules_version": "1"})
    assert joined.status_code == 302
    assert db.scalar(select(Membership).where(Membership.user_id == carol.id)) is not None
    assert rules.accepted_version(carol, challenge).version == 1


def test_a_wrong_invite_code_records_no_acceptance(app, db, client, year):
    challenge = year["challenge"]
    rules.set_rules(None, challenge, "Rule one.")
    login(client, year["bob"])
    client.post("/teams/join", data={"challenge_id": challenge.id, "invite_code": "nope",
                                     "accept_rules": "y", "rules_version": "1"})
    assert db.scalar(select(func.count()).select_from(RulesAcceptance)) == 0


def test_no_rules_no_box(app, db, client, year):
    login(client, year["bob"])
    assert 'name="accept_rules"' not in flashes(client.get("/teams"))
    created = client.post("/teams/create", data={"challenge_id": year["challenge"].id, "name": "Bees"})
    assert created.status_code == 302 and db.scalar(select(Team).where(Team.name == "Bees")) is not None


# ---------------------------------------------------------------- the upload gate


def web_upload(client, data: bytes):
    return client.post("/c/tiny2012/cls/submissions",
                       data={"file": (BytesIO(data), "p.txt"), "extra_data": "no"},
                       content_type="multipart/form-data")


def test_changed_rules_are_accepted_again_before_the_next_upload_web_and_api(app, db, client, year):
    challenge, alice = year["challenge"], year["alice"]
    token = create_token(alice)
    rules.set_rules(year["organizer"], challenge, "Version one.")
    rules.accept(alice, challenge, 1)
    assert api_upload(client, token, perfect_predictions("classification")).status_code == 202

    rules.set_rules(year["organizer"], challenge, "Version two: no ensembles.")
    refused = api_upload(client, token, perfect_predictions("classification"))
    assert refused.status_code == 403
    body = refused.get_json()
    assert body["rules_version"] == 2
    assert body["rules_url"].endswith(f"/challenges/{challenge.slug}/rules")
    assert body["rules_url"] in body["error"] and "accept" in body["error"]
    assert db.scalar(select(func.count()).select_from(Submission)) == 1  # nothing stored or counted

    login(client, alice)
    # The track page says so before an upload is refused (and its cached copy is not reused).
    track_page = client.get("/c/tiny2012/cls?phase=test")
    notice = flashes(track_page).split('id="rules-pending"', 1)[1].split("</p>", 1)[0]
    assert "accept the rules" in notice and "version 2" in notice
    assert f'href="/challenges/{challenge.slug}/rules"' in notice
    web = web_upload(client, perfect_predictions("classification"))
    assert web.status_code == 302
    target = web.headers["Location"]
    assert target.startswith(f"/challenges/{challenge.slug}/rules?next=") and target.endswith("#accept-rules")
    page = flashes(client.get(target))
    assert "Upload refused: the rules of" in page and "Version two: no ensembles." in page
    assert "The rules changed since you accepted version 1" in page and 'name="accept"' in page
    assert db.scalar(select(func.count()).select_from(Submission)) == 1

    # Accepting without the box, or an outdated version, is refused.
    unticked = client.post(f"/challenges/{challenge.slug}/rules/accept", data={"version": "2"},
                           follow_redirects=True)
    assert "Not accepted: tick the box" in flashes(unticked)
    outdated = client.post(f"/challenges/{challenge.slug}/rules/accept", data={"version": "1", "accept": "y"},
                           follow_redirects=True)
    assert "changed after this page was shown" in flashes(outdated)

    accepted = client.post(f"/challenges/{challenge.slug}/rules/accept",
                           data={"version": "2", "accept": "y", "next": "/c/tiny2012/cls?phase=test"})
    assert accepted.status_code == 302 and accepted.headers["Location"] == "/c/tiny2012/cls?phase=test"
    evil = client.post(f"/challenges/{challenge.slug}/rules/accept",
                       data={"version": "2", "accept": "y", "next": "//evil.example/"})
    assert evil.headers["Location"] == f"/challenges/{challenge.slug}/rules"  # no open redirect
    assert db.scalar(select(func.count()).select_from(RulesAcceptance)) == 2  # versions 1 and 2, once each
    assert "You accepted version 2" in flashes(client.get(f"/challenges/{challenge.slug}/rules"))
    again = client.get("/c/tiny2012/cls?phase=test", headers={"If-None-Match": track_page.headers["ETag"]})
    assert again.status_code == 200 and 'id="rules-pending"' not in flashes(again)

    assert web_upload(client, perfect_predictions("classification")).status_code == 302
    assert api_upload(client, token, perfect_predictions("classification")).status_code == 202
    assert db.scalar(select(func.count()).select_from(Submission)) == 3


def test_a_member_added_by_an_organizer_accepts_before_uploading(app, db, client, year, make_user,
                                                                  make_team):
    """Organizers may put people on teams (CLI, console): they have accepted nothing yet."""
    challenge = year["challenge"]
    rules.set_rules(None, challenge, "Rules.")
    dave = make_user("dave@example.org")
    make_team(challenge, dave, name="Dee")
    refused = api_upload(client, create_token(dave), perfect_predictions("classification"))
    assert refused.status_code == 403 and refused.get_json()["rules_version"] == 1


# ---------------------------------------------------------------- bundles


def test_a_bundle_sets_the_rules_file_as_a_version_and_exports_it(db, tmp_path):
    toml = 'rules = "rules.md"\n' + TOML
    folder = write_bundle(tmp_path / "b", toml, **{"rules.md": b"# Rules\n\nNo hand labelling.\n"})
    challenge = load_bundle(folder)
    assert rules.in_force(challenge).text == "# Rules\n\nNo hand labelling."
    load_bundle(folder)  # the same text again: no new version
    assert [v.version for v in rules.versions(challenge)] == [1]
    (folder / "rules.md").write_text("# Rules\n\nNo hand labelling. No ensembles.\n")
    load_bundle(folder)
    assert [v.version for v in rules.versions(challenge)] == [2, 1]
    audited = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "rules.update")
    assert db.scalar(audited) == 2

    # A bundle without the key leaves the rules as they are.
    load_bundle(write_bundle(tmp_path / "c"))
    assert rules.in_force(challenge).version == 2

    exported = export_write(challenge, tmp_path / "out")
    assert exported.manifest["rules"] == "rules.md"
    assert (tmp_path / "out" / "rules.md").read_text() == "# Rules\n\nNo hand labelling. No ensembles.\n"


def test_bad_rules_files_name_the_key(db, tmp_path):
    toml = 'rules = "rules.md"\n' + TOML
    with pytest.raises(BundleError, match=r"challenge\.rules: file 'rules\.md' not found"):
        load_bundle(write_bundle(tmp_path / "a", toml))
    with pytest.raises(BundleError, match=r"challenge\.rules: file 'rules\.md' is not UTF-8"):
        load_bundle(write_bundle(tmp_path / "b", toml, **{"rules.md": b"\xff\xfe bad"}))
    with pytest.raises(BundleError, match="rules are at most"):
        load_bundle(write_bundle(tmp_path / "c", toml, **{"rules.md": b"x" * (rules.MAX_RULES + 1)}))
    assert db.scalar(select(func.count()).select_from(RulesVersion)) == 0


def test_the_rules_command_shows_and_sets_them(app, db, runner, year, tmp_path):
    assert "has no rules in force" in runner.invoke(args=["rules", "tiny2012"]).output
    source = tmp_path / "rules.md"
    source.write_text("Be fair.\n")
    assert "now version 1" in runner.invoke(args=["rules", "tiny2012", "--file", str(source)]).output
    assert "unchanged" in runner.invoke(args=["rules", "tiny2012", "--file", str(source)]).output
    shown = runner.invoke(args=["rules", "tiny2012"]).output
    assert "# version 1" in shown and "Be fair." in shown
    [entry] = db.scalars(select(AuditEntry).where(AuditEntry.action == "rules.update")).all()
    assert entry.actor_id is None and entry.after == {
        "version": 1, "text": text_audit.fingerprint("Be fair."),
        "diff": {"text": "--- no rules\n+++ version 1\n@@ -0,0 +1 @@\n+Be fair."}}
    assert runner.invoke(args=["rules", "nope"]).exit_code == 1
