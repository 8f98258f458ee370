"""(e) Hostile files through the real web server: each answered 4xx in < 15 s, with the
peak RSS (VmHWM) of every gunicorn worker process under 1 GB, and no web process lost.
Then a real full-size job (100,000-image localization) shows the scoring work horse's
peak RSS, as the job records it in the score's details, under 1 GB too.

The files are built streamed into temporary files with zlib.compressobj (the unpacked
bytes are never held), and streamed from disk to the server:
- a ~10 MB gzip of 10 GiB of zeros;
- a ~1 MB gzip of one 1 GiB line ("1 1 1 ...");
- a ~200-300 KB gzip of a valid 50,000-line classification file padded with 2,140
  extra guesses per line (about 215 MB unpacked: under the 512 MB unpack limit, so
  the parser itself must refuse it without holding 100 million tokens).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from reliability_harness import (
    big_label,
    find_peak_rss,
    gunzipped_size,
    gzip_lines,
    gzip_repeated,
    make_teams,
    print_figures,
    proc_status_kb,
    submission_states,
    wait_for,
)

pytestmark = pytest.mark.slow
SLUG = "big2012"
GiB, MiB = 1024**3, 1024**2
RSS_BOUND_MB = 1024
TIME_BOUND_S = 15
CLS_IMAGES = 50_000


def _hostile_files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    chunk = 64 * MiB
    files = {
        "10 GiB of zeros": gzip_repeated(folder / "zeros.txt.gz", bytes(chunk), 10 * GiB // chunk),
        "one 1 GiB line": gzip_repeated(folder / "line.txt.gz", b"1 " * (chunk // 2), GiB // chunk, b"\n"),
    }

    def padded_lines():
        pad = b" 7" * 2140
        for i in range(CLS_IMAGES):
            label = big_label(i)
            guesses = [label] + [(label + j - 1) % 10 + 1 for j in range(1, 5)]
            yield " ".join(map(str, guesses)).encode() + pad + b"\n"

    files["valid + 2,140 guesses/line"] = gzip_lines(folder / "padded.txt.gz", padded_lines())
    return files


def test_hostile_files_are_refused_quickly_in_bounded_memory(make_stack, big_files, tmp_path: Path) -> None:
    stack = make_stack()
    stack.cli("load", str(big_files["bundle"]), timeout=300)
    [team] = make_teams(stack, SLUG, 1)
    token = team.members[0].token
    web_pids = stack.web_worker_pids()
    assert len(web_pids) == 2
    built = time.monotonic()
    files = _hostile_files(tmp_path / "hostile")
    build_s = time.monotonic() - built

    results = {}
    for name, path in files.items():
        started = time.monotonic()
        try:
            status, _, body = stack.upload(token, SLUG, "cls", path, filename=path.name, timeout=120)
        except OSError as exc:
            status, body = 0, repr(exc).encode()
        elapsed = time.monotonic() - started
        try:
            message = json.loads(body).get("error", "")
        except ValueError:
            message = body[:120].decode(errors="replace")
        results[name] = (status, elapsed, message)
    web_hwm_mb = {pid: (proc_status_kb(pid, "VmHWM") or 0) / 1024 for pid in web_pids}
    web_alive = stack.web_worker_pids() == web_pids
    rows_after_hostile = len(submission_states(stack))

    # A real full-size job: the horse's peak RSS as the job records it.
    status, _, body = stack.upload(token, SLUG, "loc", big_files["loc_pred"])
    assert status == 202, body
    sid = json.loads(body)["id"]
    scored_in = wait_for(lambda: submission_states(stack, [sid])[sid].status in ("scored", "failed"),
                         timeout=120, interval=0.2)
    state = submission_states(stack, [sid])[sid]
    horse = find_peak_rss(state.details)

    figures = {}
    for name, path in files.items():
        status, elapsed, message = results[name]
        unpacked = gunzipped_size(path, limit=None if path.stat().st_size < 5 * MiB else 64 * MiB)
        size = (f"{path.stat().st_size / 1024:,.0f} KB gzip"
                + (f" of {unpacked / MiB:,.0f} MiB" if unpacked < 64 * MiB or "padded" in path.name else ""))
        figures[name] = f"{status} in {elapsed:.2f} s ({size}): {message[:90]}"
    figures["files built in"] = f"{build_s:.1f} s"
    figures["gunicorn workers VmHWM"] = ", ".join(f"{v:.0f} MB" for v in web_hwm_mb.values())
    figures["gunicorn workers survived"] = web_alive
    figures["full-size job"] = (f"{state.status} in {scored_in:.1f} s" if scored_in is not None
                                else f"{state.status} (not finished in 120 s)")
    figures["work horse peak RSS"] = (f"{horse[1]:.0f} MB (details key '{horse[0]}')" if horse
                                      else f"not recorded in the score's details: {state.details}")
    print_figures("(e) hostile files", figures)

    for name, (status, elapsed, message) in results.items():
        assert 400 <= status < 500, f"{name}: answered {status} ({message})"
        assert elapsed < TIME_BOUND_S, f"{name}: answered after {elapsed:.1f} s"
    assert rows_after_hostile == 0, "a refused upload left a submission row"
    assert web_alive, "a gunicorn worker died (and was replaced) during the hostile uploads"
    for pid, mb in web_hwm_mb.items():
        assert 0 < mb < RSS_BOUND_MB, f"gunicorn worker {pid} peaked at {mb:.0f} MB"
    assert state.status == "scored", (state.status, state.error)
    assert horse is not None, f"the score's details record no peak RSS of the work horse: {state.details}"
    assert horse[1] < RSS_BOUND_MB, f"the work horse peaked at {horse[1]:.0f} MB"
