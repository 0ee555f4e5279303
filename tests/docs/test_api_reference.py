"""docs/api-reference.md is what the generator makes from the app's OpenAPI schema."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location(
        "generate_api_reference", DOCS / "generate_api_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_matches_the_openapi_schema() -> None:
    """The committed reference equals a fresh rendering of the served schema, and names
    every operation of it."""
    generator = _generator()
    schema = generator.openapi_schema()
    expected = generator.render(schema)
    committed = (DOCS / "api-reference.md").read_text(encoding="utf-8")
    assert committed == expected, (
        f"docs/api-reference.md is stale: regenerate it with `{generator.COMMAND}` "
        "(from the repository root) and commit the result"
    )
    for path, item in schema["paths"].items():
        for method in item:
            if method in generator.METHODS:
                assert f"### `{method.upper()} {path}`" in committed
