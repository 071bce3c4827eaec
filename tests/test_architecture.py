"""The package's import structure: no cycles, and the layers only import downwards.

Imports are read from the source with :mod:`ast` (nothing is imported): top-level and
function-level imports both count, imports under ``if TYPE_CHECKING:`` do not (they never
run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "symsim_widgets"

#: Modules that hold data and computation: they never import a widget or a widget library.
DATA_MODULES = ("exploration", "collection", "embedding", "projection")
WIDGET_LIBRARIES = ("ipywidgets", "bqplot", "ipyevents", "traitlets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of a module, at any depth, except under TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                stack.extend(child.orelse)
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                found.append(child)
            stack.append(child)
    return found


def _graph() -> dict[str, set[str]]:
    """``module -> {modules it imports}``: the package's own modules, and external
    top-level packages under their own name (``"ipywidgets"``)."""
    files = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    targets.add(alias.name if alias.name in files else alias.name.split(".")[0])
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                if submodule in files:
                    targets.add(submodule)
                elif module in files:
                    targets.add(module)
                else:
                    targets.add(module.split(".")[0])
        targets.discard(name)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> set[tuple[str, ...]]:
    """The strongly connected components of more than one module (Tarjan), each as a
    sorted tuple: every import cycle lies within one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: set[tuple[str, ...]] = set()

    def visit(start: str) -> None:
        # iterative Tarjan: (node, iterator over its successors)
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in graph:
                    continue
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    members = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        members.append(member)
                        if member == node:
                            break
                    if len(members) > 1:
                        components.add(tuple(sorted(members)))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return components


GRAPH = _graph()


def test_the_graph_reads_imports_at_every_depth():
    # a function-level import counts: classify_symmetry imports the collection when called
    assert "symsim_widgets.collection" in GRAPH["symsim_widgets.symmetry.classify"]
    assert "symsim_widgets._device" in GRAPH["symsim_widgets.models.device"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {("a", "b", "c")}
    assert _cycles({"a": {"b"}, "b": set()}) == set()


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target == goal:
                return True
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return False


def test_no_import_cycles():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in sorted(cycles))


def _in_package(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_symmetry_sits_below_models():
    upward = {
        (module, target)
        for module, targets in GRAPH.items()
        if _in_package(module, "symsim_widgets.symmetry")
        for target in targets
        if _in_package(target, "symsim_widgets.models")
    }
    assert upward == set()


@pytest.mark.parametrize("name", DATA_MODULES)
def test_data_modules_import_no_widget(name):
    module = f"symsim_widgets.{name}"
    own = {m for m in GRAPH if _in_package(m, module)}
    assert own, f"no module {module}"
    reached = set()
    todo = list(own)
    while todo:  # everything these modules import, directly or not
        for target in GRAPH.get(todo.pop(), ()):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    widgets = {t for t in reached if _in_package(t, "symsim_widgets.widgets")}
    libraries = {t for t in reached if t in WIDGET_LIBRARIES}
    assert widgets == set() and libraries == set()
