"""Render docs/api-reference.md from the OpenAPI schema of the app itself.

    python docs/generate_api_reference.py          # rewrite docs/api-reference.md
    python docs/generate_api_reference.py --check  # exit 1 when the file is stale

The app is built as the server builds it (an initialised data dir in a temporary folder,
no encoders, nothing served) and its schema is rendered to Markdown, deterministically:
operations in path order, components in name order. tests/docs/test_api_reference.py
fails when the committed file differs from this output.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parent / "api-reference.md"
COMMAND = "python docs/generate_api_reference.py"
METHODS = ("get", "post", "put", "patch", "delete")


def openapi_schema() -> dict[str, Any]:
    """The app's OpenAPI document, built over a throwaway data dir."""
    from appliance.api.app import create_app
    from appliance.server import api_services
    from appliance.settings import load_settings
    from appliance.wiring import init_appliance, open_appliance

    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp) / "data", environ={})
        init_appliance(settings, environ={})
        appliance = open_appliance(settings, environ={})
        try:
            app = create_app(api_services(appliance))
            schema = app.openapi_schema.to_schema()
        finally:
            appliance.close()
    return json.loads(json.dumps(schema, sort_keys=True))


def type_of(schema: dict[str, Any]) -> str:
    """A short Markdown rendering of a JSON schema's type."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return f"[{name}](#{name.lower()})"
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return " or ".join(type_of(s) for s in schema[key])
    if "enum" in schema:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if kind == "object" and "properties" not in schema:
        return "object"
    return str(kind)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _properties(schema: dict[str, Any]) -> list[str]:
    props = schema.get("properties", {})
    if not props:
        return []
    required = set(schema.get("required", []))
    rows = ["| field | type | required | description |", "| --- | --- | --- | --- |"]
    for name, spec in props.items():
        mark = "yes" if name in required else ""
        rows.append(
            f"| `{name}` | {type_of(spec)} | {mark} | {_cell(spec.get('description', ''))} |"
        )
    return rows


def _operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        lines += [_cell(op["summary"]), ""]
    if op.get("description"):
        lines += [op["description"].strip(), ""]
    params = op.get("parameters", [])
    if params:
        lines += [
            "| parameter | in | type | required | description |",
            "| --- | --- | --- | --- | --- |",
        ]
        for p in params:
            lines.append(
                f"| `{p['name']}` | {p['in']} | {type_of(p.get('schema', {}))} | "
                f"{'yes' if p.get('required') else ''} | {_cell(p.get('description', ''))} |"
            )
        lines.append("")
    body = op.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        lines += [f"Request body (`{media}`): {type_of(content.get('schema', {}))}", ""]
    lines += ["| status | meaning | body |", "| --- | --- | --- |"]
    for status, response in op.get("responses", {}).items():
        content = response.get("content", {})
        shape = "; ".join(f"`{m}` {type_of(c.get('schema', {}))}" for m, c in content.items())
        lines.append(f"| {status} | {_cell(response.get('description', ''))} | {shape} |")
    return [*lines, ""]


def render(schema: dict[str, Any]) -> str:
    """The whole reference page."""
    info = schema.get("info", {})
    lines = [
        "# API reference",
        "",
        f"Generated from the OpenAPI document of the app ({info.get('title', '')}, version "
        f"{info.get('version', '')}, OpenAPI {schema.get('openapi', '')}) by `{COMMAND}`; "
        "do not edit by hand. The served document is `GET /schema/openapi.json`. Bodies, "
        "errors, roles and limits are explained in [api.md](api.md).",
        "",
        "Every route but `/healthz`, `/readyz` and `/metrics` needs `Authorization: Bearer "
        '<token>`; errors are `{"error": {"code", "message", "remedy"}}` (codes in '
        "[operator-guide.md](operator-guide.md#troubleshooting-by-error-code)).",
        "",
        "## Operations",
        "",
    ]
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                lines += _operation(path, method, item[method])
    components = schema.get("components", {}).get("schemas", {})
    if components:
        lines += ["## Schemas", ""]
        for name, spec in components.items():
            lines += [f"### {name}", ""]
            if spec.get("description"):
                lines += [_cell(spec["description"]), ""]
            rows = _properties(spec)
            lines += [*(rows or [f"Type: {type_of(spec)}"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    """Write the page, or with --check say whether it is current."""
    text = render(openapi_schema())
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is stale: run `{COMMAND}`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main(sys.argv[1:]))
