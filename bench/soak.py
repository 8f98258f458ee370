"""``make soak``: minutes of mixed load and faults on real processes, then a table.

On PostgreSQL (a database of its own on the server of DATABASE_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres, dropped at the end) with a
redis-server of its own on a free loopback port, gunicorn serving wsgi:app as
``challenge run`` starts it, and 2 forking scoring workers:

- 20 teams upload (each within its quota: 1000/day) to a 20,000-image classification
  track and a 20,000-image localization track, every 3-9 s each;
- board readers fetch the leaderboard page (HTML) and its JSON download in a loop;
- every minute one scoring worker is killed with -9 together with its work horse
  (mid-job when a job is running) and started again, as a supervisor would;
- once, Redis is killed and started again (nothing persisted);
- at the end the load stops, the queue drains, and a table is printed: accepted,
  scored exactly once, failed, lost, duplicates (a job execution no kill explains:
  attempts > 1 + the kills that hit that submission's job), upload->scored p50/p99,
  board p99, peak RSS of the web and worker processes.

Exit status 1 if anything was lost, failed, scored twice, answered 5xx, or if a job
killed mid-way took more than 60 s to be scored.
Usage: python bench/soak.py [--minutes 10] [--teams 20] [--readers 3] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SLUG = "soak"
IMAGES = 20_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the load (default 10)")
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--readers", type=int, default=3, help="board-reading threads")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds between worker kills")
    parser.add_argument("--drain-timeout", type=float, default=420.0)
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    parser.add_argument("--database-server", default=os.environ.get("DATABASE_URL", "")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="a PostgreSQL URL on the server to make the soak's own database on")
    return parser.parse_args()


ARGS = parse_args()
if not ARGS.database_server.startswith("postgres"):
    sys.exit("soak: needs a PostgreSQL server (--database-server or DATABASE_URL)")
os.environ["DATABASE_URL"] = ARGS.database_server  # the harness makes its own database there
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "reliability")]

import reliability_harness as h  # noqa: E402  (needs DATABASE_URL set first)


def predictions(task: str, variant: int) -> bytes:
    """A file for the soak phases; ``variant`` images in 20 get all guesses wrong."""
    lines = []
    for i in range(IMAGES):
        truth = h.big_label(i)
        if i % 20 < variant:  # five wrong labels
            guesses = [(truth + j) % 10 + 1 for j in range(5)]
        else:
            guesses = [truth] + [(truth + j) % 10 + 1 for j in range(4)]
        if task == "localization":
            lines.append(" ".join(f"{g} 10 10 50 50" for g in guesses))
        else:
            lines.append(" ".join(map(str, guesses)))
    return ("\n".join(lines) + "\n").encode()


class Soak:
    def __init__(self, stack: h.Stack, teams: list[h.TeamInfo]) -> None:
        self.stack, self.teams = stack, teams
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.uploads: list[tuple[int, float, int | None]] = []  # (status, seconds, id)
        self.upload_errors: Counter[str] = Counter()
        self.reads: dict[str, list[float]] = {"html": [], "json": []}
        self.read_status: Counter[int] = Counter()
        self.kills: list[dict] = []
        self.kills_by_submission: Counter[int] = Counter()
        self.worker_deaths = 0
        self.redis_restart: dict = {}
        self.peak_kb = {"web": 0, "worker": 0, "horse": 0}
        self.files = {(task, v): predictions(task, v) for task in ("classification", "localization")
                      for v in range(4)}

    # ------------------------------------------------------------ load
    def uploader(self, team: h.TeamInfo, seed: int) -> None:
        rng = random.Random(seed)
        n = 0
        while not self.stop.is_set():
            member = team.members[n % len(team.members)]
            track, task = (("cls", "classification"), ("loc", "localization"))[n % 2]
            n += 1
            started = time.monotonic()
            try:
                status, _, body = self.stack.upload(member.token, SLUG, track,
                                                    self.files[(task, rng.randrange(4))], timeout=120)
                sid = json.loads(body).get("id") if status == 202 else None
                if status != 202:
                    with self.lock:
                        self.upload_errors[f"{status}: {json.loads(body).get('error', '')[:60]}"] += 1
            except (OSError, ValueError) as exc:
                status, sid = 0, None
                with self.lock:
                    self.upload_errors[f"no answer: {type(exc).__name__}"] += 1
            with self.lock:
                self.uploads.append((status, time.monotonic() - started, sid))
            self.stop.wait(rng.uniform(3, 9))

    def reader(self, seed: int) -> None:
        rng = random.Random(seed)
        while not self.stop.is_set():
            kind = rng.choice(("html", "json"))
            track = rng.choice(("cls", "loc"))
            path = f"/c/{SLUG}/{track}" if kind == "html" else f"/c/{SLUG}/{track}/leaderboard.json"
            started = time.monotonic()
            try:
                status, _, _ = self.stack.request("GET", path, timeout=60)
            except OSError:
                status = 0
            with self.lock:
                self.reads[kind].append(time.monotonic() - started)
                self.read_status[status] += 1
            self.stop.wait(0.2)

    # ------------------------------------------------------------ faults
    @staticmethod
    def _current_submission(worker: h.Proc) -> int | None:
        """The submission the worker is scoring: its log's last job start without an end
        (RQ logs "score submission N" as it takes a job, before forking the horse)."""
        current = None
        for line in worker.log().splitlines():
            if "scoring: score submission " in line:
                current = int(line.rsplit("(submission-", 1)[1].rstrip(")"))
            elif current is not None and f"Job OK (submission-{current})" in line:
                current = None
        return current

    def killer(self) -> None:
        while not self.stop.wait(ARGS.kill_every):
            alive = [w for w in self.stack.workers if w.alive()]
            if not alive:
                continue
            victim = alive[0]  # the longest-running one: restarted workers go to the end
            # Prefer mid-job: wait up to 10 s for the victim to fork a horse.
            deadline = time.monotonic() + 10
            horses = h.children_of(victim.pid)
            while not horses and time.monotonic() < deadline and not self.stop.is_set():
                time.sleep(0.05)
                horses = h.children_of(victim.pid)
            victim.kill()  # SIGKILL to its group and each child's group (the horse)
            sid = self._current_submission(victim) if horses else None
            with self.lock:
                self.stack.workers.remove(victim)
                self.stack.others.append(victim)
                self.stack.start_worker()
                if sid is not None:
                    self.kills_by_submission[sid] += 1
                self.kills.append({"at": datetime.now(UTC), "mid_job": bool(horses), "submission": sid})

    def supervisor(self) -> None:
        """Restart workers that died on their own (a kill by the killer is not counted)."""
        while not self.stop.wait(1):
            with self.lock:
                for w in list(self.stack.workers):
                    if not w.alive():
                        self.worker_deaths += 1
                        self.stack.workers.remove(w)
                        self.stack.others.append(w)
                        self.stack.start_worker()

    def redis_restarter(self, after: float) -> None:
        if self.stop.wait(after):
            return
        before = len(self.uploads)
        self.stack.stop_redis()
        down = time.monotonic()
        time.sleep(3)
        self.stack.start_redis()
        self.redis_restart = {"down_s": round(time.monotonic() - down, 1),
                              "uploads_during": len(self.uploads) - before}

    def sampler(self) -> None:
        while not self.stop.wait(1):
            for pid in self.stack.web_worker_pids():
                self.peak_kb["web"] = max(self.peak_kb["web"], h.proc_status_kb(pid, "VmHWM") or 0)
            for w in list(self.stack.workers):
                self.peak_kb["worker"] = max(self.peak_kb["worker"], h.proc_status_kb(w.pid, "VmHWM") or 0)
                for horse in h.children_of(w.pid):
                    self.peak_kb["horse"] = max(self.peak_kb["horse"], h.proc_status_kb(horse, "VmHWM") or 0)


def main() -> int:
    started_at = datetime.now(UTC)
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    stack = h.Stack(root, workers=ARGS.workers)
    code = 1
    try:
        print(f"soak: {ARGS.minutes:g} min, {ARGS.teams} teams, {ARGS.readers} readers, "
              f"{ARGS.workers} workers; database {stack.pg_dbname}, redis :{stack.redis_port}, logs {root}",
              flush=True)
        stack.start()
        h.big_bundle(root / "bundle", SLUG, loc_images=IMAGES, cls_images=IMAGES, quota="1000/day")
        stack.cli("load", str(root / "bundle"), timeout=300)
        teams = h.make_teams(stack, SLUG, ARGS.teams, members=2, prefix="s")
        soak = Soak(stack, teams)
        seconds = ARGS.minutes * 60
        threads = [threading.Thread(target=soak.uploader, args=(t, i), daemon=True)
                   for i, t in enumerate(teams)]
        threads += [threading.Thread(target=soak.reader, args=(1000 + i,), daemon=True)
                    for i in range(ARGS.readers)]
        threads += [threading.Thread(target=f, daemon=True)
                    for f in (soak.killer, soak.supervisor, soak.sampler)]
        threads.append(threading.Thread(target=soak.redis_restarter, args=(seconds * 0.45,), daemon=True))
        load_started = time.monotonic()
        for t in threads:
            t.start()
        while time.monotonic() - load_started < seconds:
            time.sleep(5)
            done = len(soak.uploads)
            print(f"  {time.monotonic() - load_started:5.0f} s: {done} uploads, {len(soak.kills)} kills, "
                  f"{sum(soak.read_status.values())} board reads", flush=True)
        soak.stop.set()
        for t in threads:
            t.join(timeout=150)

        # Drain: workers keep running (the supervisor's job is done by hand now).
        drain_started = time.monotonic()
        while time.monotonic() - drain_started < ARGS.drain_timeout:
            for w in list(stack.workers):
                if not w.alive():
                    soak.worker_deaths += 1
                    stack.workers.remove(w)
                    stack.others.append(w)
                    stack.start_worker()
            states = h.submission_states(stack)
            if all(s.status in ("scored", "failed") for s in states.values()):
                break
            time.sleep(1)
        drain_s = time.monotonic() - drain_started
        states = h.submission_states(stack)
        code = report(soak, states, started_at, drain_s)
    finally:
        stack.close()
        if not ARGS.keep:
            h.rm_tree(root)
    return code


def report(soak: Soak, states: dict[int, h.SubmissionState], started_at: datetime, drain_s: float) -> int:
    statuses = Counter(s for s, _, _ in soak.uploads)
    accepted = [sid for s, _, sid in soak.uploads if s == 202 and sid is not None]
    lost = [sid for sid in accepted if sid not in states or states[sid].status not in ("scored", "failed")]
    failed = [s.id for s in states.values() if s.status == "failed"]
    duplicates = [s.id for s in states.values()
                  if s.score_rows > 1 or s.attempts > 1 + soak.kills_by_submission.get(s.id, 0)]
    once = [s.id for s in states.values() if s.status == "scored" and s.score_rows == 1
            and s.attempts <= 1 + soak.kills_by_submission.get(s.id, 0)]
    rerun = [s.id for s in states.values() if s.attempts > 1]
    unacknowledged = sorted(set(states) - set(accepted))
    latencies = [(s.finished_at - s.created_at).total_seconds() for s in states.values()
                 if s.status == "scored" and s.finished_at is not None]
    horse_details = [h.find_peak_rss(s.details) for s in states.values()]
    horse_mb = max((x[1] for x in horse_details if x), default=0.0)
    fivexx = sum(n for s, n in statuses.items() if s >= 500) + statuses.get(0, 0)
    read_5xx = sum(n for s, n in soak.read_status.items() if s >= 500 or s == 0)
    mid_job = sum(1 for k in soak.kills if k["mid_job"])
    # How long each job killed mid-way took to be scored after the kill (bound: 60 s).
    recoveries = [(k["submission"], (states[k["submission"]].finished_at - k["at"]).total_seconds())
                  for k in soak.kills if k["submission"] in states
                  and states[k["submission"]].finished_at is not None]
    slowest = max(recoveries, key=lambda r: r[1], default=None)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3

    def p(values: list[float], q: float) -> str:
        return f"{h.percentile(values, q):.2f} s" if values else "-"

    rows = [
        ("accepted uploads (202)", len(accepted)),
        ("refused uploads", ", ".join(f"{k} x{v}" for k, v in soak.upload_errors.items()) or "none"),
        ("5xx or no answer (uploads / board reads)", f"{fivexx} / {read_5xx}"),
        ("scored exactly once", len(once)),
        ("failed", len(failed)),
        ("lost (accepted, never scored)", len(lost)),
        ("duplicates (an execution no kill explains)", len(duplicates)),
        ("rows without a 202 (answer lost)", len(unacknowledged)),
        ("worker kills -9 (mid-job) / re-run submissions", f"{len(soak.kills)} ({mid_job}) / {len(rerun)}"),
        ("killed job -> scored, slowest", "-" if slowest is None else
         f"{slowest[1]:.0f} s (submission {slowest[0]})" + (" OVER 60 s" if slowest[1] > 60 else "")),
        ("workers that died on their own", soak.worker_deaths),
        ("Redis restart", f"down {soak.redis_restart.get('down_s', '-')} s, "
                          f"{soak.redis_restart.get('uploads_during', '-')} uploads meanwhile"),
        ("upload -> scored p50 / p99", f"{p(latencies, 50)} / {p(latencies, 99)}"),
        ("upload answer p50 / p99", f"{p([t for _, t, _ in soak.uploads], 50)} / "
                                    f"{p([t for _, t, _ in soak.uploads], 99)}"),
        ("board reads HTML / JSON (count)", f"{len(soak.reads['html'])} / {len(soak.reads['json'])}"),
        ("board p50 / p99 HTML", f"{p(soak.reads['html'], 50)} / {p(soak.reads['html'], 99)}"),
        ("board p50 / p99 JSON", f"{p(soak.reads['json'], 50)} / {p(soak.reads['json'], 99)}"),
        ("peak RSS web (gunicorn worker)", f"{soak.peak_kb['web'] / 1024:.0f} MB"),
        ("peak RSS scoring worker / horse", f"{soak.peak_kb['worker'] / 1024:.0f} MB / "
                                            f"{max(soak.peak_kb['horse'] / 1024, horse_mb):.0f} MB"),
        ("queue drained in", f"{drain_s:.0f} s"),
    ]
    print()
    print(f"Soak {started_at:%Y-%m-%d %H:%M} UTC, {ARGS.minutes:g} min, {ARGS.teams} teams, "
          f"{ARGS.workers} workers, PostgreSQL + redis-server; machine: {os.cpu_count()} CPUs "
          f"(nproc {len(os.sched_getaffinity(0))}), {mem:.1f} GB RAM")
    print()
    print("| measure | value |\n| --- | --- |")
    for name, value in rows:
        print(f"| {name} | {value} |")
    problems = []
    if lost:
        problems.append(f"lost: {lost[:20]}")
    if failed:
        problems.append(f"failed: {[(i, states[i].error) for i in failed[:5]]}")
    if duplicates:
        problems.append("duplicates (id, attempts, kills): " + str(
            [(i, states[i].attempts, soak.kills_by_submission.get(i, 0)) for i in duplicates[:20]]))
    if slowest is not None and slowest[1] > 60:
        problems.append(f"a killed job took {slowest[1]:.0f} s to be scored (submission {slowest[0]}; "
                        "bound 60 s)")
    if fivexx or read_5xx:
        problems.append(f"5xx/no answer: uploads {fivexx}, reads {read_5xx}")
    print()
    print("soak: " + ("; ".join(problems) if problems else "OK: nothing lost, failed or scored twice"))
    return 1 if problems else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())
