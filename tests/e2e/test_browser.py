"""A newcomer's first visit, in a real browser against the real platform.

``challenge run`` starts in a subprocess with its own instance folder (migrate,
embedded Redis unless REDIS_URL is set, the demo, gunicorn, a scoring worker);
Debian's chromium, driven by Playwright, registers, logs in, out and in, creates a
team, downloads the demo's sample predictions from the track page, uploads them
there (the form's progress bar shows), watches the submission page go from
queued to scored by itself (the live status; the test never reloads it), with
its chart, and finds the team on the leaderboard with the score the submission
page showed. A second test sorts the per-class table (the real partial and
script) by its headers. The scoring worker is
paused (SIGSTOP) while the upload lands, so the page is seen queued, in the
queue, before it is seen scored. The server runs with its production settings,
so every form here goes through CSRF protection and every page through the Content
Security Policy (a violation the browser reports fails the test). Screenshots go to
/tmp/e2e-browser-*.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import render_template

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path("/tmp")
START_TIMEOUT = 90.0
SCORE_TIMEOUT = 90.0

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found (apt-get install chromium); the browser test needs it",
                allow_module_level=True)

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from challenge.submissions.results import ClassError, PageResults  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Platform(str):
    """The URL of a running `challenge run`, with the process to find its scoring worker."""

    process: subprocess.Popen[str]

    def worker_pids(self) -> list[int]:
        """The `challenge worker` children of this `challenge run` (started by this test)."""
        pids = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
                if b"worker" in cmdline and b"challenge" in cmdline:
                    pids.append(int(child))
        return pids

    def pause_workers(self) -> None:
        pids = self.worker_pids()
        assert pids, "no scoring worker found under challenge run"
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)

    def resume_workers(self) -> None:
        for pid in self.worker_pids():
            os.kill(pid, signal.SIGCONT)


@pytest.fixture
def platform_url(tmp_path: Path) -> Iterator[Platform]:
    """The URL of a freshly started `challenge run`, stopped (SIGINT) afterwards."""
    port = _free_port()
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)  # its own SQLite file, not the suite's shared database
    env["CHALLENGE_INSTANCE"] = str(tmp_path / "instance")
    process = subprocess.Popen(
        [sys.executable, "-m", "challenge", "run", "--port", str(port)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}/"
    platform = Platform(url)
    platform.process = process
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while "Press Ctrl-C to stop" not in "".join(lines):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("challenge run did not come up:\n" + "".join(lines))
            time.sleep(0.2)
        try:
            urllib.request.urlopen(url, timeout=10).close()
        except urllib.error.URLError as exc:
            pytest.fail(f"{url} does not answer: {exc}\n" + "".join(lines))
        yield platform
    finally:
        if process.poll() is None:
            with contextlib.suppress(OSError):
                platform.resume_workers()  # a paused worker could not stop
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
        print("".join(lines[-60:]))


@pytest.fixture
def page() -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(15_000)
            yield page
            context.close()
        finally:
            browser.close()


#: Records in sessionStorage whether the upload form's progress bar was shown and how far it got.
WATCH_PROGRESS = """() => {
  const box = document.querySelector('.upload-progress');
  const bar = box.querySelector('progress');
  const seen = {shown: false, max: 0};
  const record = () => {
    seen.shown = seen.shown || !box.hidden;
    seen.max = Math.max(seen.max, Number(bar.value));
    sessionStorage.setItem('uploadProgress', JSON.stringify(seen));
  };
  new MutationObserver(record).observe(box, {attributes: true, subtree: true});
}"""


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"e2e-browser-{name}.png"), full_page=True)


def test_register_team_upload_and_leaderboard(platform_url: Platform, page: Page, tmp_path: Path) -> None:
    """A newcomer on a phone (390 px) goes from `challenge run` to a scored submission, its
    e-mail in the outbox and a rank on the board."""
    email, password, team = "newcomer@example.org", "a-long-password-1", "Newcomers"
    page.set_viewport_size({"width": 390, "height": 844})

    # Every page runs under the Content Security Policy: a blocked script or style fails the test.
    violations: list[str] = []
    page.on("console", lambda message: violations.append(message.text)
            if "Content Security Policy" in message.text else None)

    # Register (which sends to the login page, new address or not), log in, log out, log in again.
    page.goto(platform_url + "register")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Name").fill("New Comer")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Repeat password").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.locator(".flash.success")).to_contain_text("If this address was new")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

    # A team for the demo challenge, from "My teams".
    page.get_by_role("link", name="My teams").click()
    page.locator("form[action$='/teams/create'] input[name='name']").first.fill(team)
    page.get_by_role("button", name="Create team").first.click()
    expect(page.locator("main")).to_contain_text(team)
    shot(page, "1-team")

    # From the front page to the demo year, then to its first track.
    page.goto(platform_url)
    page.locator("main a[href^='/c/']").first.click()
    year = re.match(r".*/c/([^/?#]+)$", page.url)
    assert year, page.url
    page.locator(f"main a[href^='/c/{year.group(1)}/']").first.click()
    track_url = page.url

    # The sample predictions offered on the track page, uploaded through its form.
    with page.expect_download() as download:
        page.locator("main a[href*='sample']").first.click()
    sample = tmp_path / (download.value.suggested_filename or "sample.txt")
    download.value.save_as(sample)
    assert sample.stat().st_size > 0

    # A malformed file, sent by the form's script: back on the track page with the reason.
    bad = tmp_path / "bad.txt"
    bad.write_text("not-a-class\n")
    page.set_input_files("#file", str(bad))
    page.get_by_label("No, provided data only").check()
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash.error")).to_contain_text("Upload refused: expected")
    assert page.url.startswith(track_url), page.url

    page.set_input_files("#file", str(sample))
    page.get_by_label("Method name").fill("Sample baseline")
    page.get_by_label("Short description").fill("the demo's sample predictions")
    page.get_by_label("No, provided data only").check()
    # The page is left for the submission page once the upload ends, so what the progress bar
    # showed is recorded in sessionStorage (same tab, same origin) and read there.
    page.evaluate(WATCH_PROGRESS)
    # The worker is paused so the submission is seen waiting in the queue.
    platform_url.pause_workers()
    try:
        page.get_by_role("button", name="Upload").click()
        page.wait_for_url(re.compile(r".*/submissions/\d+$"))
        expect(page.locator("main")).to_contain_text("uploaded and queued for scoring")  # the flash
        status = page.locator("#status")
        expect(status).to_contain_text("queued")
        # (Number 1 unless the demo's own entries are still being scored.)
        expect(status).to_contain_text(re.compile(r"number \d+ in the queue, result in"))
        expect(page.locator(".live-hint")).to_contain_text("updates itself")
        shot(page, "2-queued")
    finally:
        platform_url.resume_workers()
    progress = page.evaluate("JSON.parse(sessionStorage.getItem('uploadProgress') || 'null')")
    assert progress and progress["shown"] and progress["max"] == 100, progress

    # The live status: scored without page.reload(), and the scores block arrives with it.
    expect(status.locator(".status")).to_have_text("scored", timeout=SCORE_TIMEOUT * 1000)
    expect(page.locator("#scores")).to_be_visible()
    shot(page, "3-scored")
    headline = re.search(r"error\s+([01]\.\d+)", page.locator("#scores").inner_text(), re.IGNORECASE)
    assert headline, page.locator("main").inner_text()

    # The chart; per-class errors only if the demo's open phase is a validation phase (its
    # sorting is tested on its own below).
    expect(page.locator("svg[role=img] title").first).to_contain_text("error against the number of guesses")
    breadcrumb = page.locator("main a[href*='phase=']").first.get_attribute("href") or ""
    phase = re.search(r"[?&]phase=([^&]+)", breadcrumb)
    assert phase, breadcrumb
    if phase.group(1).startswith("val"):
        errors = [float(x) for x in page.locator("#per-class tbody td:nth-child(5)").all_inner_texts()
                  if x.strip() != "\u2014"]
        assert errors and errors == sorted(errors, reverse=True)
    else:
        expect(page.locator("#per-class")).to_have_count(0)

    # The team is on the track's public leaderboard.
    page.goto(track_url)
    row = page.locator("table.leaderboard tr", has_text=team)
    expect(row).to_contain_text("Sample baseline")
    expect(row).to_contain_text(headline.group(1))
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the track page scrolls sideways"
    shot(page, "4-leaderboard")
    assert violations == []

    # The "scored" e-mail, sent by a worker job into the embedded default's outbox.
    outbox = tmp_path / "instance" / "outbox"
    deadline = time.monotonic() + SCORE_TIMEOUT
    mails: list[str] = []
    while time.monotonic() < deadline:
        mails = [m.read_text() for m in outbox.glob("*.eml")] if outbox.is_dir() else []
        if any(email in m and "scored" in m for m in mails):
            break
        time.sleep(0.5)
    assert any(email in m and "scored" in m for m in mails), mails


def test_per_class_table_sorts_by_its_headers(app, page: Page) -> None:
    """static/sortable-table.js on the real partial: worst first from the server, then by header."""
    worst_first = [ClassError(2, "n02", "goldfish", 0.9), ClassError(4, "n04", "Axolotl", 0.5),
                   ClassError(1, "n01", "tench", 0.2), ClassError(3, "n03", "shark", None)]
    with app.test_request_context():
        html = render_template("submissions/_per_class.html",
                               results=PageResults(per_class=worst_first, error_name="Error"))
    page.set_content(f"<!doctype html><html lang=en><body><main>{html}</main></body></html>")
    page.add_script_tag(content=(Path(app.static_folder) / "sortable-table.js").read_text())
    table = page.locator("#per-class")

    def column(n: int) -> list[str]:
        return table.locator(f"tbody td:nth-child({n})").all_inner_texts()

    assert column(2) == ["goldfish", "Axolotl", "tench", "shark"]  # the server's order
    table.get_by_role("button", name="Class").click()
    assert column(2) == ["Axolotl", "goldfish", "shark", "tench"]
    expect(table.locator("th").nth(1)).to_have_attribute("aria-sort", "ascending")
    table.get_by_role("button", name="Class").click()
    assert column(2) == ["tench", "shark", "goldfish", "Axolotl"]
    expect(table.locator("th").nth(1)).to_have_attribute("aria-sort", "descending")
    # The error column starts as the sorted one (descending): a click sorts it ascending, and a
    # class without images stays last either way.
    table.get_by_role("button", name="Error").click()
    assert column(5) == ["0.2000", "0.5000", "0.9000", "\u2014"]
    table.get_by_role("button", name="ID", exact=True).click()
    assert column(4) == ["1", "2", "3", "4"]
    assert table.locator("th[aria-sort]").count() == 1
