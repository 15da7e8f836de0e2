"""Dependencies run one way: apps import ltplabs, never the reverse, and no two of our modules
import each other, directly or around a loop. The imports are read from the source (module level
and inside functions alike), not from what happens to be loaded."""

import ast
from pathlib import Path

from tests.fixtures import ROOT

PACKAGES = ("ltplabs", "clients", "database", "health", "tests")
APPS = ("clients", "database", "health")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if "migrations" not in path.parts}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that `name` imports: `from a.b import c` is a.b.c when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]  # `import a.b.c` or a name from a module: the module
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def test_the_walk_sees_imports_at_module_and_function_level():
    graph = import_graph()
    assert "ltplabs.exceptions" in graph["ltplabs.api.errors"]  # module level
    assert "clients.api.authentication" in graph["clients.apps"]  # inside ready()
    assert "clients.admin.clients" in graph["clients.admin"]  # from . import clients


def test_ltplabs_imports_no_app():
    wrong = {
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name.split(".")[0] == "ltplabs" and not name.startswith("ltplabs.tests")
        for target in targets
        if target.split(".")[0] in APPS
    }
    assert not wrong, sorted(wrong)


def test_no_two_modules_import_each_other():
    graph = import_graph()
    cycles = set()
    for start in graph:
        # every module reachable from `start`; a path back to it is a cycle
        seen, stack = set(), [(start, (start,))]
        while stack:
            name, trail = stack.pop()
            for target in graph[name]:
                if target == start:
                    cycles.add(" -> ".join(sorted(trail)))
                elif target not in seen:
                    seen.add(target)
                    stack.append((target, (*trail, target)))
    assert not cycles, sorted(cycles)
