"""No page scrolls sideways, on a phone (390 px) or a desktop (1280 px).

A real `challenge run` with the demo (see test_browser.py's fixture), Debian's chromium
through Playwright, three visitors: anonymous, a competitor with a team, an organizer.
Every public page (each year page's tabs too), the team pages and the console are opened
at both widths, in light and dark colour schemes; the page's scroll width must not exceed
the window's (a wide table may scroll inside its own box). Failures list every page and
width at once, and a screenshot of each goes to /tmp/e2e-responsive-*.png.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_browser import CHROMIUM, CHROMIUM_ARGS, Platform, platform_url  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

from playwright.sync_api import Browser, sync_playwright  # noqa: E402

from challenge.demo import DEMO_EMAIL, DEMO_PASSWORD  # noqa: E402

WIDTHS = (390, 1280)
TABS = ("data", "rules", "leaderboard")
ORGANIZER = ("ops@example.org", "organizer-pass-1")

PUBLIC = ["/", "/history", "/history/ilsvrc-demo", "/login", "/register", "/no/such/page", "/api/docs",
          "/results/ilsvrc2012-demo"]
CONSOLE = ["/admin/", "/admin/submissions", "/admin/workers", "/admin/audit", "/admin/boards",
           "/admin/moderation", "/admin/flags", "/admin/truth", "/admin/challenges/new",
           "/admin/challenges/1", "/admin/challenges/3",
           # The guiding console (issue 12, item 8): filtered lists, confirmation pages, bundle upload.
           "/admin/audit?action=challenge.load", "/admin/submissions?challenge=ilsvrc2012-demo&status=scored",
           "/admin/submissions?page=2", "/admin/challenges/1/results", "/admin/phases/1/publish",
           "/admin/bundles/upload"]


def _links(html: str, pattern: str) -> list[str]:
    return sorted(set(re.findall(pattern, html)))


def _overflow(browser: Browser, base: str, paths: list[str], login: tuple[str, str] | None,
              scheme: str) -> list[str]:
    found = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 800}, color_scheme=scheme)
        page = context.new_page()
        page.set_default_timeout(15_000)
        if login:
            page.goto(base + "login")
            page.get_by_label("Email").fill(login[0])
            page.get_by_label("Password").fill(login[1])
            page.get_by_role("button", name="Log in").click()
            page.wait_for_load_state()
        for path in paths:
            page.goto(base.rstrip("/") + path)
            wide = page.evaluate("document.documentElement.scrollWidth")
            if wide > width:
                name = re.sub(r"\W+", "-", path).strip("-") or "home"
                page.screenshot(path=f"/tmp/e2e-responsive-{name}-{width}-{scheme}.png", full_page=True)
                found.append(f"{path} at {width} px ({scheme}): {wide} px wide")
        context.close()
    return found


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
            # Every year and track page the front page links to, and the demo user's pages.
            context = browser.new_context()
            page = context.new_page()
            page.goto(base)
            years = _links(page.content(), r'href="(/c/[^/"?#]+)"')
            tracks = []
            for year in years:
                page.goto(base.rstrip("/") + year)
                tracks += _links(page.content(), r'href="(/c/[^/"?#]+/[^/"?#]+)"')
            page.goto(base + "login")
            page.get_by_label("Email").fill(DEMO_EMAIL)
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.goto(base + "teams")
            page.locator("form[action$='/teams/create'] input[name='name']").first.fill("Phone Team")
            page.locator("form[action$='/teams/create'] button").first.click()
            team_page = re.sub(r"^https?://[^/]+", "", page.url)
            team_year = _links(page.content(), r'href="(/c/[^/"?#]+)"')
            context.close()
            assert years and tracks and team_page.startswith("/teams/") and team_year, \
                (years, tracks, page.url)
            # The year page's tabs (each its own page); My submissions is the team's.
            tabs = [f"{year}?tab={tab}" for year in years for tab in TABS]
            member = ["/teams", team_page, f"{team_page}/submissions", f"{team_page}/history", "/account",
                      *tracks[:3], team_year[0], f"{team_year[0]}?tab=submissions"]
            problems = []
            for scheme in ("light", "dark"):
                problems += _overflow(browser, base, PUBLIC + years + tabs + tracks, None, scheme)
                problems += _overflow(browser, base, member, (DEMO_EMAIL, DEMO_PASSWORD), scheme)
                problems += _overflow(browser, base, CONSOLE, ORGANIZER, scheme)
        finally:
            browser.close()
    assert problems == [], "pages wider than the window:\n" + "\n".join(problems)
