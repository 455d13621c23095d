"""The command line holds no application logic: its modules import only turnout.api, the
command line's own modules and rendering helpers (imports inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import turnout.cli

CLI = Path(turnout.cli.__file__).parent
# What a command may use besides the API: errors to end with (exit codes), text helpers
# for rendering, the version syntax checked while options are parsed, and the demo, which
# drives the API itself.
ALLOWED = ("turnout.api", "turnout.cli", "turnout.errors", "turnout.text", "turnout.versions")
ALLOWED_IN = {
    "demo_cmd.py": ("turnout.demo",),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return {name for name in found if name == "turnout" or name.startswith("turnout.")}


def _allowed(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_cli_modules_import_only_the_api_and_rendering_helpers() -> None:
    """Every turnout module a cli/ module imports is the API, cli/ itself or a helper."""
    wrong: dict[str, list[str]] = {}
    for path in sorted(CLI.glob("*.py")):
        extra = ALLOWED_IN.get(path.name, ())
        bad = sorted(n for n in _imports(path) if not _allowed(n, ALLOWED + extra))
        if bad:
            wrong[path.name] = bad
    assert wrong == {}


def test_the_boundary_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    """An import of the engine inside a function body counts as an import."""
    module = tmp_path / "sample.py"
    module.write_text("def run() -> None:\n    from turnout.runbook.engine import Engine\n")
    assert _imports(module) == {"turnout.runbook.engine"}
