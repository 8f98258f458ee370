"""Leaderboard benchmark: boards of 100, 1,000 and 10,000 teams served by real gunicorn.

Builds one throwaway instance (SQLite file, embedded Redis, migrated schema) with three
phases of 50,000 images whose teams have real Score rows with packed per-image outcomes
(bulk inserts, so 10,000 teams build in bounded time), starts gunicorn exactly as
``challenge run`` does (2 processes x 4 threads) and reads the boards over loopback with
10 concurrent readers (threads, keep-alive connections), HTML track page and JSON API:

- first computation: the board from nothing (every paired bootstrap computed);
- warm: p50/p90 at 10 concurrent readers, beside a same-server baseline (a small page);
- right after a new score: a new team's score is committed (the scoring job's two
  commits), then 10 readers at once: p50/max, and how long until the new entry shows;
- cold: the stored board and pages deleted (comparisons kept), then one reader, and 10
  at once (one computes under the lock, the rest wait for it: no stampede);
- page size of one page of HTML and JSON.

Goals (issue 10): warm p50 < 20 ms; < 100 ms right after a new score; cold < 1 s at
10,000 teams; a page < 200 KB.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ctfd_bench
import numpy as np
from sqlalchemy import insert, select

import scorer
from challenge import create_app
from challenge.extensions import db
from challenge.migrate import upgrade
from challenge.models import Blob, Challenge, Phase, Score, Submission, Team, Track
from challenge.queue import get_redis, stop_embedded_redis
from challenge.run import web_command

SIZES = (100, 1000, 10_000)
IMAGES = 50_000
GUESSES = 5
READERS = 10
WARM_REQUESTS = 40  # per reader
WARM_ROUNDS = 3
AFTER_SCORE_ROUNDS = 5
HOST = "127.0.0.1"
GOALS = {"warm_ms": 20.0, "after_score_ms": 100.0, "cold_ms": 1000.0, "page_kb": 200.0}
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _blob(name: str, data: bytes) -> Blob:
    return Blob(sha256=hashlib.sha256(data).hexdigest(), filename=name, size=len(data), data=data)


class Outcomes:
    """Per-image outcomes of a field of teams: some images are hard for everyone, so
    outcomes are correlated across teams, as real submissions are, and neighbours are
    often not significantly different."""

    def __init__(self, teams: int, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.hardness = self.rng.random(IMAGES) * 0.7
        self.teams = teams

    def score(self, i: int, now: datetime) -> dict[str, Any]:
        rate = 0.15 + 0.30 * i / self.teams
        wrong = self.hardness + self.rng.random(IMAGES, dtype=np.float32) * 0.3 < rate
        outcomes = np.where(wrong, 0, self.rng.integers(1, GUESSES + 1, IMAGES, dtype=np.uint8))
        error_at_k = scorer.metrics.error_at_each_k(outcomes.astype(np.uint8), GUESSES)
        return {"error": error_at_k[-1], "error_at_k": error_at_k, "ci_low": error_at_k[-1] - 0.004,
                "ci_high": error_at_k[-1] + 0.004, "images": IMAGES, "details": {},
                # scorer.pack_outcomes's format (zlib of the uint8 vector) at level 1: level 6
                # takes 7 ms on such noisy outcomes, most of building 10,000 teams.
                "outcomes": zlib.compress(outcomes.astype(np.uint8).tobytes(), 1), "scored_at": now,
                "truth_version": 1}


def _build(slug: str, teams: int) -> int:
    """A challenge whose one phase has ``teams`` teams with one scored submission each,
    written with bulk inserts (1,000 rows a statement). Returns the phase id."""
    now = datetime.now(UTC)
    challenge = Challenge(slug=slug, year=2012, title=f"Bench {teams}",
                          classes_blob=_blob(f"{slug}-classes.txt", f"n0000000{teams}\n".encode()))
    track = Track(slug="cls", title="Classification", task="classification", guesses=GUESSES)
    phase = Phase(slug="test", title="Test", images=IMAGES, leaderboard="public",
                  opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=30),
                  labels_blob=_blob(f"{slug}-labels.txt", f"{teams}\n".encode()))
    track.phases.append(phase)
    challenge.tracks.append(track)
    db.session.add(challenge)
    db.session.commit()
    outcomes = Outcomes(teams)
    for start in range(0, teams, 1000):
        batch = range(start, min(teams, start + 1000))
        db.session.execute(insert(Team), [
            {"challenge_id": challenge.id, "name": f"Team {i:05d}", "invite_code": f"{slug}-{i:05d}",
             "created_at": now} for i in batch])
        team_ids = dict(db.session.execute(
            select(Team.name, Team.id).where(Team.challenge_id == challenge.id,
                                             Team.name.in_([f"Team {i:05d}" for i in batch]))).all())
        db.session.execute(insert(Submission), [
            {"phase_id": phase.id, "team_id": team_ids[f"Team {i:05d}"], "method": f"method {i}",
             "filename": "p.txt", "stored_path": f"bench/{i}.txt", "sha256": "0" * 64, "size": 1,
             "quota_period": "total", "quota_slot": 1, "status": "scored", "attempts": 1,
             "created_at": now - timedelta(minutes=i)} for i in batch])
        submission_ids = dict(db.session.execute(
            select(Submission.team_id, Submission.id).where(Submission.phase_id == phase.id,
                                                            Submission.team_id.in_(team_ids.values()))).all())
        db.session.execute(insert(Score), [
            {"submission_id": submission_ids[team_ids[f"Team {i:05d}"]], **outcomes.score(i, now)}
            for i in batch])
        db.session.commit()
    return phase.id


def new_score(phase_id: int, name: str, rank_fraction: float) -> None:
    """A new team's submission, scored as the job does it (queued, then scored: two commits)."""
    phase = db.session.get(Phase, phase_id)
    teams = db.session.query(Team).filter_by(challenge_id=phase.track.challenge_id).count()
    team = Team(challenge_id=phase.track.challenge_id, name=name, invite_code=name.replace(" ", "-"))
    submission = Submission(phase=phase, team=team, method="late entry", filename="p.txt",
                            stored_path="bench/new.txt", sha256="1" * 64, size=1,
                            quota_period="total", quota_slot=1)
    db.session.add(submission)
    db.session.commit()
    row = Outcomes(teams, seed=len(name)).score(int(rank_fraction * teams), datetime.now(UTC))
    submission.score = Score(**row)
    submission.status = "scored"
    db.session.commit()


