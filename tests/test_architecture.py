"""The dependency rule, checked on the source: imports point down, and nothing goes round.

Every module of the application is parsed with `ast`, imports inside functions included.
Layers, lowest first (docs/architecture.md):

0. core: the models of `sendings` and `batches`, transitions, domain errors and results;
1. delivery: the rest of `batches` below its pages (services, dispatcher, delivery, rendering);
2. lifecycle: the sending, contact and draft services and the selectors under the pages;
3. support: tickets, their services, emails and tasks;
4. pages: views, URLs, forms, admin, templatetags, demo data and commands, on every app.

A module may import its own layer or lower ones, never a higher one; the core imports
nothing of ours outside itself; and no module reaches itself through any chain of imports.
"""

import ast
import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("config", "sendings", "batches", "support")

# First match wins. `config` is the project's wiring: it sits above everything (its URLs
# include every app's), except its settings readers, which nothing of ours imports anyway.
LAYERS: list[tuple[str, int]] = [
    ("sendings.models", 0),
    ("sendings.*.models", 0),
    ("batches.models", 0),
    ("sendings.transitions", 0),
    ("sendings.exceptions", 0),
    ("sendings.results", 0),
    ("sendings.identifiers", 0),
    ("sendings.formatting", 0),
    ("sendings.unsubscribe.tokens", 0),
    ("sendings.unsubscribe.selectors", 2),
    ("batches.views", 4),
    ("batches.urls", 4),
    ("batches.admin", 4),
    ("batches*", 1),
    # The outbox carries what support and contacts owe; they register its renderers.
    ("sendings.outbox*", 1),
    ("sendings.retention*", 2),
    ("sendings.services", 2),
    ("sendings.followups", 2),
    ("sendings.contacts.services", 2),
    ("sendings.contacts.tasks", 2),
    ("sendings.contacts.csv_import", 2),
    ("sendings.tenancy.selectors", 2),
    ("sendings.tenancy.services", 2),
    ("sendings.wizard.html_text", 2),
    ("support.views", 4),
    ("support.urls", 4),
    ("support.admin", 4),
    ("support.forms", 4),
    ("support.templatetags*", 4),
    ("support*", 3),
    ("sendings.converters", 4),
    ("sendings.fields", 4),
    ("sendings.wizard.tasks", 4),
    ("sendings*", 4),
    ("config*", 5),
]
CORE = 0


def layer_of(module: str) -> int:
    for pattern, layer in LAYERS:
        if fnmatch.fnmatchcase(module, pattern):
            return layer
    raise AssertionError(f"{module} has no layer: add it to LAYERS")


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _resolve(name: str, known: dict[str, Path]) -> str | None:
    """The module of ours that `name` (a module, or an object in one) lives in."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every module of ours this one imports, at the top or inside a function."""
    is_package = path.name == "__init__.py"
    targets: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".") if is_package else module.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            # `from package import module` imports that module; `from module import name`
            # imports the module defining the name.
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                targets.append(submodule if submodule in known else base)
    resolved = {_resolve(target, known) for target in targets}
    return {target for target in resolved if target is not None and target != module}


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {module: imports_of(module, path, known) for module, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or one importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
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


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_no_module_reaches_itself_through_its_imports(graph):
    assert cycles(graph) == []


def test_the_core_imports_nothing_of_ours_outside_the_core(graph):
    outside = {
        module: sorted(target for target in targets if layer_of(target) != CORE)
        for module, targets in graph.items()
        if layer_of(module) == CORE
    }
    assert {module: targets for module, targets in outside.items() if targets} == {}


def test_imports_point_down_the_layers(graph):
    upward = sorted(
        f"{module} (layer {layer_of(module)}) imports {target} (layer {layer_of(target)})"
        for module, targets in graph.items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert upward == []


def test_the_checker_sees_a_cycle_an_upward_import_and_an_import_inside_a_function(tmp_path):
    """The checks above could pass by seeing nothing: they must catch what they forbid."""
    package = tmp_path / "sendings"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "models.py").write_text("def f():\n    from sendings import views\n")
    (package / "views.py").write_text("from sendings.models import f\n")
    known = {
        "sendings": package / "__init__.py",
        "sendings.models": package / "models.py",
        "sendings.views": package / "views.py",
    }
    graph = {module: imports_of(module, path, known) for module, path in known.items()}

    assert graph["sendings.models"] == {"sendings.views"}
    assert cycles(graph) == [["sendings.models", "sendings.views"]]
    assert layer_of("sendings.views") > layer_of("sendings.models") == CORE
