"""turnout.api's exports: each resolves to what it names, and importing the package is cheap."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys

from turnout import api


def test_every_export_is_a_function_or_type_even_after_every_module_is_imported() -> None:
    """No submodule shadows a function of the same name once it has been imported."""
    for module in set(api._EXPORTS.values()):
        importlib.import_module(
            module if module.startswith("turnout.") else f"turnout.api.{module}"
        )
    for name in api.__all__:
        value = getattr(api, name)
        assert not inspect.ismodule(value), name


def test_importing_the_api_loads_neither_engine_nor_store_nor_models() -> None:
    """`import turnout.api` imports no engine, state store, configuration models or HTTP."""
    probe = (
        "import sys, turnout.api; heavy = {'turnout.runbook.engine', 'turnout.store', 'pydantic',"
        " 'sqlalchemy', 'httpx', 'turnout.config.root'}; print(sorted(heavy & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_every_name_the_source_imports_from_the_api_is_exported() -> None:
    """Each `from turnout.api import X` under src/ and benchmarks/ names an export (the
    package's lazy __getattr__ hides a missing one from the type checker)."""
    import ast
    from pathlib import Path

    root = Path(api.__file__).parents[2]
    missing: set[str] = set()
    for path in [*root.joinpath("turnout").rglob("*.py"), *root.parent.glob("benchmarks/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "turnout.api":
                missing.update(a.name for a in node.names if a.name not in api.__all__)
    assert missing == set()
