"""Helpers shared by the submission tests: a team with a token, uploads, a burst worker."""

from __future__ import annotations

import signal
from io import BytesIO
from typing import Any

from rq import SimpleWorker

from challenge.queue import get_redis, worker_queues
from challenge.tokens import create_token


def team_with_token(make_user: Any, make_challenge: Any, make_team: Any, **challenge_kwargs: Any) -> dict:
    user = make_user()
    challenge = make_challenge(**challenge_kwargs)
    team = make_team(challenge, user)
    return {"user": user, "challenge": challenge, "team": team, "token": create_token(user),
            "track": challenge.tracks[0], "phase": challenge.tracks[0].phases[0]}


def api_upload(client: Any, token: str | None, data: bytes, slug: str = "tiny2012",
               track: str = "cls", **fields: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post(
        f"/api/v1/challenges/{slug}/tracks/{track}/submissions",
        data={"file": (BytesIO(data), "predictions.txt"), **fields},
        headers=headers, content_type="multipart/form-data",
    )


def drain(app: Any) -> bool:
    """Run every queued job in this process, as a real RQ worker would."""
    # RQ installs its own SIGINT/SIGTERM handlers and leaves them behind; put
    # pytest's back so a later signal is not turned into rq's StopRequested.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return SimpleWorker(worker_queues(app), connection=get_redis(app)).work(burst=True)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
