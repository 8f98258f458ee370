"""No page scrolls sideways, on a phone (390 px) or a desktop (1280 px).

A real `challenge run` with the demo (see test_browser.py's fixture), Debian's chromium
through Playwright, three visitors: anonymous, a competitor with a team, an organizer.
Every public page (each year page's tabs, each year's results too), the team pages and
the console are opened at both widths, in light and dark colour schemes; the page's
scroll width must not exceed the window's (a wide table may scroll inside its own box).
Pages that need something to show are given it first, through the real forms: the
organizer adds a validation phase to the open year's classification track, the
competitor uploads to it twice (one scored, with its scores, chart and per-class table;
one failed, its file lost while the worker was paused), asks for a password reset link
(read from the outbox), and the organizer rescores the phase. Failures list every page
and width at once, and a screenshot of each goes to /tmp/e2e-responsive-*.png.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, SCORE_TIMEOUT, Platform, platform_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

from challenge.demo import DEMO_EMAIL, DEMO_PASSWORD  # noqa: E402

WIDTHS = (390, 1280)
TABS = ("data", "rules", "leaderboard")
ORGANIZER = ("ops@example.org", "organizer-pass-1")

PUBLIC = ["/", "/history", "/history/ilsvrc-demo", "/login", "/register", "/forgot", "/no/such/page",
          "/api/docs", "/results/ilsvrc2012-demo"]
CONSOLE = ["/admin/", "/admin/submissions", "/admin/workers", "/admin/audit", "/admin/boards",
           "/admin/moderation", "/admin/flags", "/admin/truth", "/admin/challenges/new",
           "/admin/challenges/1", "/admin/challenges/3",
           # The guiding console (issue 12, item 8): filtered lists, confirmation pages, bundle upload.
           "/admin/audit?action=challenge.load", "/admin/submissions?challenge=ilsvrc2012-demo&status=scored",
           "/admin/submissions?page=2", "/admin/challenges/1/results", "/admin/phases/1/publish",
           "/admin/bundles/upload"]

#: The validation phase the organizer adds: few images, so the competitor's file is small.
VAL_IMAGES = 200
#: What a competitor may type or name: unbroken tokens longer than a phone is wide.
LONG_FILENAME = "val-predictions-resnet152-ensemble-of-seven-models-multi-crop-final-v3.txt"
LONG_METHOD = "ResNet-152+Inception-v4+SE-ResNeXt-101_ensemble_of_seven_models_multi_crop_flip_tta"
LONG_LINK = "https://example.org/papers/" + "very-long-path-segment-without-any-break-" * 3 + "final.pdf"


def _links(html: str, pattern: str) -> list[str]:
    return sorted(set(re.findall(pattern, html)))


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _log_in(page: Page, base: str, login: tuple[str, str]) -> None:
    page.goto(base + "login")
    page.get_by_label("Email").fill(login[0])
    page.get_by_label("Password").fill(login[1])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def _overflow(browser: Browser, base: str, paths: list[str], login: tuple[str, str] | None,
              scheme: str) -> list[str]:
    found = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
        page = context.new_page()
        page.set_default_timeout(15_000)
        if login:
            _log_in(page, base, login)
        for path in paths:
            page.goto(base.rstrip("/") + path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                name = re.sub(r"\W+", "-", path).strip("-") or "home"
                page.screenshot(path=f"/tmp/e2e-responsive-{name}-{width}-{scheme}.png", full_page=True)
                found.append(f"{path} at {width} px ({scheme}): {wide} px wide")
        context.close()
    return found


def _upload(page: Page, track: str, content: bytes) -> str:
    """Upload ``content`` to the track page's validation phase; the submission page's path."""
    page.goto(track + "?phase=val")
    page.set_input_files("#file", {"name": LONG_FILENAME, "mimeType": "text/plain", "buffer": content})
    page.get_by_label("Method name").fill(LONG_METHOD)
    page.get_by_label("Paper or code link").fill(LONG_LINK)
    page.get_by_label("No, provided data only").check()
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url(re.compile(r".*/submissions/\d+$"))
    return _path(page.url)


def _reset_link(outbox: Path, to: str) -> str:
    """The path of the password reset link the worker mailed to ``to``."""
    deadline = time.monotonic() + SCORE_TIMEOUT
    while time.monotonic() < deadline:
        for eml in outbox.glob("*.eml") if outbox.is_dir() else []:
            message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
            if message["To"] == to and message["Subject"] == "Reset your password":
                link = re.search(r"https?://[^/\s]+(/reset/\S+)", message.get_content())
                assert link, message.get_content()
                return link.group(1)
        time.sleep(0.5)
    raise AssertionError(f"no reset e-mail to {to} in {outbox}")


def _pages_with_content(browser: Browser, platform: Platform, instance: Path,
                        year: str) -> tuple[list[str], list[str], list[str]]:
    """Makes what the submission, reset and console pages show, through the real forms; the
    (anonymous, competitor, organizer) pages to check. ``year``: the competitor's team's year."""
    base, slug = str(platform), year.rsplit("/", 1)[-1]
    labels = "".join(f"{i % 47 + 1}\n" for i in range(VAL_IMAGES)).encode()
    # Five guesses an image: the first one right, but on every fifth image all five wrong.
    guesses = "".join(" ".join(str(i % 47 + 1 + (0 if i % 5 else 48) + k) for k in range(5)) + "\n"
                      for i in range(VAL_IMAGES)).encode()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)

    # The organizer: the open year's classification phase, its track and year in the console, its
    # teams, and a new phase on the track.
    _log_in(page, base, ORGANIZER)
    page.goto(base + "admin/truth")
    truth = page.locator("table.admin-truth a", has_text=f"{slug}/cls/").first.get_attribute("href")
    assert truth, page.content()
    demo_phase = truth.removesuffix("/truth")
    page.goto(base.rstrip("/") + demo_phase)
    challenge = page.locator("main a[href^='/admin/challenges/']").first.get_attribute("href")
    track = page.locator("main a[href^='/admin/tracks/']").first.get_attribute("href")
    assert challenge and track, page.content()
    page.goto(base.rstrip("/") + challenge)
    teams = _links(page.content(), r'href="(/admin/teams/\d+)"')
    assert teams, page.content()
    page.goto(base.rstrip("/") + track + "/phases/new")
    page.get_by_label("Slug (e.g. val, test)").fill("val")
    page.get_by_label("Title").fill("Validation")
    page.get_by_label("Opens (UTC)").fill("2014-01-01T00:00")
    page.get_by_label("Closes (UTC)").fill("2099-01-01T00:00")
    page.get_by_label("Quota: submissions per period").fill("20")
    page.get_by_label("Quota period (UTC)").select_option("day")
    page.get_by_label("Leaderboard visibility").select_option("public")
    page.get_by_label("Ground-truth labels (hidden)").set_input_files(
        {"name": "val_labels.txt", "mimeType": "text/plain", "buffer": labels})
    page.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/admin/phases/\d+$"))
    val_phase = _path(page.url)

    # The competitor: one upload scored, one failed (its stored file lost while the worker waits).
    member = browser.new_context(viewport={"width": 1280, "height": 800})
    competitor = member.new_page()
    competitor.set_default_timeout(15_000)
    _log_in(competitor, base, (DEMO_EMAIL, DEMO_PASSWORD))
    public_track = f"{base.rstrip('/')}/c/{slug}/cls"
    scored = _upload(competitor, public_track, guesses)
    expect(competitor.locator("#status .status")).to_have_text("scored", timeout=SCORE_TIMEOUT * 1000)
    expect(competitor.locator("#per-class")).to_be_visible()
    platform.pause_workers()
    try:
        failed = _upload(competitor, public_track, guesses)
        stored = max((f for f in (instance / "uploads").rglob("*.txt") if f.is_file()),
                     key=lambda f: f.stat().st_mtime)
        stored.unlink()
    finally:
        platform.resume_workers()
    expect(competitor.locator("#status .status")).to_have_text("failed", timeout=SCORE_TIMEOUT * 1000)
    competitor.reload()
    expect(competitor.locator("#reason")).to_contain_text("missing on the server")
    member.close()

    # Anybody: a valid password reset link, mailed by the worker.
    anonymous = browser.new_context()
    visitor = anonymous.new_page()
    visitor.goto(base + "forgot")
    visitor.get_by_label("Email").fill(DEMO_EMAIL)
    visitor.get_by_role("button", name="Send the link").click()
    visitor.wait_for_load_state()
    reset = _reset_link(instance / "outbox", DEMO_EMAIL)
    visitor.goto(base.rstrip("/") + reset)
    expect(visitor.get_by_role("button", name="Set the password")).to_be_visible()  # the link is valid
    anonymous.close()

    # The organizer rescores the validation phase and waits for the run's preview.
    page.goto(base.rstrip("/") + val_phase + "/truth")
    page.get_by_role("button", name="Start rescoring").click()
    page.wait_for_url(re.compile(r".*/admin/rescore/\d+$"))
    run = _path(page.url)
    deadline = time.monotonic() + SCORE_TIMEOUT
    while 'http-equiv="refresh"' in page.content() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.goto(base.rstrip("/") + run)
    assert 'http-equiv="refresh"' not in page.content(), page.content()
    page.goto(base + "admin/submissions?challenge=ilsvrc2012-demo")
    demo_submission = page.locator("main table a[href^='/admin/submissions/']").first.get_attribute("href")
    assert demo_submission and re.fullmatch(r"/admin/submissions/\d+", demo_submission), page.content()
    context.close()

    console = [challenge, f"{challenge}/move", f"{challenge}/tracks/new", track, f"{track}/phases/new",
               val_phase, demo_phase, f"{val_phase}/boards", f"{demo_phase}/boards", f"{val_phase}/truth",
               f"{demo_phase}/truth", run, *teams[:2], demo_submission,
               *(f"/admin/submissions/{s.rsplit('/', 1)[-1]}" for s in (scored, failed)),
               # A closed year's entry as its organizers see it (scores, ReaL, chart).
               "/submissions/" + demo_submission.rsplit("/", 1)[-1]]
    return [reset], [scored, failed], console


def test_no_page_scrolls_sideways_on_a_phone_or_a_desktop(platform_url: Platform,  # noqa: F811
                                                           tmp_path: Path) -> None:
    base = str(platform_url)
    env = {**os.environ, "CHALLENGE_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "challenge", "users", "create", ORGANIZER[0], "--password",
                    ORGANIZER[1], "--organizer"], env=env, cwd=tmp_path, check=True, capture_output=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # Every year, track and results page the front page links to, and the demo user's pages.
            context = browser.new_context()
            page = context.new_page()
            page.goto(base)
            years = _links(page.content(), r'href="(/c/[^/"?#]+)"')
            results = _links(page.content(), r'href="(/results/[^/"?#]+)"')
            tracks = []
            for year in years:
                page.goto(base.rstrip("/") + year)
                tracks += _links(page.content(), r'href="(/c/[^/"?#]+/[^/"?#]+)"')
            _log_in(page, base, (DEMO_EMAIL, DEMO_PASSWORD))
            page.goto(base + "teams")
            page.locator("form[action$='/teams/create'] input[name='name']").first.fill("Phone Team")
            page.locator("form[action$='/teams/create'] button").first.click()
            team_page = _path(page.url)
            team_year = _links(page.content(), r'href="(/c/[^/"?#]+)"')
            context.close()
            assert years and tracks and len(results) > 1 and team_page.startswith("/teams/") and team_year, \
                (years, tracks, results, page.url)
            public, own, console = _pages_with_content(browser, platform_url, tmp_path / "instance",
                                                       team_year[0])
            # The year page's tabs (each its own page); My submissions is the team's.
            tabs = [f"{year}?tab={tab}" for year in years for tab in TABS]
            member = ["/teams", team_page, f"{team_page}/submissions", f"{team_page}/history", "/account",
                      *tracks[:3], team_year[0], f"{team_year[0]}?tab=submissions", *own]
            problems = []
            for scheme in ("light", "dark"):
                problems += _overflow(browser, base, PUBLIC + years + tabs + tracks + results + public, None,
                                      scheme)
                problems += _overflow(browser, base, member, (DEMO_EMAIL, DEMO_PASSWORD), scheme)
                problems += _overflow(browser, base, CONSOLE + console, ORGANIZER, scheme)
        finally:
            browser.close()
    assert problems == [], "pages wider than the window:\n" + "\n".join(problems)
