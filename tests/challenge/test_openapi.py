"""The OpenAPI document is true: every documented operation and response is called for
real and its body validated against the documented schema, and every /api/v1 route
the app has is documented."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import select
from submit_helpers import drain, team_with_token

from challenge.api.openapi import DOCUMENT
from challenge.models import Challenge, Phase, Track, User
from challenge.submissions import service
from challenge.tokens import create_token
from tests.conftest import perfect_predictions

PREFIX = "/api/v1"
METHODS = {"get", "post", "put", "patch", "delete"}

formats = FormatChecker()


@formats.checks("date-time", raises=ValueError)
def _aware_iso_time(value: object) -> bool:
    # jsonschema checks date-time only with an optional extra installed; the API
    # promises ISO 8601 UTC-aware stamps, so check exactly that.
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


def validator(schema: dict[str, Any]) -> Draft202012Validator:
    # The document is the root resource, so '#/components/schemas/...' refs resolve.
    return Draft202012Validator({**schema, "components": DOCUMENT["components"]}, format_checker=formats)


def documented_operations() -> set[tuple[str, str]]:
    return {(path, method) for path, item in DOCUMENT["paths"].items() for method in item
            if method in METHODS}


def documented_responses() -> set[tuple[str, str, int]]:
    return {(path, method, int(code)) for path, item in DOCUMENT["paths"].items()
            for method, op in item.items() if method in METHODS for code in op["responses"]}


def test_the_document_is_served_and_well_formed(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc = response.get_json()
    assert doc == DOCUMENT
    assert doc["openapi"].startswith("3.1.")
    for schema in doc["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the problem
    text = str(doc)
    for ref in re.findall(r"#/components/schemas/(\w+)", text):
        assert ref in doc["components"]["schemas"], f"dangling $ref to {ref}"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["operationId"] and op["responses"], (path, method)
            names = set(re.findall(r"{(\w+)}", path))
            assert names == {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}, path


def _template(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule)[len(PREFIX):]


def test_every_api_route_is_documented(app):
    routes = {(_template(rule.rule), method.lower()) for rule in app.url_map.iter_rules()
              if rule.rule.startswith(PREFIX + "/")
              for method in rule.methods or () if method.lower() in METHODS}
    assert routes, "no /api/v1 routes found"
    assert routes - documented_operations() == set(), "routes missing from the OpenAPI document"
    assert documented_operations() - routes == set(), "documented operations the app does not have"


class Recorder:
    """Calls the API, validates every body against the documented response, and
    remembers which (path, method, status) combinations were exercised."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.seen: set[tuple[str, str, int]] = set()

    def __call__(self, method: str, template: str, status: int, *, token: str | None = None,
                 path_params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        url = PREFIX + template.format(**(path_params or {}))
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        headers.update(kwargs.pop("headers", {}))
        response = self.client.open(url, method=method.upper(), headers=headers, **kwargs)
        self.last = response
        body = response.get_json(silent=True)
        assert response.status_code == status, (url, response.status_code, body)
        operation = DOCUMENT["paths"][template][method]
        documented = operation["responses"].get(str(status))
        assert documented is not None, f"{method.upper()} {template} answered {status}, undocumented"
        if "application/octet-stream" in documented.get("content", {}):  # a file download
            assert response.mimetype == "application/octet-stream"
            self.seen.add((template, method, status))
            return response.data
        if status == 304:  # Not Modified has no body to validate
            assert response.data == b"" and "content" not in documented
            self.seen.add((template, method, status))
            return None
        assert response.mimetype == "application/json"
        schema = documented["content"]["application/json"]["schema"]
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator(schema).iter_errors(body)]
        assert errors == [], (method, template, status, errors)
        self.seen.add((template, method, status))
        return body


def upload(call: Recorder, token: str | None, data: bytes, status: int, slug: str = "tiny2012",
           track: str = "loc", **fields: str) -> Any:
    return call("post", "/challenges/{slug}/tracks/{track_slug}/submissions", status, token=token,
                path_params={"slug": slug, "track_slug": track},
                data={"file": (BytesIO(data), "predictions.txt"), **fields},
                content_type="multipart/form-data")