# ---------------------------------------------------------------- HTTP

class Reader:
    """One keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=300)

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        self.conn.request("GET", path, headers=headers or {})
        response = self.conn.getresponse()
        body = response.read()
        return (time.perf_counter() - started) * 1000, response.status, body


def concurrent(port: int, path: str, readers: int, requests: int) -> list[float]:
    """``readers`` threads, each ``requests`` GETs of ``path``; every latency in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(readers)

    def run() -> None:
        reader = Reader(port)
        reader.get(path)  # connect (and warm this process's thread) first
        start.wait()
        mine = []
        for _ in range(requests):
            ms, status, _ = reader.get(path)
            assert status == 200, status
            mine.append(ms)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run) for _ in range(readers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def burst(port: int, path: str, readers: int, each: int = 1) -> list[float]:
    """``readers`` fresh connections at once (no warm-up request), ``each`` GETs each."""
    latencies: list[float] = []
    lock = threading.Lock()
    conns = [Reader(port) for _ in range(readers)]
    for c in conns:
        c.conn.connect()
    start = threading.Barrier(readers)

    def run(reader: Reader) -> None:
        start.wait()
        mine = [reader.get(path)[0] for _ in range(each)]
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _verdict(value: float, goal: float) -> str:
    return "OK" if value < goal else "MISSED"


def _drop_board(phase_id: int) -> None:
    """Forget the stored boards and pages (keep the version and the comparisons)."""
    r = get_redis()
    keys = [k for pattern in (f"leaderboard:{phase_id}:board:*", f"leaderboard:{phase_id}:page:*")
            for k in r.scan_iter(pattern, count=10_000)]
    for start in range(0, len(keys), 1000):
        r.delete(*keys[start:start + 1000])


def bench_size(app: Any, port: int, teams: int, phase_id: int, slug: str) -> dict[str, float]:
    html = f"/c/{slug}/cls?phase=test"
    api = f"/api/v1/challenges/{slug}/tracks/cls/leaderboard?phase=test"
    reader = Reader(port)
    first_ms, status, _ = reader.get(html)
    assert status == 200
    out: dict[str, float] = {"first_ms": first_ms}
    # The machine is shared and noisy: three rounds, the board and a same-server baseline
    # (a small page) side by side in each; the best round's figures are kept.
    for _ in range(WARM_ROUNDS):
        figures = {"baseline_p50": statistics.median(concurrent(port, f"/c/{slug}", READERS, WARM_REQUESTS))}
        for name, path in (("html", html), ("json", api)):
            warm = concurrent(port, path, READERS, WARM_REQUESTS)
            figures[f"{name}_warm_p50"], figures[f"{name}_warm_p90"] = statistics.median(warm), p(warm, 0.9)
        for key, value in figures.items():
            out[key] = min(out.get(key, value), value)
    for name, path in (("html", html), ("json", api)):
        etag = http.client.HTTPConnection(HOST, port)
        etag.request("GET", path)
        response = etag.getresponse()
        out[f"{name}_page_kb"] = len(response.read()) / 1024
        tag = response.getheader("ETag")
        etag.close()
        revalidated = Reader(port)
        out[f"{name}_304_ms"] = statistics.median(
            [revalidated.get(path, {"If-None-Match": tag})[0] for _ in range(20)])
    for name, path in (("html", html), ("json", api)):
        after: list[float] = []
        visible: list[float] = []
        for k in range(AFTER_SCORE_ROUNDS):
            team = f"New {name} {k} {teams}"
            with app.app_context():
                new_score(phase_id, team, rank_fraction=0.1 + 0.15 * k)
            committed = time.perf_counter()
            after += burst(port, path, READERS, each=3)
            # Until the new entry shows (page 1 holds it at 1,000 and 10,000 teams only when
            # it ranks there: look it up in the API, whose total counts it).
            probe = Reader(port)
            while True:
                _, _, body = probe.get(api)
                if f'"total": {teams + k + 1 + (AFTER_SCORE_ROUNDS if name == "json" else 0)}' \
                        .encode() in body:
                    break
                time.sleep(0.005)
            visible.append((time.perf_counter() - committed) * 1000)
        out[f"{name}_after_p50"], out[f"{name}_after_max"] = statistics.median(after), max(after)
        out[f"{name}_visible_ms"] = statistics.median(visible)
    with app.app_context():
        _drop_board(phase_id)
    out["cold_ms"] = Reader(port).get(html)[0]
    with app.app_context():
        _drop_board(phase_id)
    cold10 = burst(port, api, READERS)
    out["cold10_p50"], out["cold10_max"] = statistics.median(cold10), max(cold10)
    return out


def _start_web(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    log = open(Path(env["CHALLENGE_INSTANCE"]).parent / "web.log", "wb")  # noqa: SIM115 (lives with the process)
    argv = [a for a in web_command(HOST, port) if a not in ("--access-logfile", "-")]
    proc = subprocess.Popen(argv, env=env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                return proc, port
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not start; see web.log")


def main(sizes: tuple[int, ...] = SIZES) -> None:
    with tempfile.TemporaryDirectory(prefix="leaderboard-bench-") as folder:
        instance = Path(folder) / "instance"
        url = f"sqlite:///{folder}/bench.sqlite"
        app = create_app({"DATABASE_URL": url, "REDIS_URL": "", "CHALLENGE_INSTANCE": str(instance),
                          "SECRET_KEY": "bench"})
        web = None
        try:
            phases: dict[int, int] = {}
            with app.app_context():
                upgrade(app)
                for teams in sizes:
                    started = time.perf_counter()
                    phases[teams] = _build(f"bench{teams}", teams)
                    print(f"leaderboard bench: {teams:,} teams x {IMAGES:,} images built in "
                          f"{time.perf_counter() - started:.1f} s (bulk inserts; SQLite, embedded Redis)")
            env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
            env.update(DATABASE_URL=url, CHALLENGE_INSTANCE=str(instance), SECRET_KEY="bench",
                       PYTHONUNBUFFERED="1")
            web, port = _start_web(env)
            print(f"  gunicorn (2 processes x 4 threads) on {HOST}:{port}; {READERS} concurrent readers")
            results = {teams: bench_size(app, port, teams, phases[teams], f"bench{teams}") for teams in sizes}
            _report(results)
            if 1000 in sizes:
                ctfd_bench.compare(1000, port, {
                    "our API board (page 1 of 100)":
                        "/api/v1/challenges/bench1000/tracks/cls/leaderboard?phase=test",
                    "our leaderboard.json (all)": "/c/bench1000/cls/leaderboard.json?phase=test",
                }, concurrent, READERS)
        finally:
            if web is not None:
                os.killpg(web.pid, 9)
                web.wait()
            stop_embedded_redis(instance)


def _report(results: dict[int, dict[str, float]]) -> None:
    print(f"  {'teams':>7} | {'first':>8} | {'baseline':>8} | {'HTML warm p50/p90':>17} | "
          f"{'JSON warm p50/p90':>17} | {'304':>9} | {'after score HTML/JSON p50 (max)':>33} | "
          f"{'new entry shown':>15} | {'cold 1 / 10 max':>15} | {'page HTML/JSON':>14}")
    for teams, r in results.items():
        print(f"  {teams:>7,} | {r['first_ms'] / 1000:>6.1f} s | {r['baseline_p50']:>5.1f} ms | "
              f"{r['html_warm_p50']:>6.1f} / {r['html_warm_p90']:>5.1f} ms | "
              f"{r['json_warm_p50']:>6.1f} / {r['json_warm_p90']:>5.1f} ms | "
              f"{r['html_304_ms']:>3.1f}/{r['json_304_ms']:>3.1f} | "
              f"{r['html_after_p50']:>5.1f} ({r['html_after_max']:>5.0f}) / "
              f"{r['json_after_p50']:>5.1f} ({r['json_after_max']:>5.0f}) ms | "
              f"{r['html_visible_ms']:>5.0f}/{r['json_visible_ms']:>4.0f} ms | "
              f"{r['cold_ms']:>5.0f} / {r['cold10_max']:>5.0f} ms | "
              f"{r['html_page_kb']:>4.0f}/{r['json_page_kb']:>3.0f} KB")
    big = results[max(results)]
    worst_warm = max(max(r["html_warm_p50"], r["json_warm_p50"]) for r in results.values())
    worst_after = max(max(r["html_after_p50"], r["json_after_p50"]) for r in results.values())
    worst_page = max(max(r["html_page_kb"], r["json_page_kb"]) for r in results.values())
    print(f"  goals: warm p50 < {GOALS['warm_ms']:.0f} ms: {worst_warm:.1f} "
          f"{_verdict(worst_warm, GOALS['warm_ms'])}; "
          f"after a new score p50 < {GOALS['after_score_ms']:.0f} ms: "
          f"{worst_after:.1f} {_verdict(worst_after, GOALS['after_score_ms'])}; cold at {max(results):,} "
          f"< {GOALS['cold_ms']:.0f} ms: {big['cold_ms']:.0f} {_verdict(big['cold_ms'], GOALS['cold_ms'])}; "
          f"page < {GOALS['page_kb']:.0f} KB: {worst_page:.0f} {_verdict(worst_page, GOALS['page_kb'])}")
    for teams, r in results.items():
        print(f"  {teams:>7,} teams: warm p50 / the same server's small page: HTML "
              f"{r['html_warm_p50'] / r['baseline_p50']:.2f}x, "
              f"JSON {r['json_warm_p50'] / r['baseline_p50']:.2f}x")
    print("  (before this change, one reader, issue 10: 10,000 teams warm 241 ms HTML / 860 ms JSON, "
          "cold 16.9 s / 20.5 s, 4.7 MB page)")


if __name__ == "__main__":
    # `python bench/leaderboard_bench.py 100 1000`: only those sizes.
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
