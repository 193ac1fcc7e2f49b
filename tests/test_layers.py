"""The layer rule of ARCHITECTURE.md, checked on every module of the package.

Each module of ``wskit`` belongs to one group, and each group to one layer. A module may import
its own group and any group of a lower layer, never a higher layer nor another group of its
own layer. Every import counts, including those inside functions and under ``TYPE_CHECKING``:
a lazy import from a higher layer is still a dependency on it. The runtime imports (those not
under ``TYPE_CHECKING``) must also form no cycle.
"""

from __future__ import annotations

import ast
import importlib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import wskit

ROOT = Path(wskit.__file__).parent

#: Bottom first: (layer, {group: module prefixes}). ARCHITECTURE.md draws the same picture.
LAYERS: list[tuple[str, dict[str, tuple[str, ...]]]] = [
    (
        "connection core",
        {
            "core": (
                "wskit._casting",
                "wskit._conveniences",
                "wskit._extras",
                "wskit._outcome",
                "wskit._state",
                "wskit._typed",
                "wskit._types",
                "wskit.codecs",
                "wskit.connection",
                "wskit.exceptions",
                "wskit.limits",
                "wskit.status",
            )
        },
    ),
    (
        "policies and the test client",
        {"policies": ("wskit.policies",), "testing": ("wskit.testing",)},
    ),
    ("operations and pub/sub", {"operations": ("wskit.operations",), "pubsub": ("wskit.pubsub",)}),
    ("the App", {"app": ("wskit.app",)}),
    (
        "what hosts an App",
        {
            "asyncapi": ("wskit.asyncapi",),
            "contrib": ("wskit.contrib",),
            "serving": ("wskit.serving",),
        },
    ),
    (
        "the public faces",
        {
            "demo": ("wskit.demo",),
            # ``from wskit import ...`` and the modules kept at their first address
            "facade": (
                "wskit",
                "wskit.ratelimit",
                "wskit.registry",
                "wskit.routing",
                "wskit.server",
                "wskit.views",
            ),
        },
    ),
    (
        "the command line",
        {
            "commands": (
                "wskit.__main__",
                "wskit.cli",
                "wskit.asyncapi.cli",
                "wskit.demo.cli",
                "wskit.serving.cli",
            )
        },
    ),
]


def _module_names() -> list[str]:
    names = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


MODULES = _module_names()


def _place(module: str) -> tuple[int, str]:
    """The (layer index, group) of ``module``: the longest matching prefix wins."""
    best: tuple[int, int, str] | None = None
    for index, (_, groups) in enumerate(LAYERS):
        for group, prefixes in groups.items():
            for prefix in prefixes:
                if (module == prefix or module.startswith(prefix + ".")) and (
                    best is None or len(prefix) > best[0]
                ):
                    best = (len(prefix), index, group)
    if best is None:
        raise LookupError(f"{module} belongs to no group: add it to LAYERS and ARCHITECTURE.md")
    return best[1], best[2]


@dataclass
class _Imports(ast.NodeVisitor):
    """The wskit modules one module imports: all of them, and those it imports at runtime."""

    package: str
    every: set[str] = field(default_factory=set)
    runtime: set[str] = field(default_factory=set)
    _type_checking: int = 0

    def visit_If(self, node: ast.If) -> None:
        test = node.test
        guarded = (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
            isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
        )
        if not guarded:
            self.generic_visit(node)
            return
        self._type_checking += 1
        for child in node.body:
            self.visit(child)
        self._type_checking -= 1
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.package.split(".")[: len(self.package.split(".")) - node.level + 1]
            target = ".".join([*base, node.module] if node.module else base)
        else:
            target = node.module or ""
        for alias in node.names:  # ``from . import x`` may name a module
            submodule = f"{target}.{alias.name}"
            self._add(submodule if submodule in MODULES else target)

    def _add(self, target: str) -> None:
        if target not in MODULES:
            return
        self.every.add(target)
        if not self._type_checking:
            self.runtime.add(target)


def _source(module: str) -> tuple[ast.Module, str]:
    """The parsed source of ``module`` and the package its relative imports start from."""
    path = ROOT.parent.joinpath(*module.split("."))
    if path.is_dir():
        path, package = path / "__init__.py", module
    else:
        path, package = path.with_suffix(".py"), module.rpartition(".")[0]
    return ast.parse(path.read_text(encoding="utf-8"), str(path)), package


def _imports(module: str) -> _Imports:
    tree, package = _source(module)
    visitor = _Imports(package)
    visitor.visit(tree)
    visitor.every.discard(module)
    visitor.runtime.discard(module)
    return visitor


IMPORTS = {module: _imports(module) for module in MODULES}


@pytest.mark.parametrize("module", MODULES)
def test_every_module_imports(module: str) -> None:
    importlib.import_module(module)


def test_every_module_has_a_place() -> None:
    unplaced = []
    for module in MODULES:
        try:
            _place(module)
        except LookupError:
            unplaced.append(module)
    assert unplaced == []


def _upward(imports: dict[str, set[str]]) -> list[str]:
    """Each import of ``imports`` that goes up a layer or across to another group of its own."""
    wrong = []
    for module, targets in imports.items():
        layer, group = _place(module)
        for target in sorted(targets):
            target_layer, target_group = _place(target)
            if target_group != group and target_layer >= layer:
                wrong.append(
                    f"{module} ({LAYERS[layer][0]}) imports {target} ({LAYERS[target_layer][0]})"
                )
    return wrong


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    """The import cycles of ``graph``, each written as the chain that closes it."""
    done: set[str] = set()
    found = []

    def walk(module: str, path: list[str]) -> None:
        if module in path:
            found.append(" -> ".join([*path[path.index(module) :], module]))
            return
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            walk(target, [*path, module])
        done.add(module)

    for module in sorted(graph):
        walk(module, [])
    return found


def test_imports_go_down() -> None:
    assert _upward({module: found.every for module, found in IMPORTS.items()}) == []


def test_no_import_cycle() -> None:
    assert _cycles({module: found.runtime for module, found in IMPORTS.items()}) == []


def test_the_checks_can_fail() -> None:
    """An import up a layer, one across to a sibling group, and a cycle are each reported."""
    visitor = _Imports("wskit")
    visitor.visit(
        ast.parse("from .app import App\nif TYPE_CHECKING:\n    from .serving import serve\n")
    )
    assert (visitor.every, visitor.runtime) == ({"wskit.app", "wskit.serving"}, {"wskit.app"})
    assert len(_upward({"wskit.connection": visitor.every})) == 2
    assert len(_upward({"wskit.pubsub.hub": {"wskit.operations.router"}})) == 1
    assert _upward({"wskit.app.endpoint": {"wskit.app.routing", "wskit.connection"}}) == []
    assert _cycles({"wskit.a": {"wskit.b"}, "wskit.b": {"wskit.a"}}) == [
        "wskit.a -> wskit.b -> wskit.a"
    ]
    with pytest.raises(LookupError):
        _place("elsewhere.module")


def test_one_class_per_name() -> None:
    """No two classes of the package share a name (nested and local classes included)."""
    where: dict[str, list[str]] = {}
    for module in MODULES:
        for node in ast.walk(_source(module)[0]):
            if isinstance(node, ast.ClassDef):
                where.setdefault(node.name, []).append(module)
    assert {name: places for name, places in where.items() if len(places) > 1} == {}
