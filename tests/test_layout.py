"""The package's layering, as each subpackage's and each top-level module's docstring
states it ("May import: ..."): no module imports from a layer above its own. Imports for
type hints only (inside `if TYPE_CHECKING:`) count too: they create no import at run
time, but a type from a layer above is a dependency on it all the same."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).resolve().parent
# Top-level modules that everything may use; they import nothing else of the harness.
BASE = {"harness", "harness.errors", "harness.paths", "harness.progress"}


# Top-level modules above the subpackages: the replay loop, the experiment and the CLI.
TOP_LEVEL = ("replay", "experiment", "cli", "__main__")
# Type-only imports from a layer above, each until the change that removes it lands:
# a run record is made from a target's Decision.
KNOWN_TYPE_ONLY = {
    ("harness.reporting.results", "harness.targets.base"),
}


def allowed_imports() -> dict[str, set[str]]:
    """Subpackage or top-level module -> what its docstring says it may import."""
    allowed = {}
    sources = [(f"harness.{i.parent.name}", i) for i in sorted(PACKAGE.glob("*/__init__.py"))]
    sources += [(f"harness.{m}", PACKAGE / f"{m}.py") for m in TOP_LEVEL]
    for name, source in sources:
        doc = ast.get_docstring(ast.parse(source.read_text())) or ""
        match = re.search(r"May import: (.*?)\.?\s*$", doc, re.S)
        assert match, f"{source}: its docstring must say what it may import ('May import: ...')"
        stated = re.sub(r"\([^)]*\)", "", match.group(1)).replace("\n", " ")
        allowed[name] = {p.strip() for p in stated.split(",") if p.strip()} | {name}
    return allowed


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(imports at run time, imports for type hints only) of harness modules."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    found: set[str] = set()
    hints: set[str] = set()
    for node in ast.walk(tree):
        into = hints if id(node) in type_only else found
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            into.add(node.module)
            if node.module == "harness":  # from harness import paths: a module, or a name
                into |= {f"harness.{a.name}" for a in node.names if _is_module(a.name)}
        elif isinstance(node, ast.Import):
            into |= {a.name for a in node.names if a.name.startswith("harness")}
    return found, hints - found


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name).is_dir()


def home(module: str, allowed: dict[str, set[str]]) -> str:
    """The layer a module belongs to: its subpackage or top-level module, or the base
    modules' layer."""
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
        *(f"harness.{m}" for m in TOP_LEVEL),
    }
    broken = []
    known = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        layer = home(module, allowed)
        at_run_time, for_hints = imports(path)
        for imported in sorted(at_run_time | for_hints):
            target = home(imported, allowed)
            upward = (layer in allowed and target not in allowed[layer] | {"harness"}) or (
                layer == "harness" and module in BASE and target != "harness"
            )
            if upward and imported in for_hints and (module, imported) in KNOWN_TYPE_ONLY:
                known.add((module, imported))
            elif upward:
                kind = "for type hints " if imported in for_hints else ""
                broken.append(f"{module} imports {imported} {kind}from a layer above")
    assert not broken, "\n".join(broken)
    assert known == KNOWN_TYPE_ONLY, f"no longer needed: {sorted(KNOWN_TYPE_ONLY - known)}"


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
