"""/api/docs: the API reference for people, from the same OpenAPI document, no CDN."""

from __future__ import annotations

import re

from challenge.api.openapi import DOCUMENT


def test_api_docs_list_every_operation_and_object(client, db) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            assert f'id="{op["operationId"]}"' in page, op["operationId"]
            assert f"<code>{method.upper()} /api/v1{path}</code>" in page
    for name in DOCUMENT["components"]["schemas"]:
        assert f'id="schema-{name}"' in page, name
    assert "<code>next_before</code>" in page and "integer (from 1 to 200)" in page
    # Rendered here: no script, nothing loaded from another host.
    assert "<script" not in page
    assert not re.search(r'(src|href)="https?://', page)
    assert 'href="/api/v1/openapi.json"' in page
