"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json.

Written by hand next to the routes it describes and kept true by
tests/challenge/test_openapi.py, which calls every documented operation for
real, validates each response body against the schema here, and fails when a
route exists that this document lacks. Response objects are closed
(``additionalProperties: false``) so a new field must be documented too.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

import scorer.tasks
from challenge.api.views import bp
from challenge.models.challenges import QUOTA_PERIODS, VISIBILITIES
from challenge.models.submissions import STATUSES

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _closed(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": properties,
            "required": [name for name in properties if name not in optional]}


STRING = {"type": "string"}
INTEGER = {"type": "integer"}
# An error rate in [0, 1]; on hierarchical tracks a mean cost, which can exceed 1.
RATE = {"type": "number", "minimum": 0}
NULLABLE_RATE = {"type": ["number", "null"], "minimum": 0}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {**STRING, "description": "What was wrong, for a person to read."},
            "line": {"type": ["integer", "null"], "minimum": 1,
                     "description": "Bad files: the 1-based line of the first problem (null if the "
                                    "file as a whole is wrong, e.g. empty or too short)."},
            "retry_after": {"type": ["integer", "null"], "minimum": 0,
                            "description": "429: seconds until the next quota period starts "
                                           "(null for a total quota)."},
            "opens_at": TIME,
            "closed_at": TIME,
            "rules_url": {**STRING, "description": "403: the challenge's rules page, where the uploader "
                                                   "reads and accepts the current rules before uploading."},
            "rules_version": {**INTEGER, "description": "403: the version of the rules to accept."},
        },
        "additionalProperties": False,
    },
    "Quota": _closed({"count": {**INTEGER, "minimum": 0}, "period": {"enum": list(QUOTA_PERIODS)}}),
    "Phase": _closed({
        "slug": STRING, "title": STRING, "opens_at": TIME, "closes_at": TIME,
        "status": {"enum": ["upcoming", "open", "closed"]},
        "images": {**INTEGER, "minimum": 0, "description": "Number of images in the phase's test set."},
        "quota": _ref("Quota"),
        "leaderboard": {"enum": list(VISIBILITIES),
                        "description": "public; after-close (scores public once the phase closes); "
                                       "hidden (organizers only)."},
    }),
    "Track": _closed({
        "slug": STRING, "title": STRING,
        "task": {"enum": [], "description": "The task (scorer.tasks registry, built-in or installed "
                                             "by the operator); filled from the registry when served."},
        "guesses": {**INTEGER, "minimum": 1, "description": "Labels per image that count (top-k)."},
        "headline": {**STRING, "description": "What the boards' `error` holds: e.g. top-k error, "
                                              "mean hierarchical cost, mean AP."},
        "direction": {"enum": ["lower", "higher"],
                      "description": "Which way the headline is better; boards rank best first."},
        "columns": {"type": "array", "items": _ref("Column"),
                    "description": "The numbers a board row shows, headline first."},
        "phases": {"type": "array", "items": _ref("Phase")},
    }),
    "Column": _closed({
        "key": {**STRING, "description": "The entry's key holding it (`error` is the headline)."},
        "label": {**STRING, "description": "Header; `{k}` stands for top-k."},
        "source": {"enum": ["error", "top1", "cls_error"],
                   "description": "Which number: the headline, error_at_k[0], or cls_error."},
        "format": {**STRING, "description": "printf-style format of the number."},
    }),
    "ChallengeSummary": _closed({
        "slug": STRING, "year": INTEGER, "title": STRING,
        "tracks": {"type": "array", "items": STRING, "description": "Track slugs."},
    }),
    "Challenge": _closed({
        "slug": STRING, "year": INTEGER, "title": STRING, "description": STRING,
        "tracks": {"type": "array", "items": _ref("Track")},
    }),
    "ChallengeList": _closed({"challenges": {"type": "array", "items": _ref("ChallengeSummary")}}),
    "LeaderboardEntry": _closed({
        "rank": {"type": ["integer", "null"], "minimum": 1,
                 "description": "Ties share a rank (1, 2, 2, 4); null for a reference entry."},
        "team": STRING,
        "submission": {**INTEGER, "description": "The team's best scored submission."},
        "method": STRING,
        "submitted_at": TIME,
        "error": {**RATE, "description": "The headline number of the track's task (see the "
                                         "track's `headline` and `direction`): error at the track's "
                                         "number of guesses, a mean cost, or mean AP."},
        "error_at_k": {"type": "array", "items": RATE,
                       "description": "Error with 1..k guesses."},
        "ci95": {"type": "array", "items": RATE, "minItems": 2, "maxItems": 2,
                 "description": "Bootstrap 95% confidence interval of the error."},
        "cls_error": {**RATE, "description": "Localization tracks only: the classification error."},
        "tie_group": {**INTEGER, "minimum": 0,
                      "description": "Consecutive entries not significantly different share a group "
                                     "(0 for a reference entry)."},
        "reference": {"type": "boolean",
                      "description": "An organizers' reference entry (e.g. a baseline): shown by its "
                                     "error, never ranked, outside the tie groups."},
        "vs_above": {"oneOf": [{"type": "null"}, _closed({
            "difference": {"type": "number", "description": "This entry's error minus the above's."},
            "ci95": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2,
                     "description": "Paired bootstrap 95% interval of the difference."},
            "significant": {"type": "boolean", "description": "False if the interval contains 0."},
        })], "description": "Paired comparison with the entry above (null for the first)."},
        "categories_won": {"type": ["integer", "null"], "minimum": 0,
                           "description": "Detection: classes where this entry has the best AP "
                                          "among the board's ranked entries."},
        "outside_data": {"type": "boolean",
                         "description": "The team's answer to 'did you use training data beyond what "
                                        "was provided?' for this submission."},
        "real_top1_error": {**NULLABLE_RATE,
                            "description": "Phases with ReaL labels only: the top-1 error against the "
                                           "Reassessed Labels (null if scored before the phase had them)."},
        "real_top5_error": {**NULLABLE_RATE,
                            "description": "Phases with ReaL labels and 5 guesses: the ReaL top-5 error."},
    }, optional=("cls_error", "categories_won", "real_top1_error", "real_top5_error")),
    "Leaderboard": _closed({
        "phase": _ref("Phase"),
        "board": {"enum": ["public", "private"],
                  "description": "Which board: a split phase ranks its public board on a fixed, "
                                 "undisclosed part of the test images and its private board (the "
                                 "final result, shown once published) on the rest."},
        "ranking": {"enum": ["all", "provided", "categories"],
                    "description": "all entries, only those trained on the provided data, or "
                                   "(detection) ranked by categories won."},
        "headline": {**STRING, "description": "What `error` holds on this board."},
        "direction": {"enum": ["lower", "higher"],
                      "description": "Which way `error` is better (entries are best first)."},
        "boards": {"type": "array", "items": {"enum": ["public", "private"]},
                   "description": "The boards this phase has."},
        "rankings": {"type": "array", "items": {"enum": ["all", "provided", "categories"]},
                     "description": "The rankings this phase has."},
        "frozen": {"type": "boolean",
                   "description": "True when the public board is shown as it stood at the phase's "
                                  "freeze (only submissions uploaded before it)."},
        "visible": {"type": "boolean",
                    "description": "False when the phase's rules hide the scores from this caller "
                                   "(entries is then empty)."},
        "page": {**INTEGER, "minimum": 1, "description": "This page's number (?page=, from 1)."},
        "pages": {**INTEGER, "minimum": 1,
                  "description": "How many pages the board has (an empty board has one)."},
        "total": {**INTEGER, "minimum": 0, "description": "Entries on the whole board."},
        "page_size": {**INTEGER, "minimum": 1, "description": "Entries per page (100)."},
        "viewer_entry": {"oneOf": [{"type": "null"}, _ref("PinnedEntry")],
            "description": "The caller's own team's entry when it is not on this page (null "
                           "when it is, or the caller has no entry); ``page`` is its page."},
        "entries": {"type": "array", "items": _ref("LeaderboardEntry"),
                    "description": "This page's entries, best first (at most page_size); the "
                                   "CSV and JSON downloads of the track page hold every entry."},
    }),
    "Scores": _closed({
        "error": RATE,
        "error_at_k": {"type": "array", "items": RATE},
        "ci95": {"type": "array", "items": RATE, "minItems": 2, "maxItems": 2},
        "images": {**INTEGER, "minimum": 0},
        "cls_error": RATE,
        "cls_error_at_k": {"type": "array", "items": RATE},
        "real_error_at_k": {"type": "array", "items": NULLABLE_RATE,
                            "description": "Phases with ReaL labels only: the error with 1..k guesses "
                                           "against the Reassessed Labels."},
        "real_images": {**INTEGER, "minimum": 0,
                        "description": "Images with ReaL labels (the others are left out of it)."},
    }, optional=("cls_error", "cls_error_at_k", "real_error_at_k", "real_images")),
    "Submission": _closed({
        "id": INTEGER,
        "status": {"enum": list(STATUSES)},
        "error": {"type": ["string", "null"], "description": "Why scoring failed (failed only)."},
        "challenge": STRING, "track": STRING, "phase": STRING, "team": STRING,
        "method": STRING, "description": STRING,
        "link": {**STRING, "description": "Paper or code URL (http/https), or empty."},
        "extra_data": {"type": "boolean",
                       "description": "The team's answer to ILSVRC's question: did you use training "
                                      "data beyond what was provided?"},
        "filename": STRING,
        "size": {**INTEGER, "minimum": 0}, "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "attempts": {**INTEGER, "minimum": 0},
        "note": {"type": ["string", "null"],
                 "description": "While scoring is tried again after an interrupted attempt: "
                                "'retrying (attempt 2 of 3)'."},
        "created_at": TIME, "started_at": NULLABLE_TIME, "finished_at": NULLABLE_TIME,
        "scores": {**_ref("Scores"),
                   "description": "Present once scored, when the phase lets this caller see scores "
                                  "(never for team members on hidden phases; on split phases only "
                                  "once the private leaderboard is published)."},
        "subset_scores": {"type": "array", "items": _ref("SubsetScores"),
                          "description": "Split phases: the numbers on the public leaderboard's images "
                                         "(and the private one's, once published) this caller may see."},
    }, optional=("scores", "subset_scores")),
    "SubsetScores": _closed({
        "subset": {"enum": ["public", "private"]},
        "error": NULLABLE_RATE,
        "error_at_k": {"type": "array", "items": NULLABLE_RATE},
        "ci95": {"type": "array", "items": NULLABLE_RATE, "minItems": 2, "maxItems": 2},
        "cls_error": NULLABLE_RATE,
        "cls_error_at_k": {"type": ["array", "null"], "items": NULLABLE_RATE},
    }, optional=("cls_error", "cls_error_at_k")),
    "SubmissionList": _closed({
        "submissions": {"type": "array", "items": _ref("Submission"), "description": "Newest first."},
        "next_before": {"type": ["integer", "null"], "minimum": 1,
                        "description": "Pass as `before` for the next (older) page; null on the last."},
        "next": {"type": ["string", "null"], "description": "The next page's path, or null."},
    }),
    "FinalPicks": _closed({
        "id": {**INTEGER, "description": "The submission."},
        "final": {"type": "boolean", "description": "Is it now one of the team's final picks?"},
        "limit": {**INTEGER, "minimum": 0, "description": "Final picks allowed per team in the phase."},
        "marked": {"type": "array", "items": INTEGER,
                   "description": "The team's submissions now marked final in the phase."},
    }),
    "SubmissionCreated": _closed({"id": INTEGER, "status": {"enum": ["queued"]}}),
    "SubmissionUpload": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "file": {"type": "string", "contentMediaType": "application/octet-stream",
                     "description": "The prediction file (one line per image, as the track's "
                                    "devkit describes)."},
            "phase": {**STRING, "description": "Phase slug; default: the phase open now."},
            "method": {**STRING, "maxLength": 200},
            "description": {**STRING, "maxLength": 2000},
            "link": {**STRING, "maxLength": 500, "description": "Paper or code URL (http or https)."},
            "extra_data": {"enum": ["true", "false", "yes", "no", "1", "0"], "default": "false",
                           "description": "Did you use training data beyond what was provided? "
                                          "Optional here (default false); the web form requires it."},
        },
    },
    "SubmissionPatch": {
        "type": "object", "additionalProperties": False,
        "properties": {
            "method": {**STRING, "maxLength": 200},
            "description": {**STRING, "maxLength": 2000},
            "link": {**STRING, "maxLength": 500, "description": "http(s) URL, or empty to clear."},
            "extra_data": {"type": "boolean"},
        },
    },
    "QuotaStatus": _closed({
        "phase": {**STRING, "description": "Phase slug."},
        "limit": {**INTEGER, "minimum": 0, "description": "Uploads allowed per period."},
        "period": {"enum": list(QUOTA_PERIODS)},
        "period_key": {**STRING, "description": "The current period: 2026-11-23, 2026-W48 or total."},
        "used": {**INTEGER, "minimum": 0, "description": "Accepted uploads in the current period."},
        "remaining": {**INTEGER, "minimum": 0},
        "resets_at": {**NULLABLE_TIME, "description": "When the current period ends (null for total)."},
        "next_slot_at": {**NULLABLE_TIME,
                         "description": "Now if an upload is possible; else when the next slot "
                                        "opens; null if none will before the phase closes."},
        "max_upload_bytes": {**INTEGER, "minimum": 1,
                             "description": "The largest upload the server accepts (larger: 413)."},
    }),
}


