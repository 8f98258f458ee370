"""Leaderboard benchmark: a track page whose phase has 1,000 teams.

Builds a throwaway instance (SQLite file, embedded Redis, migrated schema) with
1,000 teams' scored submissions on a 50,000-image phase (real Score rows with
packed per-image outcomes), then prints the time to serve the track page:
cold (board computed: query, 999 paired bootstraps, cached) and warm (cached
board, page rendered), plus a page after a new score invalidated the board.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

import scorer
from challenge import create_app
from challenge.extensions import db
from challenge.leaderboards import cache
from challenge.migrate import upgrade
from challenge.models import Blob, Challenge, Phase, Score, Submission, Team, Track
from challenge.queue import stop_embedded_redis

TEAMS = 1000
IMAGES = 50_000
GUESSES = 5
WARM_REPEAT = 20
TARGET_WARM_MS = 100.0


def _blob(name: str, data: bytes) -> Blob:
    return Blob(sha256=hashlib.sha256(data).hexdigest(), filename=name, size=len(data), data=data)


def _build(seed: int = 0) -> Phase:
    rng = np.random.default_rng(seed)
    now = datetime.now(UTC)
    challenge = Challenge(slug="bench2012", year=2012, title="Bench 2012",
                          classes_blob=_blob("classes.txt", b"n00000001\n"))
    track = Track(slug="cls", title="Classification", task="classification", guesses=GUESSES)
    phase = Phase(slug="test", title="Test", images=IMAGES, leaderboard="public",
                  opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=30),
                  labels_blob=_blob("labels.txt", b"1\n"))
    track.phases.append(phase)
    challenge.tracks.append(track)
    db.session.add(challenge)
    # Some images are hard for everyone: outcomes are correlated across teams,
    # as real submissions are, so neighbours are often not significantly different.
    hardness = rng.random(IMAGES)
    for i in range(TEAMS):
        team = Team(challenge=challenge, name=f"Team {i:04d}", invite_code=f"bench{i:05d}")
        rate = 0.15 + 0.30 * i / TEAMS
        wrong = hardness * 0.7 + rng.random(IMAGES) * 0.3 < rate
        outcomes = np.where(wrong, 0, rng.integers(1, GUESSES + 1, IMAGES)).astype(np.uint8)
        error_at_k = scorer.metrics.error_at_each_k(outcomes, GUESSES)
        submission = Submission(
            phase=phase, team=team, method=f"method {i}", filename="p.txt",
            stored_path=f"bench/{i}.txt", sha256="0" * 64, size=1, quota_period="total",
            quota_slot=1, status="scored", created_at=now - timedelta(minutes=i),
        )
        submission.score = Score(
            error=error_at_k[-1], error_at_k=error_at_k, ci_low=error_at_k[-1] - 0.004,
            ci_high=error_at_k[-1] + 0.004, images=IMAGES, outcomes=scorer.pack_outcomes(outcomes),
        )
        db.session.add(submission)
    db.session.commit()
    return phase


def _get_ms(client, url: str) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.status_code
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="leaderboard-bench-") as folder:
        instance = Path(folder) / "instance"
        app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.sqlite", "REDIS_URL": "",
                          "CHALLENGE_INSTANCE": str(instance), "SECRET_KEY": "bench"})
        try:
            with app.app_context():
                upgrade(app)
                started = time.perf_counter()
                phase = _build()
                print(f"leaderboard bench: {TEAMS} teams x {IMAGES:,} images built in "
                      f"{time.perf_counter() - started:.1f} s (SQLite, embedded Redis)")
                phase_id = phase.id
            client = app.test_client()
            url = "/c/bench2012/cls?phase=test"
            cold = _get_ms(client, url)
            warm = [_get_ms(client, url) for _ in range(WARM_REPEAT)]
            sorted_warm = [_get_ms(client, url + "&sort=top1") for _ in range(WARM_REPEAT)]
            size = len(client.get(url).data)
            with app.app_context():
                cache.invalidate(phase_id)  # what the scoring job does after a new score
            after_score = _get_ms(client, url)
            median = statistics.median(warm)
            verdict = "OK" if median < TARGET_WARM_MS else "SLOW"
            print(f"  cold page (board computed, 999 paired bootstraps): {cold:8.1f} ms")
            print(f"  warm page, median of {WARM_REPEAT}:                  {median:8.1f} ms "
                  f"(min {min(warm):.1f}, max {max(warm):.1f}; target < {TARGET_WARM_MS:.0f} ms: {verdict})")
            print(f"  warm page sorted by top-1, median:               "
                  f"{statistics.median(sorted_warm):8.1f} ms")
            print(f"  page after invalidate (as the job does on a score): {after_score:7.1f} ms "
                  "(board recomputed, comparisons reused)")
            print(f"  page size: {size / 1024:.0f} KiB")
        finally:
            stop_embedded_redis(instance)


if __name__ == "__main__":
    main()
