"""Each package imports one way: no module reaches back, directly or through others, to one that imports it.

Checked for the domain package (`layers/relaycast`), the local runtime (`local/`, importable as
`relaycast_local`) and the stack (`infra/`).

Every import counts, at module level or inside a function (a deferred import is still a dependency); only
`if TYPE_CHECKING:` blocks are left out, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Package name → its folder.
PACKAGES = {"relaycast": ROOT / "layers" / "relaycast", "relaycast_local": ROOT / "local", "infra": ROOT / "infra"}


def _module_name(root: Path, path: Path, package: str) -> str:
    parts = (package, *path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except what sits under `if TYPE_CHECKING:`."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def import_graph(root: Path, package: str | None = None) -> dict[str, set[str]]:
    """Module → the package's modules it imports (a `from package import module` names the module).

    `package` is the name the folder is imported as (the folder's own name unless given)."""
    modules = {_module_name(root, p, package or root.name): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                targets = [base, *(f"{base}.{alias.name}" for alias in node.names)]
            for target in targets:
                # Importing a submodule runs its parent packages first: those are dependencies too, except the
                # module's own packages, which always run before it (a package re-exporting its submodules).
                named = True
                while target:
                    if target in modules and target != name and (named or not name.startswith(f"{target}.")):
                        graph[name].add(target)
                    target, named = target.rpartition(".")[0], False
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_the_package_has_no_import_cycle(package):
    graph = import_graph(PACKAGES[package], package)
    assert len(graph) >= 10  # the whole package was read
    assert all(name == package or name.startswith(f"{package}.") for name in graph)
    assert cycles(graph) == []


def test_a_folder_is_read_under_the_name_it_is_imported_as(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "a.py": "from renamed import b\n", "b.py": "from renamed.a import x\n"})
    assert cycles(import_graph(root, "renamed")) == [["renamed.a", "renamed.b"]]


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    "files, expected",
    [
        # A deferred import inside a function is a dependency all the same.
        ({"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "def f():\n    from pkg.a import x\n"}, [["pkg.a", "pkg.b"]]),
        # Three modules around, one of them through its package name.
        ({"__init__.py": "", "a.py": "import pkg.b\n", "b.py": "from pkg import c\n", "c.py": "from pkg.a import y\n"},
         [["pkg.a", "pkg.b", "pkg.c"]]),
        # A subpackage whose __init__ imports an adapter that imports the subpackage back.
        ({"__init__.py": "", "net/__init__.py": "from pkg.net.x import X\n", "net/x.py": "from pkg.net import Base\n"},
         [["pkg.net", "pkg.net.x"]]),
        # Relative imports resolve like absolute ones.
        ({"__init__.py": "", "a.py": "from . import b\n", "b.py": "from .a import z\n"}, [["pkg.a", "pkg.b"]]),
    ],
)
def test_the_checker_finds_each_kind_of_cycle(tmp_path, files, expected):
    assert cycles(import_graph(_package(tmp_path, files))) == expected


def test_the_checker_leaves_type_checking_imports_and_one_way_imports_alone(tmp_path):
    root = _package(tmp_path, {
        "__init__.py": "",
        "a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n",
        "b.py": "from pkg import a\n",
        "c.py": "from pkg import a, b\n",
        # A package re-exporting a submodule that imports its sibling: importing pkg.net.x runs pkg.net first,
        # and pkg.net is what imports x, so no module waits on another.
        "net/__init__.py": "from pkg.net.x import X\n",
        "net/x.py": "from pkg.net.base import B\n",
        "net/base.py": "B = 1\n",
    })
    graph = import_graph(root)
    assert {"pkg.a", "pkg.b"} <= graph["pkg.c"]
    assert "pkg.b" not in graph["pkg.a"]
    assert graph["pkg.net.x"] == {"pkg.net.base"}
    assert cycles(graph) == []

