"""The arrows between kobai's modules run one way: no import cycles, and the CLI on top.

Every ``import`` and ``from ... import`` of every module is read with ``ast`` (also those inside
functions, which run later but still tie the modules together), relative imports resolved.
Importing ``a.b.c`` runs ``a`` and ``a.b`` first, so it is an arrow to each of them; a
package's ``__init__`` importing its own submodules is not a cycle (a submodule's arrow to its
own package is the one Python always draws, and is left out).
"""

import ast
from pathlib import Path

import kobai

#: cycles not broken yet, each a sorted tuple of its modules. The test fails on any other
#: cycle, and on one listed here that is gone (then delete its line).
#: gradcheck: network.check_gradients(locate=True) imports layer.check_layer, which imports
#: network's helpers (frozen, net_layers, rebind, resolve_options); moving those helpers to a
#: module of their own breaks it.
OPEN_CYCLES: set[tuple[str, ...]] = set()


def modules(root):
    """``{dotted name: (path, is_package)}`` for every ``.py`` under the package ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        found[".".join(parts)] = (path, is_package)
    return found


def _targets(node, name, is_package, known):
    """The modules of ``known`` that an import statement ``node`` in module ``name`` names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[:len(base) - (node.level - 1)]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    # ``from pkg import sub`` imports the module pkg.sub; ``from mod import name`` only mod
    return [f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
            for alias in node.names]


def import_graph(root):
    """``{module: set of the package's modules it imports}`` (see the module docstring)."""
    known = modules(root)
    graph = {}
    for name, (path, is_package) in known.items():
        arrows = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for target in _targets(node, name, is_package, known):
                parts = target.split(".")
                for n in range(len(parts), 0, -1):  # the module and the packages above it
                    module = ".".join(parts[:n])
                    if module in known and module != name and not name.startswith(module + "."):
                        arrows.add(module)
        graph[name] = arrows
    return graph


def tangles(graph):
    """The strongly connected components of more than one module (Tarjan's algorithm): the
    sets of modules that each import, through the others, every other one."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components, key=min)


def cycles(graph):
    """One cycle ``[a, b, ..., a]`` per tangle (a shortest one through its first module)."""
    return [_cycle_in(graph, component) for component in tangles(graph)]


def _cycle_in(graph, component):
    """A shortest cycle through the first module of ``component`` (breadth-first)."""
    start = min(component)
    came_from = {start: None}
    queue = [start]
    for v in queue:
        for w in sorted(graph[v] & component):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if w not in came_from:
                came_from[w] = v
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def test_the_walk_finds_a_cycle_through_a_function_level_import(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("VERSION = '1'\nfrom .a import f\nfrom . import sub\n")
    (pkg / "a.py").write_text("from . import VERSION\nfrom .sub.b import g\n\n"
                              "def f():\n    return g\n")
    (pkg / "sub" / "__init__.py").write_text("from .b import g\n")
    (pkg / "sub" / "b.py").write_text("def g():\n    from ..a import f\n    return f\n")
    (pkg / "c.py").write_text("import pkg.a\n")
    graph = import_graph(pkg)
    assert graph == {"pkg": {"pkg.a", "pkg.sub"},
                     "pkg.a": {"pkg.sub", "pkg.sub.b"},  # pkg.sub runs before pkg.sub.b
                     "pkg.c": {"pkg.a"},  # pkg.c is inside pkg already
                     "pkg.sub": {"pkg.sub.b"},
                     "pkg.sub.b": {"pkg.a"}}
    # pkg and pkg.a import each other only as a package and its submodule: not a cycle
    assert cycles(graph) == [["pkg.a", "pkg.sub.b", "pkg.a"]]


def test_no_module_of_kobai_imports_itself_back():
    graph = import_graph(Path(kobai.__file__).parent)
    found = {tuple(sorted(component)): _cycle_in(graph, component)
             for component in tangles(graph)}
    new = [f"{' -> '.join(cycle)}" + (f" (one of the cycles among {', '.join(modules)})"
                                       if len(modules) > len(cycle) - 1 else "")
           for modules, cycle in found.items() if modules not in OPEN_CYCLES]
    assert not new, "import cycles: " + "; ".join(new)
    gone = OPEN_CYCLES - set(found)
    assert not gone, f"no longer a cycle, delete it from OPEN_CYCLES: {sorted(gone)}"


def test_only_the_cli_and_main_modules_import_the_cli():
    graph = import_graph(Path(kobai.__file__).parent)
    below = {name: sorted(module for module in arrows if module.split(".")[:2] == ["kobai", "cli"])
             for name, arrows in graph.items()
             if name.split(".")[:2] != ["kobai", "cli"] and not name.endswith(".__main__")}
    offenders = {name: found for name, found in below.items() if found}
    assert not offenders, f"library modules importing the CLI: {offenders}"
