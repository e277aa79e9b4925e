"""seje_sdk's import graph, read from the source with ast: no circle, and no module importing a package above it.

Every import counts, also those inside functions (a lazy import still ties two modules together);
imports under `if TYPE_CHECKING:` do not run and are left out.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "seje_sdk"


def _module_names() -> dict[str, Path]:
    """{dotted name: file} for every module of the package (a package is named by its __init__)."""
    names = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: dict[str, Path]) -> set[str]:
    """The package modules an import statement loads (for `from a import b`: a.b if it is a module, else a)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    base = node.module or ""
    if node.level:
        anchor = importer.split(".") if is_package else importer.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join(anchor + ([base] if base else []))
    out = set()
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            out.add(f"{base}.{alias.name}")
        elif base in modules:
            out.add(base)
    return out


def import_graph() -> dict[str, set[str]]:
    """{module: modules of seje_sdk it imports}."""
    modules = _module_names()
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = set().union(*(_targets(n, name, is_package, modules) for n in _imports(tree))) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as [a, b, ..., a], or [] when the graph has none (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return []

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return []


def test_graph_sees_the_modules_and_their_imports():
    graph = import_graph()
    assert {"seje_sdk", "seje_sdk.retriever", "seje_sdk.indexes", "seje_sdk.version", "seje_sdk.backends.base"} <= set(graph)
    assert "seje_sdk.index" in graph["seje_sdk.indexes"] and "seje_sdk.errors" in graph["seje_sdk.index"]
    lazy = ast.parse("def f():\n    import seje_sdk.bundle\nif TYPE_CHECKING:\n    from seje_sdk import text\n")
    assert [n.names[0].name for n in _imports(lazy)] == ["seje_sdk.bundle"]  # inside a function counts, TYPE_CHECKING does not


def test_find_cycle_reports_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) == []


def test_seje_sdk_has_no_import_circle():
    assert find_cycle(import_graph()) == []


def test_no_module_imports_a_package_above_it():
    """A module never imports its own package's __init__ (say, for __version__): that import runs back up."""
    graph = import_graph()
    packages = {name for name, path in _module_names().items() if path.name == "__init__.py"}
    upward = sorted((name, target) for name, targets in graph.items() for target in targets
                    if target in packages and name.startswith(target + "."))
    assert upward == []