def _response(description: str, schema: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(schema)}}}


def _errors(*codes: int) -> dict[str, Any]:
    meanings = {
        400: "Bad request; for a malformed file, `line` says where.",
        401: "Missing or invalid API token.",
        403: "Not on a team for this challenge, or the challenge's current rules not accepted yet "
             "(rules_url says where).",
        404: "No such challenge, track, phase or submission (of yours).",
        409: "No phase open for uploads now, or the named phase is not open.",
        413: "The upload is larger than the server's limit.",
        429: "Quota reached; `retry_after` seconds until the next period (also the Retry-After header).",
    }
    return {str(code): _response(meanings[code], "Error") for code in codes}


def _path_param(name: str, description: str, schema: dict[str, Any] = STRING) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}


SLUG = _path_param("slug", "Challenge slug, e.g. ilsvrc2012.")
TRACK = _path_param("track_slug", "Track slug, e.g. cls or loc.")
BEARER = [{"bearer": []}]
OPTIONAL_BEARER = [{}, {"bearer": []}]

# The caller's own entry beside a page: an entry and the page it is on.
SCHEMAS["PinnedEntry"] = {
    **SCHEMAS["LeaderboardEntry"],
    "properties": {**SCHEMAS["LeaderboardEntry"]["properties"],
                   "page": {**INTEGER, "minimum": 1, "description": "The page the entry is on."}},
    "required": [*SCHEMAS["LeaderboardEntry"]["required"], "page"],
}

