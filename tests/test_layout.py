"""The package's layering, as each subpackage's docstring states it ("May import: ..."):
no module imports from a layer above its own. Imports made for type hints only (inside
`if TYPE_CHECKING:`) create no dependency and are not counted."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).resolve().parent
# Top-level modules that everything may use; they import nothing else of the harness.
BASE = {"harness", "harness.errors", "harness.paths", "harness.progress"}


def allowed_imports() -> dict[str, set[str]]:
    """Subpackage -> what its docstring says it may import."""
    allowed = {}
    for init in sorted(PACKAGE.glob("*/__init__.py")):
        name = f"harness.{init.parent.name}"
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        match = re.search(r"May import: (.*?)\.?\s*$", doc, re.S)
        assert match, f"{init}: its docstring must say what it may import ('May import: ...')"
        stated = re.sub(r"\([^)]*\)", "", match.group(1)).replace("\n", " ")
        allowed[name] = {p.strip() for p in stated.split(",") if p.strip()} | {name}
    return allowed


def runtime_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            found.add(node.module)
            if node.module == "harness":  # from harness import paths: a module, or a name
                found |= {f"harness.{a.name}" for a in node.names if _is_module(a.name)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("harness")}
    return found


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name).is_dir()


def home(module: str, allowed: dict[str, set[str]]) -> str:
    """The layer a module belongs to: its subpackage, or the base modules' layer."""
    parts = module.split(".")
    package = ".".join(parts[:2])
    if package in allowed:
        return package
    return "harness" if module in BASE else module


def test_no_module_imports_from_a_layer_above_its_own():
    allowed = allowed_imports()
    assert set(allowed) == {
        "harness.model",
        "harness.infra",
        "harness.targets",
        "harness.reporting",
        "harness.checks",
        "harness.peers",
        "harness.commands",
    }
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        layer = home(module, allowed)
        for imported in runtime_imports(path):
            target = home(imported, allowed)
            if layer in allowed and target not in allowed[layer] | {"harness"}:
                broken.append(f"{module} imports {imported}")
            if layer == "harness" and module in BASE and target != "harness":
                broken.append(f"{module} (base) imports {imported}")
    assert not broken, "\n".join(broken)


def test_every_registered_command_has_its_module_and_summary():
    """harness.commands.REGISTRY names each verb without importing it; the module holds
    the same summary, its arguments and its handler."""
    from harness import commands

    for verb, summary in commands.REGISTRY.items():
        module = commands.module(verb)
        assert summary == module.SUMMARY, verb
        assert callable(module.add_arguments) and callable(module.run), verb
    on_disk = {
        p.stem.replace("_", "-")
        for p in (PACKAGE / "commands").glob("*.py")
        if not p.name.startswith("_")
    }
    assert on_disk == set(commands.REGISTRY)
