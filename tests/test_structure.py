"""The shape of the code, checked: imports point one way, no cycles, small modules and
functions, SQLAlchemy and the ORM only inside ``storage/``.

These read the source (``ast``), so they hold for every import, including the ones made
inside a function to keep a process light.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = (
    "scheduler",
    "console",
    "publisher",
    "crawler",
    "storage",
)  # imports point left to right only
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    tree: ast.Module
    lines: int

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


def modules() -> list[Module]:
    found = []
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(REPO).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            source = path.read_text(encoding="utf-8")
            found.append(Module(name, path, ast.parse(source), len(source.splitlines())))
    return found


def imported(module: Module) -> Iterator[tuple[str, int]]:
    """(imported module name, line) for every import statement, wherever it is."""
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{module.path}:{node.lineno}: relative import"
            yield node.module, node.lineno
            for alias in node.names:  # `from crawler import settings` imports a module
                yield f"{node.module}.{alias.name}", node.lineno


def internal_graph() -> dict[str, set[str]]:
    names = {m.name for m in modules()}
    graph: dict[str, set[str]] = {}
    for module in modules():
        graph[module.name] = {
            target for target, _ in imported(module) if target in names and target != module.name
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
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
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    graph = internal_graph()
    assert len(graph) > 40  # the walk found the packages
    assert cycles(graph) == []


def test_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_imports_point_from_the_scheduler_to_the_crawler_to_storage() -> None:
    wrong = []
    for module in modules():
        allowed = PACKAGES[PACKAGES.index(module.package) :]
        for target, line in imported(module):
            top = target.split(".")[0]
            if top in PACKAGES and top not in allowed:
                wrong.append(f"{module.path.relative_to(REPO)}:{line} imports {target}")
    assert wrong == []


def test_only_storage_touches_the_database_layer() -> None:
    """SQLAlchemy, Alembic and the ORM classes (storage.models) stay inside storage/: the
    CLI and the crawler get plain records."""
    wrong = []
    for module in modules():
        if module.package == "storage":
            continue
        for target, line in imported(module):
            if target.split(".")[0] in ("sqlalchemy", "alembic") or target.startswith(
                "storage.models"
            ):
                wrong.append(f"{module.path.relative_to(REPO)}:{line} imports {target}")
    assert wrong == []


def test_modules_and_functions_stay_small() -> None:
    too_long = []
    for module in modules():
        where = module.path.relative_to(REPO)
        if module.lines > MAX_MODULE_LINES:
            too_long.append(f"{where}: {module.lines} lines")
        for node in ast.walk(module.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([d.lineno for d in node.decorator_list] + [node.lineno])
                length = (node.end_lineno or node.lineno) - first + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{where}:{node.lineno} {node.name}(): {length} lines")
    assert too_long == []


def test_loggers_are_named_after_their_module() -> None:
    wrong = []
    for module in modules():
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "getLogger"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "logging"
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and node.args[0].value.split(".")[0] in ("newsrelay", *PACKAGES)
            ):
                wrong.append(f"{module.path.relative_to(REPO)}:{node.lineno}")
    assert wrong == []
