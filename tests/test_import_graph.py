"""The source's import graph has no cycles, counting imports inside functions too."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that runs (at module level or in a function), leaving out
    `if TYPE_CHECKING:` blocks, which only the type checker reads."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for branch in node.orelse:
                visit(branch)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _import_graph() -> dict[str, set[str]]:
    paths = {
        _module_name(path): path
        for path in SOURCE.joinpath("turnout").rglob("*.py")
        # The sample app is a separate program shipped as data, not part of turnout's graph.
        if "examples" not in path.relative_to(SOURCE).parts
    }
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                graph[name].update(alias.name for alias in node.names if alias.name in paths)
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in paths:
                    graph[name].add(f"{target}.{alias.name}")
                elif target in paths:
                    graph[name].add(target)
        graph[name].discard(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                connect(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            connect(module)
    return components


def test_the_source_has_no_import_cycles() -> None:
    """No two turnout modules import each other, directly or through others, at any depth."""
    assert _cycles(_import_graph()) == []


def test_the_cycle_finder_sees_a_cycle_through_a_function_level_import() -> None:
    """The check can fail: a cycle closed by an import inside a function is found."""
    tree = ast.parse("def f():\n    from turnout.b import x\n")
    imports = _runtime_imports(tree)
    assert [node.module for node in imports if isinstance(node, ast.ImportFrom)] == ["turnout.b"]
    assert _cycles({"turnout.a": {"turnout.b"}, "turnout.b": {"turnout.a"}}) == [
        ["turnout.a", "turnout.b"]
    ]
