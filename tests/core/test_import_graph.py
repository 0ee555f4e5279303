"""The layering, read from the source with ``ast``: the API never imports the composition
root, services import neither it nor the API, ``appliance/`` has no import cycle and never
imports the tests."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "appliance"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_level(tree: ast.Module) -> set[int]:
    """Ids of the import nodes that run (or are declared for type checkers) at load time:
    the module body, ``if TYPE_CHECKING:`` blocks included; imports inside functions
    (deferred on purpose) are not edges of the load-time graph."""
    found: set[int] = set()
    for node in tree.body:
        found.add(id(node))
        if isinstance(node, ast.If | ast.Try):
            found.update(id(sub) for sub in ast.walk(node))
    return found


def _imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(imported module, at module level) for every import in ``path``; relative imports
    resolved; ``from pkg import name`` yields ``pkg.name`` too (it may be a module)."""
    yield from _parsed_imports(path)


@functools.cache
def _parsed_imports(path: Path) -> tuple[tuple[str, bool], ...]:
    return tuple(_walk_imports(path))


def _walk_imports(path: Path) -> Iterator[tuple[str, bool]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = _module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    top_level = _module_level(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top_level
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            yield module, id(node) in top_level
            for alias in node.names:
                yield f"{module}.{alias.name}", id(node) in top_level


def _graph() -> dict[str, set[str]]:
    """Module -> the ``appliance`` modules it imports at module level (load-time edges)."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {
            target for target, top in _imports(path) if top and target in modules and target != name
        }
    return graph


def _all_imports(prefix: str) -> Iterator[tuple[str, str]]:
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        if name == prefix or name.startswith(prefix + "."):
            for target, _ in _imports(path):
                yield name, target


def _hits(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{name} imports {target}"
        for name, target in _all_imports(prefix)
        if any(target == f or target.startswith(f + ".") for f in forbidden)
    )


def test_api_never_imports_the_composition_root() -> None:
    """Nothing in appliance/api imports appliance.wiring or appliance.server (not even for
    type checking)."""
    assert not _hits("appliance.api", ("appliance.wiring", "appliance.server"))


def test_services_import_neither_wiring_nor_api() -> None:
    """appliance/services depends on neither the composition root nor the HTTP layer."""
    assert not _hits(
        "appliance.services", ("appliance.wiring", "appliance.server", "appliance.api")
    )


def test_nothing_in_appliance_imports_the_tests() -> None:
    """The product package never imports from tests/."""
    assert not _hits("appliance", ("tests",))


def test_no_import_cycles_in_appliance() -> None:
    """The load-time import graph of appliance/ (type-checking imports included) is acyclic
    (Tarjan's strongly connected components all of size 1)."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def connect(node: str) -> None:  # iterative Tarjan would be longer; the graph is small
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    assert not cycles, cycles


def test_the_graph_walk_sees_real_edges() -> None:
    """The walk is not vacuous: it finds the API's import of the services it injects."""
    graph = _graph()
    assert "appliance.services.ingest" in graph["appliance.api.items"]
    assert len(graph) > 100
