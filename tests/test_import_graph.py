"""No import circles between fpa's files (docs/design.md §1): no module imports another that
imports it back, directly or round a longer loop. Every import counts: those at the top,
those inside functions and those under ``if TYPE_CHECKING:`` (import-linter leaves the last
out, so this test holds what it does not)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path, src: Path) -> str:
    """``fpa.runs.config`` for src/fpa/runs/config.py, ``fpa.runs`` for its __init__.py."""
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(path: Path, module: str) -> set[str]:
    """Every dotted name ``path`` imports (absolute, or relative resolved from ``module``),
    from anywhere in the file, with each ``from X import y`` also giving ``X.y``."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    """Each fpa module and the fpa modules it imports (a name resolves to the longest module
    it starts with: ``fpa.runs.config.TrainConfig`` is ``fpa.runs.config``)."""
    paths = {module_name(path, src): path for path in sorted((src / "fpa").rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        targets: set[str] = set()
        for name in imported_names(path, module):
            parts = name.split(".")
            for end in range(len(parts), 0, -1):
                candidate = ".".join(parts[:end])
                if candidate in paths:
                    targets.add(candidate)
                    break
        targets.discard(module)
        # A package's __init__ importing its own submodules, and a submodule importing its
        # package's __init__ (Python runs it first anyway), is not a circle between files.
        graph[module] = {t for t in targets if not module.startswith(t + ".")}
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each as one loop
    through it, shortest first: every import circle, named."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return [loop_through(graph, group) for group in groups]


def loop_through(graph: dict[str, set[str]], group: list[str]) -> list[str]:
    """The shortest loop from the group's first module back to itself (breadth first)."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    return group


def test_no_import_circles_between_modules():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles: " + "; ".join(" -> ".join(loop) for loop in cycles)


def test_the_guard_finds_a_circle_of_type_only_and_function_imports(tmp_path):
    """The guard sees a circle made only of an import under TYPE_CHECKING and one inside a
    function, and names it; a package importing its own submodule is no circle."""
    package = tmp_path / "fpa"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from fpa import low\n")
    (package / "low.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from fpa.sub.high import X\n"
    )
    (package / "sub" / "__init__.py").write_text("from .high import X\n")
    (package / "sub" / "high.py").write_text("def f():\n    from .. import low\nX = 1\n")
    cycles = find_cycles(import_graph(tmp_path))
    assert cycles == [["fpa.low", "fpa.sub.high", "fpa.low"]]