PATHS: dict[str, Any] = {
    "/openapi.json": {"get": {
        "operationId": "getOpenapi", "summary": "This document.", "security": [{}],
        "responses": {"200": {"description": "The OpenAPI document.",
                              "content": {JSON: {"schema": {"type": "object"}}}}},
    }},
    "/challenges": {"get": {
        "operationId": "listChallenges", "summary": "All challenges (years), newest first.",
        "security": OPTIONAL_BEARER,
        "responses": {"200": _response("The challenges.", "ChallengeList"), **_errors(401)},
    }},
    "/challenges/{slug}": {"get": {
        "operationId": "getChallenge", "summary": "A challenge with its tracks and phases.",
        "security": OPTIONAL_BEARER, "parameters": [SLUG],
        "responses": {"200": _response("The challenge.", "Challenge"), **_errors(401, 404)},
    }},
    "/challenges/{slug}/tracks/{track_slug}/leaderboard": {"get": {
        "operationId": "getLeaderboard",
        "summary": "A track's leaderboard: the best scored submission per team, as the phase's "
                   "visibility allows this caller.",
        "security": OPTIONAL_BEARER,
        "parameters": [SLUG, TRACK, {"name": "phase", "in": "query", "required": False, "schema": STRING,
                                     "description": "Phase slug; default: the phase open now, else "
                                                    "the one that closed last."},
                       {"name": "board", "in": "query", "required": False,
                        "schema": {"enum": ["public", "private"], "default": "public"},
                        "description": "private: a split phase's private board."},
                       {"name": "ranking", "in": "query", "required": False,
                        "schema": {"enum": ["all", "provided", "categories"], "default": "all"},
                        "description": "provided: only entries trained on the provided data "
                                       "(phases with two rankings); categories: detection's "
                                       "ranking by classes won."},
                       {"name": "page", "in": "query", "required": False,
                        "schema": {"type": "integer", "minimum": 1, "default": 1},
                        "description": "Page of 100 entries; anything but a page the board has "
                                       "is a 400 naming the number of pages."}],
        "responses": {"200": _response("The leaderboard (an ETag comes with it; send it back in "
                                       "If-None-Match for a 304 while the board is unchanged).",
                                       "Leaderboard"),
                      "304": {"description": "Not modified: the board and this caller's entry are "
                                             "as in the ETag sent."},
                      **_errors(400, 401, 404)},
    }},
    "/challenges/{slug}/tracks/{track_slug}/submissions": {"post": {
        "operationId": "createSubmission",
        "summary": "Upload a prediction file. It is checked at once (bad files are refused with "
                   "the line, using no quota), stored, and queued for scoring.",
        "security": BEARER, "parameters": [SLUG, TRACK],
        "requestBody": {"required": True, "content": {"multipart/form-data": {
            "schema": _ref("SubmissionUpload")}}},
        "responses": {"202": _response("Accepted and queued.", "SubmissionCreated"),
                      **_errors(400, 401, 403, 404, 409, 413, 429)},
    }},
    "/challenges/{slug}/tracks/{track_slug}/quota": {"get": {
        "operationId": "getQuota",
        "summary": "The caller's team's remaining uploads in a phase and when the next slot opens.",
        "security": BEARER,
        "parameters": [SLUG, TRACK, {"name": "phase", "in": "query", "required": False, "schema": STRING,
                                     "description": "Phase slug; default: the phase open now."}],
        "responses": {"200": _response("The quota.", "QuotaStatus"), **_errors(401, 403, 404, 409)},
    }},
    "/submissions": {"get": {
        "operationId": "listSubmissions", "summary": "The caller's teams' submissions, newest first.",
        "security": BEARER,
        "parameters": [{"name": "challenge", "in": "query", "required": False, "schema": STRING},
                       {"name": "track", "in": "query", "required": False, "schema": STRING},
                       {"name": "before", "in": "query", "required": False,
                        "schema": {**INTEGER, "minimum": 1},
                        "description": "Only submissions with a smaller id (the previous page's "
                                       "`next_before`)."},
                       {"name": "limit", "in": "query", "required": False,
                        "schema": {**INTEGER, "minimum": 1, "maximum": 200, "default": 50},
                        "description": "Page size."}],
        "responses": {"200": _response("A page of the submissions, newest first.", "SubmissionList"),
                      **_errors(400, 401)},
    }},
    "/submissions/{submission_id}/file": {"get": {
        "operationId": "downloadSubmission",
        "summary": "The submission's file as uploaded (the caller's team's; organizers: any). "
                   "`X-Content-SHA256` carries its checksum.",
        "security": BEARER,
        "parameters": [_path_param("submission_id", "Submission id.", INTEGER)],
        "responses": {"200": {"description": "The file.",
                              "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}},
                      **_errors(401, 404)},
    }},
    "/submissions/{submission_id}": {"get": {
        "operationId": "getSubmission", "summary": "One submission of the caller's team (organizers: any).",
        "security": BEARER,
        "parameters": [_path_param("submission_id", "Submission id.", INTEGER)],
        "responses": {"200": _response("The submission.", "Submission"), **_errors(401, 404)},
    }, "patch": {
        "operationId": "updateSubmission",
        "summary": "Edit a submission's method, description, link or extra_data (the submitting "
                   "team's members, until the phase closes). Fields left out keep their values.",
        "security": BEARER,
        "parameters": [_path_param("submission_id", "Submission id.", INTEGER)],
        "requestBody": {"required": True, "content": {JSON: {"schema": _ref("SubmissionPatch")}}},
        "responses": {"200": _response("The updated submission.", "Submission"),
                      **_errors(400, 401, 403, 404, 409)},
    }},
}

_FINAL_ERRORS = {**_errors(401, 404),
                 "403": _response("Only the submitting team's members choose its final picks.", "Error"),
                 "409": _response("The phase has closed, the submission failed, or (marking) the "
                                  "team's picks are full.", "Error")}
PATHS["/submissions/{submission_id}/final"] = {"put": {
    "operationId": "markFinal",
    "summary": "Mark a submission as one of the team's final picks for the private ranking "
               "(up to the phase's limit, until it closes). A team that marks none is ranked on "
               "its best public ones.",
    "security": BEARER, "parameters": [_path_param("submission_id", "Submission id.", INTEGER)],
    "responses": {"200": _response("The team's picks.", "FinalPicks"), **_FINAL_ERRORS},
}, "delete": {
    "operationId": "unmarkFinal", "summary": "Unmark a final pick (until the phase closes).",
    "security": BEARER, "parameters": [_path_param("submission_id", "Submission id.", INTEGER)],
    "responses": {"200": _response("The team's picks.", "FinalPicks"), **_FINAL_ERRORS},
}}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "ILSVRC-style challenge platform API",
        "version": "1",
        "description": "List challenges, tracks and phases; upload predictions; follow your "
                       "submissions; read leaderboards. Authenticate with `Authorization: Bearer "
                       "<token>` (create tokens on your account page). Errors are JSON `{\"error\": ...}`.",
    },
    "servers": [{"url": "/api/v1"}],
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "An API token from the account page."}},
    },
}


@bp.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    return jsonify(document())


def document() -> dict[str, Any]:
    """The OpenAPI document with the task names of this process's registry (built-in and
    operator-installed tasks)."""
    SCHEMAS["Track"]["properties"]["task"]["enum"] = list(scorer.tasks.names())
    return DOCUMENT
