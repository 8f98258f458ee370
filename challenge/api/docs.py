"""``/api/docs``: the API's reference for people, rendered on the server from the very
OpenAPI document the API serves (``/api/v1/openapi.json``), so the two never disagree.
No script and nothing from a CDN: it is a plain page under the site's own style."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from challenge.api.openapi import DOCUMENT, document

bp = Blueprint("api_docs", __name__, url_prefix="/api")
METHODS = ("get", "post", "put", "patch", "delete")


def ticks(text: str) -> Markup:
    """The document's prose, escaped, with `backticks` as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text or ""))))


def type_of(schema: dict[str, Any]) -> str:
    """A schema in a few words: 'string', 'integer (1 to 200)', 'Submission', 'list of Entry'."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "oneOf" in schema:
        return " or ".join(type_of(s) for s in schema["oneOf"])
    if "enum" in schema:
        return "one of " + ", ".join(map(str, schema["enum"]))
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if kind == "array":
        return f"list of {type_of(schema.get('items', {}))}"
    bounds = [f"{'from' if k == 'minimum' else 'to'} {schema[k]}"
              for k in ("minimum", "maximum") if k in schema]
    if schema.get("format"):
        kind += f" ({schema['format']})"
    return kind + (f" ({' '.join(bounds)})" if bounds else "")


@dataclass
class Operation:
    method: str
    path: str
    anchor: str
    summary: str
    token: bool
    parameters: list[dict[str, Any]]
    body: str
    responses: list[tuple[str, str, str]]  # code, description, type


def operations() -> list[Operation]:
    out = []
    for path, item in DOCUMENT["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = ""
            if "requestBody" in op:
                content = op["requestBody"]["content"]
                body = ", ".join(f"{kind}: {type_of(c.get('schema', {}))}" for kind, c in content.items())
            responses = []
            for code, answer in op["responses"].items():
                content = answer.get("content", {})
                shown = ", ".join(type_of(c.get("schema", {})) if kind == "application/json" else kind
                                  for kind, c in content.items())
                responses.append((code, answer.get("description", ""), shown))
            out.append(Operation(method.upper(), DOCUMENT["servers"][0]["url"] + path, op["operationId"],
                                 op.get("summary", ""), bool(op.get("security")),
                                 op.get("parameters", []), body, responses))
    return out


@bp.get("/docs")
def api_docs() -> ResponseReturnValue:
    document()  # the registry's task names
    return render_template("api/docs.html", doc=DOCUMENT, operations=operations(),
                           schemas=DOCUMENT["components"]["schemas"], type_of=type_of, ticks=ticks)
