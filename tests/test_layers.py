"""The library's modules stand in layers, and every import points down or sideways (DESIGN: dependencies point one
way). The import graph is read from the source with ast: every `import` and `from ... import`, those inside
functions too (they run when the function does, so they are dependencies like any other), and those under
`if TYPE_CHECKING:` too: a type-only import still ties the two modules together, and guarding it only hides a cycle
(engines/protocols.py is how the engines package got out of one)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "topograph"

# Bottom first. A module may import modules of its own layer or of the layers below. A package listed stands for
# itself and all its modules (engines/, kinds/, report/ are one layer each); a new module elsewhere must be placed.
LAYERS = [
    # what stands alone: errors, files written whole, the stores, the demo zoo, the Collector and its callbacks,
    # checkpoints, factories, objects given in place of factories, a grid's progress
    ["errors", "files", "grid", "store", "noise", "zoo", "collect", "hf", "lightning", "checkpoints", "factories",
     "objects", "progress", "basins"],
    # a run's settings, typed; one network's tensors: batches, loss and metrics, the trajectory, training, export
    ["run", "batches", "objective", "trajectory", "train", "export"],
    # the evaluation plane and what is measured on it
    ["engines", "curvature", "sharpness", "spectrum", "bounds"],
    ["kinds"],
    # the config alone
    ["config"],
    ["cluster", "jobs"],
    # what every entry point checks first, the grid's evaluation, and the curvature along training
    ["preflight", "evaluate", "training_curvature"],
    ["landscape"],
    # what reads the stores, and the package's own lazy names
    ["report", "views", "topograph"],
    # the command line, and python -m topograph
    ["cli", "__main__"],
]
READS_STORES = ["report", "views"]  # DESIGN: report reads stores and never imports torch
COLLECTS = ["collect", "hf", "lightning"]  # in a user's training loop: never dask or snakemake
SCHEDULERS = {"dask", "distributed", "dask_cuda", "dask_jobqueue", "snakemake"}


class Imports(ast.NodeVisitor):
    """The modules one module imports: all of them, and those it imports when it is imported (not in a function,
    not under TYPE_CHECKING)."""

    def __init__(self, package: str, modules: set[str]):
        self.package, self.modules, self.all, self.at_import, self._deferred = package, modules, set(), set(), 0

    def _add(self, names):
        names = set(names)
        self.all.update(names)
        if not self._deferred:
            self.at_import.update(names)

    def visit_Import(self, node):
        self._add(alias.name for alias in node.names)

    def visit_ImportFrom(self, node):
        base = node.module or ""
        if node.level:
            parts = self.package.split(".")
            base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
        # `from package import module` imports that module (its package is a parent: implied, like any parent's)
        self._add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in self.modules else base for alias in node.names)

    def _defer(self, node):
        self._deferred += 1
        self.generic_visit(node)
        self._deferred -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _defer

    def visit_If(self, node):
        if "TYPE_CHECKING" not in ast.unparse(node.test):
            return self.generic_visit(node)
        self._deferred += 1
        for statement in node.body:
            self.visit(statement)
        self._deferred -= 1
        for statement in node.orelse:
            self.visit(statement)


def read_modules() -> dict[str, Imports]:
    paths = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    modules = {}
    for name, path in paths.items():
        modules[name] = Imports(name if path.name == "__init__.py" else name.rpartition(".")[0], set(paths))
        modules[name].visit(ast.parse(path.read_text(encoding="utf-8")))
    return modules


MODULES = read_modules()


def graph(at_import: bool = False) -> dict[str, set[str]]:
    """{module: the modules of topograph it imports}."""
    return {name: {other for other in (imports.at_import if at_import else imports.all)
                   if other in MODULES and other != name} for name, imports in MODULES.items()}


def external(name: str, at_import: bool = False) -> set[str]:
    """The top-level names of what module name imports from outside topograph (torch, dask, ...)."""
    imports = MODULES[name].at_import if at_import else MODULES[name].all
    return {other.partition(".")[0] for other in imports if other and not other.startswith("topograph")}


def layer_of(name: str) -> int | None:
    """The layer of a module: its own entry, or its package's ("topograph" is the package's __init__ alone)."""
    parts = name.split(".")
    entries = [".".join(parts[1:size]) for size in range(len(parts), 1, -1)] or ["topograph"]
    return next((index for entry in entries for index, layer in enumerate(LAYERS) if entry in layer), None)


def cycles(edges: dict[str, set[str]]) -> list[str]:
    """One cycle 'a -> b -> ... -> a' per strongly connected component of more than one module (Tarjan), and the
    modules of that component."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(edges[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set(stack[stack.index(node):])
            del stack[stack.index(node):]
            on_stack.difference_update(component)
            if len(component) > 1:
                cycle = " -> ".join(shortest_cycle(min(component), edges, component))
                found.append(f"{cycle}  (one of the cycles among {', '.join(sorted(component))})")

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return found


