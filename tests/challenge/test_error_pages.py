"""Errors people can read: the site's styled page with what happened, JSON under /api/."""

from __future__ import annotations


def test_unknown_page_is_a_styled_404(client, db) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert '<header class="site">' in page and "<h1>Page not found</h1>" in page
    assert 'href="/favicon.ico"' not in page and "favicon.svg" in page


def test_unknown_api_path_and_wrong_method_answer_json(client, db) -> None:
    missing = client.get("/api/v1/no/such/thing")
    assert missing.status_code == 404 and missing.mimetype == "application/json"
    assert "no page at this address" in missing.get_json()["error"]
    wrong = client.delete("/api/v1/challenges")
    assert wrong.status_code == 405 and wrong.mimetype == "application/json"
    assert "GET" in wrong.headers["Allow"] and wrong.get_json()["error"]


def test_too_large_upload_page_says_the_limit(app, client, db, make_user, make_challenge, make_team) -> None:
    user = make_user()
    make_team(make_challenge(), user)
    client.post("/login", data={"email": user.email, "password": "password123"})
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    response = client.post("/c/tiny2012/cls/submissions", data=b"x" * (3 * 1024 * 1024),
                           content_type="application/octet-stream")
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "<h1>File too large</h1>" in page and "limit of 2 MB (2097152 bytes)" in page


def test_favicon_is_served(client, db) -> None:
    with client.get("/favicon.ico") as response:
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        assert response.get_data(as_text=True).startswith("<svg")


def test_a_crash_shows_a_page_that_reveals_nothing(app) -> None:
    # As in production: the error handler answers instead of the test client raising.
    app.testing = False
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom")
    def boom() -> str:
        raise RuntimeError("secret detail of the ground truth")

    @app.get("/api/v1/boom")
    def api_boom() -> str:
        raise RuntimeError("secret detail of the ground truth")

    client = app.test_client()
    page = client.get("/boom")
    assert page.status_code == 500 and "<h1>Something went wrong</h1>" in page.get_data(as_text=True)
    assert "secret" not in page.get_data(as_text=True)
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and "secret" not in api.get_data(as_text=True)
    assert api.get_json()["error"].startswith("The server could not answer")
