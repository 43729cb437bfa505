"""The shape of the code (issue 15), measured on its source: every import of the project's own
modules (module-level and inside functions) read with `ast`.

- Packages form layers, each importing only layers below it (`LAYERS`, lowest first; the
  top-level modules of `coordinator/` are the core). So the package graph is acyclic.
- Shared web helpers (`web/`) import no domain package.
- At most `MAX_LATE_IMPORTS` imports of the project's own modules sit inside functions, and each
  says why on its line or the line above (a `#` comment).
- No module over `MAX_LINES` lines.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "coordinator"
MAX_LINES = 500
MAX_LATE_IMPORTS = 10

CORE = {"config", "extensions", "messages", "problems", "fields", "text", "timeutil", "search", "i18n",
        "signals", "cliutil"}
# Lowest first. A package may import its own modules, the core and the packages of lower layers.
LAYERS: list[set[str]] = [
    CORE,
    {"web"},  # shared web helpers: no domain
    {"spreadsheets"},  # reading and writing workbooks safely: no domain
    {"audit"},  # recording audit entries (reading them back is `history`)
    {"leases"},  # who holds the scheduler's lease, the dispatchers' locks
    {"units"},  # reference data
    {"auth"},  # who is signed in, what they may do, in which units
    {"events"},
    {"outbox"},  # queue and dispatch; composers and backends register themselves
    {"accounts"},  # managing accounts, their set-password links and mail
    {"endpoints"},
    {"sms"},
    {"status"},
    {"probes"},
    {"deadlines"},
    {"documents"},
    {"invitations"},
    {"reminders"},
    {"broadcasts"},  # broadcast SMS to a filtered audience
    {"imports"},  # the registration spreadsheet
    {"history"},  # the audit log read back as sentences
    {"reports"},
    {"scheduling"},  # the scheduler and its jobs
    {"api"},
    {"__init__", "factory", "wiring", "cli", "demo", "models"},  # the app: factory, signal wiring, CLI, demo data
]
DOMAINS = set().union(*LAYERS[3:]) - LAYERS[-1]


def _layer_of(part: str) -> int:
    for i, names in enumerate(LAYERS):
        if part in names:
            return i
    raise AssertionError(f"coordinator.{part} is in no layer of tests/test_architecture.py: add it")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _part(module: str) -> str:
    """The layer name of a module: its package under coordinator, or a top-level module's name."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").exists() or (PACKAGE / name / "__init__.py").exists()


def _imports(path: Path):
    """(line, imported module, inside a function) for each import of coordinator's own modules."""
    module = _module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.If) and isinstance(child.test, ast.Name) and child.test.id == "TYPE_CHECKING":
                continue  # annotations only: never executed
            if isinstance(child, ast.Import):
                found.extend((child.lineno, a.name, in_function) for a in child.names if a.name.startswith("coordinator"))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = module.split(".") if is_package else module.split(".")[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                if target == "coordinator" or target.startswith("coordinator."):
                    if target == "coordinator":  # `from coordinator import demo`: a module, or a name of __init__
                        found.extend((child.lineno, f"coordinator.{a.name}" if _is_module(a.name) else "coordinator",
                                      in_function) for a in child.names)
                    else:
                        found.append((child.lineno, target, in_function))
            visit(child, inner)

    visit(tree, False)
    return found


SOURCES = sorted(p for p in PACKAGE.rglob("*.py"))


def test_every_package_is_in_a_layer():
    parts = {_part(_module_name(p)) for p in SOURCES}
    for part in parts:
        _layer_of(part)


def test_packages_import_only_lower_layers():
    wrong = []
    for path in SOURCES:
        here = _part(_module_name(path))
        for line, target, _ in _imports(path):
            there = _part(target)
            if there == here:
                continue
            if _layer_of(there) > _layer_of(here) or (_layer_of(there) == _layer_of(here) and here not in CORE | LAYERS[-1]):
                wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target} ({there} is not below {here})")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_package_graph_is_acyclic():
    edges: dict[str, set[str]] = {}
    for path in SOURCES:
        here = _part(_module_name(path))
        for _, target, _ in _imports(path):
            if _part(target) != here:
                edges.setdefault(here, set()).add(_part(target))
    seen, stack = set(), []

    def walk(node):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        if node in seen:
            return
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            walk(nxt)
        stack.pop()
        seen.add(node)

    for node in sorted(edges):
        walk(node)


def test_web_helpers_import_no_domain():
    wrong = [f"{p.relative_to(ROOT)}:{line} imports {target}"
             for p in SOURCES if _part(_module_name(p)) == "web"
             for line, target, _ in _imports(p) if _part(target) in DOMAINS]
    assert not wrong, "\n".join(wrong)


def test_few_function_level_imports_each_with_its_reason():
    late, unexplained = [], []
    for path in SOURCES:
        lines = path.read_text(encoding="utf-8").splitlines()
        for line, target, in_function in _imports(path):
            if not in_function:
                continue
            where = f"{path.relative_to(ROOT)}:{line} ({target})"
            late.append(where)
            if "#" not in lines[line - 1] and not lines[line - 2].strip().startswith("#"):
                unexplained.append(where)
    assert len(late) <= MAX_LATE_IMPORTS, f"{len(late)} function-level imports:\n" + "\n".join(late)
    assert not unexplained, "function-level imports without their reason:\n" + "\n".join(unexplained)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_over_the_limit(path):
    count = len(path.read_text(encoding="utf-8").splitlines())
    assert count <= MAX_LINES, f"{path.relative_to(ROOT)} has {count} lines (at most {MAX_LINES})"