def shortest_cycle(start: str, edges: dict[str, set[str]], within: set[str]) -> list[str]:
    paths, seen = [[start]], {start}
    while paths:
        path = paths.pop(0)
        for other in sorted(edges[path[-1]] & within):
            if other == start:
                return path + [start]
            if other not in seen:
                seen.add(other)
                paths.append(path + [other])
    raise AssertionError(f"{start} is on no cycle")


def closure(names, edges) -> set[str]:
    found, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(edges[name])
    return found


def with_modules(entries: list[str]) -> list[str]:
    """The modules of entries (a package stands for all its modules)."""
    prefixes = [f"topograph.{entry}" for entry in entries]
    return [name for name in MODULES if any(name == p or name.startswith(p + ".") for p in prefixes)]


def test_the_graph_is_read():
    edges = graph()
    assert "topograph.factories" in edges["topograph.config"]
    assert "topograph.engines.protocols" in edges["topograph.engines.registry"]  # from . import / from .x import
    assert "topograph.objective" in edges["topograph.preflight"]  # inside a function
    assert "topograph.objective" not in graph(at_import=True)["topograph.preflight"]


def test_no_import_cycle():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(found)


def test_every_module_has_a_layer():
    unplaced = sorted(name for name in MODULES if layer_of(name) is None)
    assert not unplaced, f"modules in no layer of tests/test_layers.py LAYERS: {unplaced}; place them"


def test_every_layer_entry_names_a_module():
    assert not [entry for layer in LAYERS for entry in layer if not with_modules([entry]) and entry != "topograph"]


def test_imports_point_down():
    upward = [f"{name} (layer {layer_of(name)}) imports {other} (layer {layer_of(other)})"
              for name, others in graph().items() for other in sorted(others)
              if None not in (layer_of(name), layer_of(other)) and layer_of(other) > layer_of(name)]
    assert not upward, "imports from a lower layer to a higher one:\n" + "\n".join(upward)


def test_what_reads_the_stores_imports_no_torch():
    """No import of torch, nor of a module that imports torch when it is imported (itself or through what it
    imports then): kinds qualify, they import torch inside their fits only."""
    at_import = graph(at_import=True)
    torch_side = {name for name in MODULES if any("torch" in external(other, at_import=True)
                                                  for other in closure([name], at_import))}
    readers = with_modules(READS_STORES)
    offending = [f"{name} imports torch" for name in readers if "torch" in external(name)]
    offending += [f"{name} imports {other}, which imports torch" for name in readers
                  for other in sorted(graph()[name] & torch_side)]
    assert readers and not offending, "\n".join(offending)


@pytest.mark.parametrize("entries, forbidden", [
    (COLLECTS, SCHEDULERS),
    (["topograph"], {"snakemake", "workflow"}),  # the library runs without Snakemake; nothing imports workflow/
])
def test_imports_stay_out(entries, forbidden):
    reached = closure(with_modules(entries), graph())
    offending = sorted(f"{name} imports {sorted(external(name) & forbidden)}" for name in reached
                       if external(name) & forbidden)
    assert not offending, "\n".join(offending)
