"""The package's shape holds: data flows one way down the pipeline's layers, SQL
stays in the store, and no module imports another that imports it back.

The layers and the SQL boundary are import-linter contracts in pyproject.toml
(`lint-imports` prints the same); the cycle check covers what layers cannot see,
modules of one package importing each other.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("watcher")


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout[run.stdout.find("Broken contracts") :]
    assert "Contracts: 2 kept, 0 broken." in run.stdout


def test_no_module_imports_one_that_imports_it_back(graph: grimp.ImportGraph) -> None:
    cycles = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycles.append(" -> ".join((importer, *back)))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_a_wrong_way_arrow_is_caught(graph: grimp.ImportGraph) -> None:
    """The contract can fail: a store module importing the check breaks the layers."""
    graph.add_import(importer="watcher.store.blobs", imported="watcher.check.checker")
    try:
        illegal = graph.find_illegal_dependencies_for_layers(
            layers=("watcher.check", "watcher.store"), containers=set()
        )
        assert illegal, "a store module importing check/ went unnoticed"
    finally:
        graph.remove_import(importer="watcher.store.blobs", imported="watcher.check.checker")
