"""/metrics is the fleet's, not one process's: jobs counted in work horses (forked, then
gone) and uploads counted in either gunicorn worker add up in one scrape of the web; the
console's "Workers and queues" shows each live ``challenge worker`` by the name RQ gave it.

Real processes: gunicorn (2 processes), forking workers, the session's database and Redis.
"""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from reliability_harness import make_teams, make_user, submission_states, tiny_bundle, wait_until
from rq import Worker

from tests.conftest import perfect_predictions

pytestmark = pytest.mark.slow
SLUG = "rel2012"
UPLOADS = 12


def _scrape(stack) -> dict[tuple[str, tuple], float]:
    status, headers, body = stack.request("GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain"), (status, body[:200])
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode()) for s in family.samples}


def test_metrics_add_up_across_processes_and_the_console_lists_the_workers(make_stack, tmp_path) -> None:
    stack = make_stack(env={"RATELIMIT_API_UPLOAD": "1000 per minute"})
    stack.cli("load", str(tiny_bundle(tmp_path / "bundle", SLUG, quota="100/day")))
    teams = make_teams(stack, SLUG, 3)
    for i in range(UPLOADS):
        status, _, body = stack.upload(teams[i % 3].members[0].token, SLUG, "cls",
                                       perfect_predictions("classification"))
        assert status == 202, body
    wait_until(lambda: sum(s.status == "scored" for s in submission_states(stack).values()) == UPLOADS,
               timeout=120, what="every upload scored")

    # Each scored upload also queues its e-mail (the mail queue, taken after scoring):
    # the workers are idle once those are sent too.
    # Idle with nothing waiting on any queue: between two e-mail jobs a worker is idle too.
    idle = ("challenge_workers", (("state", "idle"),))

    def settled() -> bool:
        got = _scrape(stack)
        waiting = sum(v for (name, labels), v in got.items()
                      if name == "challenge_queue_jobs" and dict(labels)["state"] in ("queued", "started"))
        return got.get(idle) == stack.n_workers and waiting == 0

    wait_until(settled, timeout=60, what="the workers idle, every queue empty, after sending the e-mails")
    # Each scrape may land on either gunicorn process: both must say the same.
    for _ in range(4):
        got = _scrape(stack)
        assert got[("challenge_uploads_total", (("outcome", "accepted"),))] == UPLOADS
        assert got[("challenge_jobs_started_total", (("queue", "scoring"),))] == UPLOADS
        scored = ("challenge_jobs_finished_total", (("outcome", "scored"), ("queue", "scoring")))
        assert got[scored] == UPLOADS
        assert got[("challenge_scoring_seconds_count", (("queue", "scoring"),))] == UPLOADS
        assert got[("challenge_submissions", (("status", "scored"),))] == UPLOADS
        assert got[("challenge_queue_jobs", (("queue", "scoring"), ("state", "queued")))] == 0
        assert got[("challenge_workers", (("state", "idle"),))] == stack.n_workers

    names = sorted(w.name for w in Worker.all(connection=stack.redis_client()))
    assert len(names) == stack.n_workers
    make_user(stack, "ops@example.org", organizer=True)
    browser = stack.browser()
    assert browser.login("ops@example.org", "password-123") == 302
    status, _, page = browser.open("GET", "/admin/workers")
    assert status == 200
    for name in names:
        assert f"<code>{name}</code>" in page
    assert page.count("<td>idle</td>") == stack.n_workers
    assert "No failed jobs." in page
