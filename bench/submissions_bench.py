"""Own-submissions benchmark: one team with 10 and with 1,000 scored submissions.

Times ``GET /api/v1/submissions`` (the first page, 50 newest, and a page deep in the
list) and the team's submissions page through the app's test client on a throwaway
SQLite instance. The goal (issue 10): a team with 1,000 submissions lists in <= 50 ms;
the 10-submission team is the same-process baseline, so the ratio shows the cost does
not grow with the team's history.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from challenge import create_app
from challenge.extensions import db
from challenge.migrate import upgrade
from challenge.models import Blob, Challenge, Membership, Phase, Score, Submission, Team, Track, User, utcnow
from challenge.queue import stop_embedded_redis
from challenge.tokens import create_token

REPEAT = 30
TARGET_MS = 50.0


def _team(challenge: Challenge, phase: Phase, name: str, n: int) -> tuple[str, int, str]:
    user = User(email=f"{name}@bench.example.org", name=name)
    user.set_password("password-123")
    team = Team(challenge=challenge, name=name, invite_code=f"code-{name}")
    db.session.add(team)
    db.session.flush()
    team.memberships.append(Membership(user=user, challenge_id=challenge.id, is_captain=True))
    now = utcnow()
    for i in range(n):
        sub = Submission(phase=phase, team=team, user=user, method=f"method {i}", filename="p.txt",
                         stored_path=f"bench/{name}/{i}.txt", sha256="0" * 64, size=1,
                         quota_period="total", quota_slot=i + 1, status="scored",
                         created_at=now - timedelta(minutes=n - i))
        sub.score = Score(error=0.2, error_at_k=[0.4, 0.3, 0.25, 0.22, 0.2], ci_low=0.19,
                          ci_high=0.21, images=50_000)
        db.session.add(sub)
    db.session.commit()
    middle = db.session.scalars(select(Submission.id).where(Submission.team_id == team.id)
                                .order_by(Submission.id)).all()[n // 2]
    return create_token(user), team.id, str(middle)


def _median_ms(client, url: str, headers: dict[str, str] | None = None) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = client.get(url, headers=headers or {})
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="submissions-bench-") as folder:
        instance = Path(folder) / "instance"
        app = create_app({"DATABASE_URL": f"sqlite:///{folder}/bench.sqlite", "REDIS_URL": "",
                          "CHALLENGE_INSTANCE": str(instance), "SECRET_KEY": "bench",
                          "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False})
        try:
            with app.app_context():
                upgrade(app)
                now = utcnow()
                blob = Blob(sha256="1" * 64, filename="classes.txt", size=10, data=b"n00000001\n")
                challenge = Challenge(slug="subs2012", year=2012, title="Subs", classes_blob=blob)
                track = Track(slug="cls", title="Classification", task="classification", guesses=5)
                phase = Phase(slug="test", title="Test", images=50_000, leaderboard="public",
                              opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=30),
                              labels_blob=blob)
                track.phases.append(phase)
                challenge.tracks.append(track)
                db.session.add(challenge)
                small = _team(challenge, phase, "small", 10)
                big = _team(challenge, phase, "big", 1000)
            client = app.test_client()
            print("own submissions bench: one team's list (SQLite, in-process, median of "
                  f"{REPEAT}; goal <= {TARGET_MS:.0f} ms at 1,000)")
            results = {}
            for label, (token, _team_id, middle) in (("10 submissions", small), ("1,000 submissions", big)):
                auth = {"Authorization": f"Bearer {token}"}
                first = _median_ms(client, "/api/v1/submissions", auth)
                deep = _median_ms(client, f"/api/v1/submissions?before={middle}", auth)
                results[label] = _median_ms(client, "/api/v1/submissions?limit=10", auth)
                print(f"  {label:18s} API first page (50) {first:6.1f} ms, a page in the middle "
                      f"{deep:6.1f} ms, 10 newest {results[label]:6.1f} ms")
            with client:
                client.post("/login", data={"email": "big@bench.example.org", "password": "password-123"})
                page = _median_ms(client, f"/teams/{big[1]}/submissions")
                first_page = _median_ms(client, "/api/v1/submissions", {"Authorization": f"Bearer {big[0]}"})
            ratio = results["1,000 submissions"] / results["10 submissions"]
            verdict = "OK" if max(first_page, page) <= TARGET_MS else "SLOW"
            print(f"  1,000 submissions  team page (50) {page:6.1f} ms")
            print(f"  10 newest at 1,000 / at 10 submissions: {ratio:.2f}x (same page size); "
                  f"API first page {first_page:.1f} ms: {verdict}")
        finally:
            stop_embedded_redis(instance)


if __name__ == "__main__":
    main()
