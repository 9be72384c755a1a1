"""The package's layering, read from its source with `ast` (no store, no imports run):
only the pipeline imports asset modules, the analysis package is free of Dagster and the
store, and no rvbbit_assets modules import each other in a cycle (lazy imports count)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "rvbbit_assets"
ASSETS = "rvbbit_assets.assets"
# The pipeline: what may name asset modules.
PIPELINE_PACKAGES = ("rvbbit_assets.assets", "rvbbit_assets.sensors", "rvbbit_assets.checks")
PIPELINE_MODULES = ("rvbbit_assets.definitions",)
PIPELINE_PREFIXES = ("rvbbit_assets.cli.materialize",)  # cli/materialize*.py
ANALYSIS = "rvbbit_assets.analysis"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def imports(path: Path, known: set[str]) -> set[str]:
    """Every module the file imports anywhere (function bodies included), absolute names;
    `from package import module` names the module, `from module import name` the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module_name(path).split(".")
                base = parts[: len(parts) - node.level + (path.name == "__init__.py")]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            for alias in node.names:
                child = f"{module}.{alias.name}"
                found.add(child if child in known else module)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: imports(path, known) for name, path in modules.items()}


def _is_pipeline(name: str) -> bool:
    return (
        any(_within(name, package) for package in PIPELINE_PACKAGES)
        or name in PIPELINE_MODULES
        or any(name.startswith(prefix) for prefix in PIPELINE_PREFIXES)
    )


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module, or a module importing
    itself (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root] & graph.keys())))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child] & graph.keys()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph[node]:
                    found.append(sorted(component))
    return found


def test_only_the_pipeline_imports_asset_modules():
    offenders = {
        name: sorted(target for target in targets if _within(target, ASSETS))
        for name, targets in _graph().items()
        if not _is_pipeline(name)
    }
    offenders = {name: targets for name, targets in offenders.items() if targets}
    assert not offenders, (
        "modules outside the pipeline (assets/, sensors/, checks/, definitions.py, "
        f"cli/materialize*.py) import asset modules: {offenders}"
    )


def test_analysis_is_free_of_dagster_and_the_store():
    graph = _graph()
    offenders = {}
    for name in graph:
        if not _within(name, ANALYSIS):
            continue
        reached, todo = set(), [name]
        while todo:  # every rvbbit_assets module it loads, and what those import
            for target in graph.get(todo.pop(), ()):
                if target not in reached:
                    reached.add(target)
                    todo.append(target)
        bad = sorted(t for t in reached if t.split(".")[0] == "dagster"
                     or _within(t, "rvbbit_assets.store") or _within(t, ASSETS))
        if bad:
            offenders[name] = bad
    assert not offenders, f"analysis modules reach Dagster, the store or assets: {offenders}"


def test_no_import_cycles():
    found = cycles(_graph())
    assert not found, f"rvbbit_assets modules import each other in a cycle: {found}"


def test_the_checks_see_a_cycle_and_an_asset_import(tmp_path):
    """The walk itself: a lazy import closing a cycle is one, and `from package import
    module` names the module."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d"}, "e": {"a"}}
    assert cycles(graph) == [["a", "b", "c"], ["d"]]
    source = tmp_path / "lazy.py"
    source.write_text("def later():\n    from rvbbit_assets.assets import forecasts\n")
    known = {"rvbbit_assets.assets.forecasts"}
    assert imports(source, known) == {"rvbbit_assets.assets.forecasts"}
