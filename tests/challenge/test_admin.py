"""The organizers' console: organizers only, and the audit log it shows."""

from __future__ import annotations

from challenge import audit


def login(client, user, password="password123"):
    assert client.post("/login", data={"email": user.email, "password": password}).status_code == 302


def test_console_is_invisible_to_everyone_but_organizers(client, db, make_user):
    assert client.get("/admin/").status_code == 404
    login(client, make_user("someone@example.org"))
    assert client.get("/admin/").status_code == 404
    assert client.get("/admin/audit").status_code == 404
    assert "Console" not in client.get("/").get_data(as_text=True)


def test_audit_log_lists_recorded_actions_newest_first(client, db, make_user, make_challenge):
    organizer = make_user("boss@example.org", organizer=True)
    challenge = make_challenge()
    audit.record(organizer, "phase.update", "phase:1", challenge_id=challenge.id,
                 before={"quota_count": 5}, after={"quota_count": 2}, note="first")
    audit.record(None, "challenge.load", f"challenge:{challenge.id}", challenge_id=challenge.id,
                 note="second")
    db.commit()
    login(client, organizer)
    assert "Console" in client.get("/").get_data(as_text=True)
    page = client.get("/admin/audit").get_data(as_text=True)
    assert page.index("<td>second</td>") < page.index("<td>first</td>")
    assert "boss@example.org" in page and "command line" in page
    assert "&#34;quota_count&#34;: 5" in page or '"quota_count": 5' in page
    assert "tiny2012" in client.get("/admin/").get_data(as_text=True)
