"""The layout shows the architecture (docs/architecture.md): small modules, a core that never
imports a domain, and no import cycles."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rdarts"
NON_DOMAIN = ("core", "search", "train", "runs", "experiments", "report", "cli")
ALLOWED_DOMAIN_MODULES = {"rdarts.domains.base", "rdarts.domains.registry"}


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(path: Path, top_level_only: bool) -> set[str]:
    """The rdarts modules `path` imports (`from pkg import module` names the module)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    modules = _modules()
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            named = {f"{node.module}.{alias.name}" for alias in node.names}
            submodules = named & set(modules)
            found.update(submodules if submodules == named else {node.module, *submodules})
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("rdarts")}


def test_no_module_is_over_400_lines():
    long = {name: len(path.read_text().splitlines()) for name, path in _modules().items()}
    assert {name: n for name, n in long.items() if n > 400} == {}


def test_non_domain_packages_import_only_the_domain_interface_and_registry():
    offending = {}
    for name, path in _modules().items():
        if name.split(".")[1:2] and name.split(".")[1] in NON_DOMAIN:
            bad = {m for m in _imports(path, top_level_only=False)
                   if m.startswith("rdarts.domains.") and not any(
                       m == allowed or m.startswith(allowed + ".")
                       for allowed in ALLOWED_DOMAIN_MODULES)}
            if bad:
                offending[name] = sorted(bad)
    assert offending == {}


def test_no_import_cycles_among_module_level_imports():
    modules = _modules()
    graph = {name: {m for m in _imports(path, top_level_only=True) if m in modules}
             for name, path in modules.items()}
    cycles = []
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in graph[node]:
            # a package's __init__ is imported with its submodules; only module edges count
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target, [*stack, target])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])
    assert cycles == []