def test_every_documented_response_matches_its_schema(app, client, db, redis, make_user,
                                                      make_challenge, make_team):
    t = team_with_token(make_user, make_challenge, make_team, task="localization", track_slug="loc",
                        quota=(2, "day"))
    token, organizer = t["token"], create_token(make_user(organizer=True))
    loose = create_token(make_user())
    now = datetime.now(UTC)
    closed = make_challenge("old2011", year=2011, opens=now - timedelta(days=60),
                            closes=now - timedelta(days=30))
    make_team(closed, t["user"])
    hidden = make_challenge("hid2013", year=2013, leaderboard="hidden")
    make_team(hidden, t["user"])
    call = Recorder(client)
    perfect = perfect_predictions("localization")

    call("get", "/openapi.json", 200)

    listing = call("get", "/challenges", 200)
    assert [c["slug"] for c in listing["challenges"]] == ["hid2013", "tiny2012", "old2011"]
    call("get", "/challenges", 401, token="not-a-token")
    detail = call("get", "/challenges/{slug}", 200, path_params={"slug": "tiny2012"})
    assert detail["tracks"][0]["task"] == "localization"
    call("get", "/challenges/{slug}", 404, path_params={"slug": "nope"})
    call("get", "/challenges/{slug}", 401, token="bad", path_params={"slug": "tiny2012"})

    # Uploads: accepted, and every refusal the document lists.
    created = upload(call, token, perfect, 202, method="Perfect", description="all right")
    bad = upload(call, token, b"1 10 10 50 50\n" * 2 + b"x 1 1 2 2\n" + b"1 10 10 50 50\n" * 17, 400)
    assert bad["line"] == 3 and "line 3" in bad["error"]
    assert upload(call, token, b"", 400)["line"] is None
    upload(call, None, perfect, 401)
    upload(call, loose, perfect, 403)
    upload(call, token, perfect, 404, track="nope")
    closed_refusal = upload(call, token, perfect_predictions("classification"), 409, slug="old2011",
                            track="cls", phase="test")
    assert "closed_at" in closed_refusal
    app.config["MAX_CONTENT_LENGTH"] = 100
    upload(call, token, perfect, 413)
    app.config["MAX_CONTENT_LENGTH"] = 16 * 1024 * 1024
    upload(call, token, perfect, 202)
    quota = upload(call, token, perfect, 429)
    assert isinstance(quota["retry_after"], int) and quota["retry_after"] > 0
    hidden_id = upload(call, token, perfect_predictions("classification"), 202, slug="hid2013",
                       track="cls")["id"]
    # A split phase: the team sees its public-image numbers only, as subset_scores.
    make_team(make_challenge("split2014", year=2014), db.scalars(select(User).where(
        User.email == t["user"].email)).one())
    split_phase = db.scalars(select(Phase).join(Track).join(Challenge)
                             .where(Challenge.slug == "split2014")).one()
    split_phase.public_fraction = 0.5
    db.commit()
    split_id = upload(call, token, perfect_predictions("classification"), 202, slug="split2014",
                      track="cls")["id"]

    queued = call("get", "/submissions/{submission_id}", 200, token=token,
                  path_params={"submission_id": created["id"]})
    assert queued["status"] == "queued" and "scores" not in queued
    assert drain(app)

    sid = {"submission_id": created["id"]}
    scored = call("get", "/submissions/{submission_id}", 200, token=token, path_params=sid)
    assert scored["status"] == "scored" and scored["scores"]["cls_error"] == 0.0
    status_only = call("get", "/submissions/{submission_id}", 200, token=token,
                       path_params={"submission_id": hidden_id})
    assert status_only["status"] == "scored" and "scores" not in status_only
    call("get", "/submissions/{submission_id}", 200, token=organizer,
         path_params={"submission_id": hidden_id})
    split = call("get", "/submissions/{submission_id}", 200, token=token,
                 path_params={"submission_id": split_id})
    assert "scores" not in split and [v["subset"] for v in split["subset_scores"]] == ["public"]
    assert split["subset_scores"][0]["error"] == 0.0
    every = call("get", "/submissions/{submission_id}", 200, token=organizer,
                 path_params={"submission_id": split_id})
    assert "scores" in every and [v["subset"] for v in every["subset_scores"]] == ["public", "private"]
    call("get", "/submissions/{submission_id}", 404, token=loose, path_params=sid)
    call("get", "/submissions/{submission_id}", 401, path_params=sid)
    assert call("get", "/submissions/{submission_id}/file", 200, token=token, path_params=sid) == perfect
    call("get", "/submissions/{submission_id}/file", 404, token=loose, path_params=sid)
    call("get", "/submissions/{submission_id}/file", 401, path_params=sid)
    mine = call("get", "/submissions", 200, token=token, query_string={"challenge": "tiny2012"})
    assert len(mine["submissions"]) == 2 and mine["next_before"] is None
    paged = call("get", "/submissions", 200, token=token, query_string={"limit": "1"})
    assert len(paged["submissions"]) == 1 and paged["next"].endswith(f"before={paged['next_before']}")
    assert "limit must be" in call("get", "/submissions", 400, token=token,
                                   query_string={"limit": "0"})["error"]
    call("get", "/submissions", 401)

    # Quota: both uploads of the day used; closed phases have no next slot.
    quota_path = "/challenges/{slug}/tracks/{track_slug}/quota"
    used = call("get", quota_path, 200, token=token, path_params={"slug": "tiny2012", "track_slug": "loc"})
    assert (used["limit"], used["used"], used["remaining"], used["period"]) == (2, 2, 0, "day")
    assert used["next_slot_at"] == used["resets_at"]
    old = call("get", quota_path, 200, token=token, path_params={"slug": "old2011", "track_slug": "cls"},
               query_string={"phase": "test"})
    assert old["remaining"] == old["limit"] and old["next_slot_at"] is None
    call("get", quota_path, 409, token=token, path_params={"slug": "old2011", "track_slug": "cls"})
    call("get", quota_path, 404, token=token, path_params={"slug": "tiny2012", "track_slug": "nope"})
    call("get", quota_path, 403, token=loose, path_params={"slug": "tiny2012", "track_slug": "loc"})
    call("get", quota_path, 401, path_params={"slug": "tiny2012", "track_slug": "loc"})

    # Editing metadata: fields left out keep their values; bad values and strangers are refused.
    edited = call("patch", "/submissions/{submission_id}", 200, token=token, path_params=sid,
                  json={"link": "https://example.org/paper", "extra_data": True})
    assert (edited["method"], edited["link"], edited["extra_data"]) == (
        "Perfect", "https://example.org/paper", True)
    bad_link = call("patch", "/submissions/{submission_id}", 400, token=token, path_params=sid,
                    json={"link": "javascript:alert(1)"})
    assert "http" in bad_link["error"]
    call("patch", "/submissions/{submission_id}", 400, token=token, path_params=sid, json={"sha256": "x"})
    call("patch", "/submissions/{submission_id}", 401, path_params=sid, json={"method": "x"})
    call("patch", "/submissions/{submission_id}", 404, token=loose, path_params=sid, json={"method": "x"})
    call("patch", "/submissions/{submission_id}", 403, token=organizer, path_params=sid,
         json={"method": "x"})
    # An upload made while the old phase was open can no longer be edited.
    old_phase = db.scalars(select(Phase).join(Track).join(Challenge)
                           .where(Challenge.slug == "old2011")).one()
    user = db.scalars(select(User).where(User.email == t["user"].email)).one()
    late = service.submit(user, old_phase, "p.txt", perfect_predictions("classification"),
                          now=old_phase.opens_at + timedelta(days=1))
    refused = call("patch", "/submissions/{submission_id}", 409, token=token,
                   path_params={"submission_id": late.id}, json={"method": "late"})
    assert "closed" in refused["error"]

    board = "/challenges/{slug}/tracks/{track_slug}/leaderboard"
    loc = {"slug": "tiny2012", "track_slug": "loc"}
    public = call("get", board, 200, path_params=loc, query_string={"phase": "test"})
    assert public["visible"] and public["entries"][0]["team"] == t["team"].name
    assert (public["page"], public["pages"], public["total"]) == (1, 1, len(public["entries"]))
    etag = call.last.headers["ETag"]
    call("get", board, 304, path_params=loc, query_string={"phase": "test"},
         headers={"If-None-Match": etag})
    assert "page" in call("get", board, 400, path_params=loc, query_string={"page": "0"})["error"]
    assert "1 page" in call("get", board, 400, path_params=loc, query_string={"page": "2"})["error"]
    assert "cls_error" in public["entries"][0]
    invisible = call("get", board, 200, path_params={"slug": "hid2013", "track_slug": "cls"})
    assert invisible["visible"] is False and invisible["entries"] == []
    call("get", board, 200, token=organizer, path_params={"slug": "hid2013", "track_slug": "cls"})
    call("get", board, 404, path_params={"slug": "tiny2012", "track_slug": "nope"})
    call("get", board, 401, token="bad", path_params=loc)
    bad_board = call("get", board, 400, path_params=loc, query_string={"board": "private"})
    assert "public" in bad_board["error"]

    # Final picks for the private ranking: mark, unmark, and the refusals.
    final = "/submissions/{submission_id}/final"
    marked = call("put", final, 200, token=token, path_params=sid)
    assert marked["final"] is True and marked["marked"] == [created["id"]] and marked["limit"] == 2
    assert call("delete", final, 200, token=token, path_params=sid)["marked"] == []
    late_id = {"submission_id": late.id}
    for method in ("put", "delete"):
        call(method, final, 401, path_params=sid)
        call(method, final, 404, token=loose, path_params=sid)
        call(method, final, 403, token=organizer, path_params=sid)
        assert "closed" in call(method, final, 409, token=token, path_params=late_id)["error"]

    missing = documented_responses() - call.seen
    assert missing == set(), f"documented responses never exercised: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(DOCUMENT["components"]["schemas"]))
def test_response_schemas_are_closed(name):
    # A field added to a response must be added here too, or the validation above fails.
    schema = DOCUMENT["components"]["schemas"][name]
    if name != "SubmissionUpload":
        assert schema.get("additionalProperties") is False
