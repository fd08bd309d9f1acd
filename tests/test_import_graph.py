"""The package's imports run one way: target → sinks → batching → delivery → client → answers.

Imports under `TYPE_CHECKING` count too: a module that names the one above it, even for a
type, is tied to it.
"""

from __future__ import annotations

import ast
import pathlib

import target_shopimind

PACKAGE = pathlib.Path(target_shopimind.__file__).parent
# Top first; a module may import the layers below its own, never one above.
LAYERS: list[set[str]] = [
    {"target"},
    {"sinks", "child_sink", "custom_sink", "sink_base"},
    {"batching", "context"},
    {"delivery"},
    {"client"},
    {"answers"},
]


def _imports(path: pathlib.Path) -> set[str]:
    """The package modules `path` imports (first name below `target_shopimind`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        for name in names:
            parts = name.split(".")
            if parts[0] == "target_shopimind" and len(parts) > 1 and (PACKAGE / f"{parts[1]}.py").exists():
                found.add(parts[1])
    return found


def _graph() -> dict[str, set[str]]:
    return {
        str(path.relative_to(PACKAGE).with_suffix("")).replace("/", "."): _imports(path)
        for path in PACKAGE.rglob("*.py")
    }


def test_no_module_imports_the_target() -> None:
    graph = _graph()
    assert "sinks" in graph
    assert graph["target"] >= {"sinks", "delivery"}  # the check sees the imports it is about
    importers = sorted(module for module, imports in graph.items() if "target" in imports and module != "target")
    assert importers == []


def test_no_module_imports_a_layer_above_its_own() -> None:
    graph = _graph()
    upward = []
    for depth, layer in enumerate(LAYERS):
        above = set().union(*LAYERS[:depth])
        upward += [(module, sorted(graph[module] & above)) for module in sorted(layer) if graph[module] & above]
    assert upward == []
