"""A team's own submissions come a page at a time (API, web page, upload form, CLI): newest
first, keyset pages that neither skip nor repeat a row when new uploads arrive between
pages, and a clear 400 for a bad ``before`` or ``limit``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from jsonschema import validate
from submit_helpers import team_with_token
from test_client import run, server  # noqa: F401 (the live server fixture)

from challenge.api.openapi import DOCUMENT
from challenge.models import Score, Submission, utcnow


def _add_submissions(db: Any, t: dict[str, Any], n: int) -> list[int]:
    """``n`` scored submissions of the team, made directly (the upload path has its own tests)."""
    now = utcnow()
    rows = []
    for i in range(n):
        sub = Submission(phase=t["phase"], team=t["team"], user=t["user"], method=f"m{i}",
                         filename="p.txt", stored_path=f"x/{i}.txt", sha256="0" * 64, size=1,
                         quota_period="total", quota_slot=i + 1, status="scored",
                         created_at=now - timedelta(seconds=n - i))
        sub.score = Score(error=0.5, error_at_k=[0.5] * 5, ci_low=0.4, ci_high=0.6, images=20)
        db.add(sub)
        rows.append(sub)
    db.commit()
    return [s.id for s in rows]


def _list(client: Any, token: str, query: str = "") -> Any:
    return client.get(f"/api/v1/submissions{query}", headers={"Authorization": f"Bearer {token}"})


def test_api_pages_walk_every_submission_once_newest_first(client, db, make_user, make_challenge,
                                                           make_team) -> None:
    t = team_with_token(make_user, make_challenge, make_team)
    ids = _add_submissions(db, t, 120)
    schema = {"$ref": "#/components/schemas/SubmissionList", "components": DOCUMENT["components"]}

    first = _list(client, t["token"]).get_json()
    validate(first, schema)
    assert [s["id"] for s in first["submissions"]] == sorted(ids, reverse=True)[:50]
    assert first["next_before"] == ids[-50]
    assert first["next"] == f"/api/v1/submissions?before={ids[-50]}"

    # A new upload between pages lands on the first page, not in the middle of the walk.
    newer = _add_submissions(db, t, 1)
    seen = [s["id"] for s in first["submissions"]]
    following = first["next"]
    while following:
        page = client.get(following, headers={"Authorization": f"Bearer {t['token']}"}).get_json()
        validate(page, schema)
        seen += [s["id"] for s in page["submissions"]]
        following = page["next"]
    assert seen == sorted(ids, reverse=True), "pages skipped or repeated a submission"
    assert newer[0] not in seen
    assert page["next_before"] is None

    small = _list(client, t["token"], "?limit=7&challenge=tiny2012&track=cls").get_json()
    assert len(small["submissions"]) == 7
    assert small["next"] == ("/api/v1/submissions?challenge=tiny2012&track=cls&limit=7"
                             f"&before={small['next_before']}")
    assert _list(client, t["token"], "?limit=200").get_json()["next_before"] is None  # 121 in all


def test_api_refuses_a_bad_page_with_a_reason(client, db, make_user, make_challenge, make_team) -> None:
    t = team_with_token(make_user, make_challenge, make_team)
    for query, named in (("?limit=0", "limit"), ("?limit=201", "limit"), ("?limit=ten", "limit"),
                         ("?before=-3", "before"), ("?before=1e9", "before")):
        response = _list(client, t["token"], query)
        assert response.status_code == 400, query
        assert response.get_json()["error"].startswith(f"{named} must be a whole number from 1 to"), query


def test_the_team_page_and_the_upload_form_are_paged(client, db, make_user, make_challenge,
                                                     make_team) -> None:
    t = team_with_token(make_user, make_challenge, make_team)
    ids = _add_submissions(db, t, 60)
    client.post("/login", data={"email": t["user"].email, "password": "password123"})

    team_page = client.get(f"/teams/{t['team'].id}/submissions").get_data(as_text=True)
    assert team_page.count('href="/submissions/') == 50
    assert f'href="/submissions/{ids[-1]}"' in team_page and f'href="/submissions/{ids[9]}"' not in team_page
    assert f'rel="next" href="/teams/{t["team"].id}/submissions?before={ids[10]}"' in team_page
    older = client.get(f"/teams/{t['team'].id}/submissions?before={ids[10]}").get_data(as_text=True)
    assert older.count('href="/submissions/') == 10 and 'rel="next"' not in older
    assert client.get(f"/teams/{t['team'].id}/submissions?before=abc").status_code == 404

    track_page = client.get("/c/tiny2012/cls").get_data(as_text=True)
    form_part = track_page[track_page.index("Your team's submissions"):]
    assert form_part.count('href="/submissions/') == 20
    assert f'href="/teams/{t["team"].id}/submissions">All your team' in form_part


def test_cli_lists_a_page_and_says_how_to_get_the_next(app, db, redis, tmp_path, server,  # noqa: F811
                                                       make_user, make_challenge, make_team) -> None:
    t = team_with_token(make_user, make_challenge, make_team)
    ids = _add_submissions(db, t, 5)
    listing = run(app, tmp_path, "submissions", "--limit", "2", url=server, token=t["token"])
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert [line.split()[0] for line in lines[2:4]] == [str(ids[4]), str(ids[3])]
    assert lines[-1] == f"Older submissions: challenge submissions --limit 2 --before {ids[3]}"
    last = run(app, tmp_path, "submissions", "--before", str(ids[1]), url=server, token=t["token"])
    assert [line.split()[0] for line in last.stdout.splitlines()[2:]] == [str(ids[0])]
