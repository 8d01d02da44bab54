"""The house's shape (docs/architecture.md): the parts, the import contracts, and the house rules.

The contracts live in pyproject.toml (``[tool.importlinter]``) and are checked here with
import-linter itself, on this checkout and on a copy with one violation planted, so a test
shows that each contract really catches what it names.
"""

from __future__ import annotations

import ast
import collections
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "debugger"
PARTS = ("core", "store", "server", "replay", "tui", "agents", "cli")
#: Where a function-level import of segdbg's own modules is allowed: start-up paths (docs/architecture.md).
LAZY_ALLOWED = ("cli", "pytest_plugin.py")


def _lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the ``debugger`` package found under ``root`` (its pyproject.toml)."""
    args = [
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
    ]
    args += ["--config", str(root / "pyproject.toml"), "--no-cache"]
    for contract in contracts:
        args += ["--contract", contract]
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    return subprocess.run(args, cwd=root, capture_output=True, text=True, env=env, timeout=120)


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(PACKAGE.rglob("*.py"))]


def test_the_package_shows_the_parts() -> None:
    """`ls debugger` is the whiteboard: the seven parts, the package face, and the pytest plugin."""
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries == {*PARTS, "__init__.py", "__main__.py", "pytest_plugin.py"}


def test_the_import_contracts_hold() -> None:
    """Layers, a pure core, a store without shells' packages, no cycles: import-linter keeps every contract."""
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


#: (contract, where the import is planted, the import): one wrong import each contract must catch.
PLANTED = [
    ("layers", "core/planted.py", "from debugger.store import capture\n"),  # the core reaching up
    ("layers", "tui/planted.py", "from debugger.server import app\n"),  # the TUI never imports the server
    ("layers", "store/planted.py", "from debugger.replay import run\n"),  # storage importing replay
    ("layers", "server/planted.py", "from debugger.agents import tools\n"),  # a shell below agents reaching up
    ("pure-core", "core/planted.py", "import mcp\n"),  # the MCP SDK is the agents part's alone
    ("pure-core", "core/planted.py", "import aiohttp\n"),
    ("store", "store/planted.py", "import click\n"),
    ("acyclic", "store/planted.py", "from debugger.store import reads\n"),
]


@pytest.mark.parametrize(("contract", "where", "line"), PLANTED, ids=[f"{c}-{w.split('/')[0]}" for c, w, _ in PLANTED])
def test_a_planted_violation_breaks_its_contract(contract: str, where: str, line: str, tmp_path: Path) -> None:
    """A copy of the package with one wrong import planted fails the contract that forbids it."""
    shutil.copytree(PACKAGE, tmp_path / "debugger", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "debugger" / where).write_text(line)
    if contract == "acyclic":  # the other half of the cycle: reads imports the planted module
        reads = tmp_path / "debugger" / "store" / "reads.py"
        reads.write_text(reads.read_text() + "\nfrom debugger.store import planted  # noqa: E402\n")
    result = _lint_imports(tmp_path, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 kept, 1 broken" in result.stdout
    assert "planted" in result.stdout


def test_the_core_loads_neither_sqlite3_nor_asyncio() -> None:
    """Every module of the pure core imports without SQLite, an event loop, or any shell's package."""
    heavy = ("sqlite3", "asyncio", "aiohttp", "textual", "rich", "click", "sqlite_utils")
    code = (
        "import importlib, pkgutil, sys, debugger.core as core\n"
        "names = [m.name for m in pkgutil.walk_packages(core.__path__, 'debugger.core.')]\n"
        "for name in names: importlib.import_module(name)\n"
        f"print(len(names), sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    count, loaded = result.stdout.split(" ", 1)
    assert int(count) > 30  # every module was imported, not just the package
    assert loaded.strip() == "[]"


def test_imports_are_at_the_top_outside_the_start_up_paths() -> None:
    """A function-level import of segdbg's own modules only in cli/ and the pytest plugin, each with a comment saying why."""
    misplaced, silent = [], []
    for path, tree in _modules():
        relative = path.relative_to(PACKAGE)
        lines = path.read_text().splitlines()
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if not any(n.startswith("debugger") for n in names) and not getattr(node, "level", 0):
                    continue
                where = f"{relative}:{node.lineno}"
                if relative.parts[0] not in LAZY_ALLOWED:
                    misplaced.append(where)
                # the comment is on the line, or on a line just above the block of imports
                above = node.lineno - 2
                while above >= 0 and lines[above].strip().startswith(("from ", "import ")):
                    above -= 1
                if "#" not in lines[node.lineno - 1] and not (above >= 0 and lines[above].strip().startswith("#")):
                    silent.append(where)
    assert misplaced == []
    assert silent == []


def test_sql_runs_only_in_the_store() -> None:
    """No ``execute()`` outside debugger/store: the store is the one owner of the SQL that runs."""
    outside = [
        f"{path.relative_to(PACKAGE)}:{node.lineno}"
        for path, tree in _modules()
        if path.relative_to(PACKAGE).parts[0] != "store"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in ("execute", "executemany", "executescript")
    ]
    assert outside == []


def test_each_constant_is_defined_once() -> None:
    """No module-level constant (UPPER_SNAKE name and literal value) is defined again in another module."""
    seen: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    for path, tree in _modules():
        for node in tree.body:
            if not isinstance(node, ast.Assign):
                continue
            try:
                value = repr(ast.literal_eval(node.value))
            except ValueError:
                continue
            for target in node.targets:
                names = [target] if isinstance(target, ast.Name) else getattr(target, "elts", [])
                for name in names:
                    if isinstance(name, ast.Name) and name.id.isupper():
                        seen[(name.id, value)].append(str(path.relative_to(PACKAGE)))
    assert {key: files for key, files in seen.items() if len(files) > 1} == {}
