"""The storage boundary: SQL and the database live in watcher/store and nowhere else.

Every other package calls the store's typed functions, so that a second database
(PostgreSQL) changes watcher/store alone. Read from the source, not from imports
at run time: a module that only imports sqlalchemy inside a function counts too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import watcher

PACKAGE = Path(watcher.__file__).parent
STORE = PACKAGE / "store"
DATABASE_MODULES = ("sqlalchemy", "alembic", "sqlite3")


def _store_module(name: str) -> bool:
    return name == "watcher.store" or name.startswith("watcher.store.")


def offences(source: str, where: str) -> list[str]:
    """``where:line: what`` for each database import and each private store name used."""
    tree = ast.parse(source)
    found: list[str] = []
    store_names: set[str] = set()  # local names bound to watcher.store or a module in it

    def offence(node: ast.AST, what: str) -> None:
        found.append(f"{where}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in DATABASE_MODULES:
                    offence(node, f"imports {alias.name}")
                if _store_module(alias.name) and alias.asname:
                    store_names.add(alias.asname)  # without one, the dotted name is used
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] in DATABASE_MODULES:
                offence(node, f"imports from {node.module}")
            if _store_module(node.module):
                for alias in node.names:
                    if alias.name.startswith("_"):
                        offence(node, f"imports private {node.module}.{alias.name}")
                    if node.module == "watcher.store":  # a module of the store
                        store_names.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            base = _dotted(node.value)
            private = not node.attr.startswith("__")
            if private and (base in store_names or _store_module(base)):
                offence(node, f"uses private {base}.{node.attr}")
    return sorted(set(found), key=lambda f: int(f.split(":")[1]))


def _dotted(node: ast.expr) -> str:
    """``a.b.c`` for a chain of names, "" for anything else."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    return ""


def test_no_module_outside_the_store_touches_the_database_or_store_privates() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if STORE in path.parents:
            continue
        where = str(path.relative_to(PACKAGE.parent))
        found.extend(offences(path.read_text("utf-8"), where))
    assert not found, "outside watcher/store:\n" + "\n".join(found)


def test_the_check_finds_each_kind_of_offence() -> None:
    source = "\n".join(
        [
            "import sqlalchemy as sa",
            "from alembic import command",
            "import sqlite3",
            "from sqlalchemy.orm import Session",
            "from watcher.store.index import Store, _capture_query",
            "from watcher.store import outbox",
            "import watcher.store.index",
            "import watcher.store.schema as schema_module",
            "def f(store):",
            "    import sqlalchemy",
            "    outbox._values(None)",
            "    watcher.store.index._to_capture(None)",
            "    schema_module._private",
            "    store._lock, store.engine, outbox.insert, outbox.__name__, watcher._x",
        ]
    )
    assert offences(source, "watcher/x.py") == [
        "watcher/x.py:1: imports sqlalchemy",
        "watcher/x.py:2: imports from alembic",
        "watcher/x.py:3: imports sqlite3",
        "watcher/x.py:4: imports from sqlalchemy.orm",
        "watcher/x.py:5: imports private watcher.store.index._capture_query",
        "watcher/x.py:10: imports sqlalchemy",
        "watcher/x.py:11: uses private outbox._values",
        "watcher/x.py:12: uses private watcher.store.index._to_capture",
        "watcher/x.py:13: uses private schema_module._private",
    ]


def test_the_web_routers_do_not_import_the_app() -> None:
    """The app imports the routers; they find what they need through
    watcher.web.context, so there is no import cycle."""
    found = []
    for path in sorted((PACKAGE / "web").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            if path.name != "app.py" and "watcher.web.app" in names:
                found.append(f"web/{path.name}:{node.lineno}")
    assert not found, "imports watcher.web.app: " + ", ".join(found)
