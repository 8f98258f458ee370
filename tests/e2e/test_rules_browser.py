"""Rules and announcements in a real browser, on a phone (390 px) and a desktop (1280 px).

A real `challenge run` with the demo; the organizer's commands (`challenge rules`,
`challenge announce`) run against its database as they would on the server. The demo
user cannot create a team without ticking the rules box (the browser itself stops the
form), then does; after the rules change, their next upload lands on the rules page,
where accepting sends them back to the track page and the upload goes through. No page
involved scrolls sideways, and no script in the organizers' Markdown runs.
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

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from challenge.demo import DEMO_EMAIL, DEMO_PASSWORD  # noqa: E402

ORGANIZER = ("rules-ops@example.org", "organizer-pass-1")
RULES = """# Official rules

1. One account per person; teams of up to **five**.
2. No hand labelling of the test images.

<script>document.title = 'owned'</script> [prize](javascript:document.title='owned')

| Prize | Amount |
|---|---|
| First | a very long prize description that must wrap on a phone rather than widen the page |

`averyveryveryveryveryveryveryveryveryverylongidentifierwithoutanybreakopportunityatall`
"""


def _cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "challenge", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wide(page: Page, width: int) -> bool:
    return page.evaluate("document.documentElement.scrollWidth") > width


def _login(page: Page, base: str, email: str, password: str) -> None:
    page.goto(base + "login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_rules_gate_and_announcements_in_a_browser(platform_url: Platform, tmp_path: Path) -> None:  # noqa: F811
    base = str(platform_url)
    env = {**os.environ, "CHALLENGE_INSTANCE": str(tmp_path / "instance")}
    env.pop("DATABASE_URL", None)
    _cli(env, tmp_path, "users", "create", ORGANIZER[0], "--password", ORGANIZER[1], "--organizer")
    rules_file, news_file = tmp_path / "rules.md", tmp_path / "news.md"
    rules_file.write_text(RULES)
    news_file.write_text("The **test set** is out. <script>document.title = 'owned'</script>\n")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 800})
            page.set_default_timeout(15_000)
            _login(page, base, DEMO_EMAIL, DEMO_PASSWORD)
            page.goto(base + "teams")
            section = page.locator("section.join-or-create").first
            # The first challenge the demo user can still join: its title names it on the front page.
            title = section.locator("h2").inner_text()
            page.goto(base)
            slug = re.search(r"/c/([^/\"?#]+)", page.locator("main a", has_text=title).first
                             .get_attribute("href") or "")
            assert slug, title
            slug = slug.group(1)
            assert "now version 1" in _cli(env, tmp_path, "rules", slug, "--file", str(rules_file))
            _cli(env, tmp_path, "announce", slug, "--title", "Test set released",
                 "--body-file", str(news_file))

            # Creating a team: the browser refuses the form until the rules box is ticked.
            page.goto(base + "teams")
            form = page.locator("form[action$='/teams/create']").first
            form.locator("input[name='name']").fill("Rule Keepers")
            form.get_by_role("button", name="Create team").click()
            assert page.url.endswith("/teams")
            assert form.locator("input[name='accept_rules']").evaluate("box => !box.validity.valid")
            form.get_by_label(re.compile("I have read")).check()
            form.get_by_role("button", name="Create team").click()
            expect(page.locator("main h1")).to_have_text("Rule Keepers")

            # The year page: the announcement, rendered, its script shown as text and never run.
            page.goto(f"{base}c/{slug}")
            announcement = page.locator("#announcements .announcement").first
            expect(announcement.locator("h3")).to_have_text("Test set released")
            expect(announcement.locator("strong")).to_have_text("test set")
            expect(announcement).to_contain_text("<script>")
            rules_link = page.locator(".rules-link").get_by_role("link", name="Rules")
            expect(rules_link).to_be_visible()
            expect(page.locator("nav.tabs").get_by_role("link", name="Rules")).to_be_visible()
            assert page.title() != "owned"
            assert not _wide(page, 390)
            rules_link.click()
            expect(page.locator("main h1")).to_have_text("Rules")
            expect(page.locator("#accepted")).to_contain_text("You accepted version 1")
            expect(page.locator(".rules-text table")).to_be_visible()
            assert page.title() != "owned"
            assert not _wide(page, 390), "the rules page scrolls sideways at 390 px"

            # The rules change: the next upload leads to the rules page, then back.
            rules_file.write_text(RULES + "\n3. Two final submissions per team.\n")
            assert "now version 2" in _cli(env, tmp_path, "rules", slug, "--file", str(rules_file))
            page.goto(f"{base}c/{slug}")
            page.locator(f"main a[href^='/c/{slug}/']").first.click()
            track_url = page.url
            with page.expect_download() as download:
                page.locator("main a[href*='sample']").first.click()
            sample = tmp_path / "sample.txt"
            download.value.save_as(sample)
            page.set_input_files("#file", str(sample))
            page.get_by_label("No, provided data only").check()
            page.get_by_role("button", name="Upload").click()
            page.wait_for_url(re.compile(rf".*/challenges/{slug}/rules\?next=.*"))
            expect(page.locator(".flash.error")).to_contain_text("Upload refused: the rules of")
            expect(page.locator("#accept-rules")).to_contain_text(
                "The rules changed since you accepted version 1")
            assert not _wide(page, 390)
            page.locator("#accept-rules").get_by_label(re.compile("I have read these rules")).check()
            page.get_by_role("button", name="Accept the rules").click()
            page.wait_for_url(track_url.split("?")[0] + "*")
            expect(page.locator(".flash.success")).to_contain_text("You accepted version 2")
            page.set_input_files("#file", str(sample))
            page.get_by_label("No, provided data only").check()
            page.get_by_role("button", name="Upload").click()
            page.wait_for_url(re.compile(r".*/submissions/\d+$"))
            page.close()

            # Both widths: the pages this adds, for the member and the organizer.
            wide = []
            for width in (390, 1280):
                for who, paths in (((DEMO_EMAIL, DEMO_PASSWORD),
                                    [f"/c/{slug}", f"/challenges/{slug}/rules",
                                     f"/challenges/{slug}/rules?version=1", "/teams", "/account"]),
                                   (ORGANIZER, ["/admin/challenges/1/rules",
                                                "/admin/challenges/1/announcements"])):
                    context = browser.new_context(viewport={"width": width, "height": 800})
                    page = context.new_page()
                    _login(page, base, *who)
                    for path in paths:
                        page.goto(base.rstrip("/") + path)
                        if _wide(page, width):
                            wide.append(f"{path} at {width} px")
                    context.close()
            assert wide == [], "pages wider than the window: " + ", ".join(wide)
        finally:
            browser.close()
