"""The shape of the code: each module imports only from its own layer or the layers below, and no
module imports itself back through another.

Layers, bottom up (a module belongs to the layer of the longest prefix that names it):
foundation (the error tree, the clock protocol, the version), domain, the ccxt codec, settings and
the simulator (and the snapshot file, logging set-up), the exchange boundary and the journal,
execution, monitoring (metrics, notifications), the runtime (with the composition root), the
tables for people, the command line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("bot", "bot.errors", "bot.clock")),
    ("domain", ("bot.domain",)),
    ("codec", ("bot.exchange.codec",)),
    (
        "settings and simulator",
        ("bot.settings", "bot.sim", "bot.snapshot", "bot.observability"),
    ),
    (
        "exchange boundary",
        (
            "bot.exchange",
            "bot.journal",
            "bot.journal_schema",
            "bot.journal_rows",
            "bot.journal_lock",
            "bot.journal_valuations",
            "bot.journal_traded",
            "bot.journal_control",
            "bot.journal_snapshots",
            "bot.journal_derivatives",
        ),
    ),
    ("execution", ("bot.execution",)),
    ("monitoring", ("bot.metrics", "bot.notify")),
    ("runtime", ("bot.runtime",)),
    (
        "reporting",
        (
            "bot.report",
            "bot.report_performance",
            "bot.report_glide",
            "bot.report_raise",
            "bot.report_perps",
        ),
    ),
    ("control surface", ("bot.api",)),
    ("lab", ("bot.lab",)),
    (
        "cli",
        (
            "bot.cli",
            "bot.cli_raise",
            "bot.cli_plan",
            "bot.cli_data",
            "bot.cli_backtest",
            "bot.cli_sim",
            "bot.__main__",
        ),
    ),
]

# Within a layer, some neighbours stay apart: the simulator is a stand-in for an exchange and knows
# nothing of the bot that trades on it.
FORBIDDEN = [
    ("bot.sim", "bot.settings"),
    ("bot.sim", "bot.observability"),
    ("bot.sim", "bot.snapshot"),
    ("bot.sim", "bot.exchange.gateway"),
    ("bot.sim", "bot.runtime"),
    ("bot.exchange", "bot.sim"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(BOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = BOT.parent / Path(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def imports_of(path: Path) -> set[str]:
    """Every module of the bot that `path` imports, at any depth of its code. `from pkg import
    mod` is an import of `pkg.mod` (and of `pkg` only for names that are not modules)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "bot")
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "bot":
                continue
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if is_module(sub) else node.module)
    return found


MODULES = {module_name(p): imports_of(p) for p in sorted(BOT.rglob("*.py"))}


def layer_of(module: str) -> int:
    best, level = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), i
    assert level >= 0, f"{module} is in no layer: add it to LAYERS"
    return level


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def test_every_module_has_a_layer() -> None:
    for module in MODULES:
        layer_of(module)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_imports_a_higher_layer(module: str) -> None:
    mine = layer_of(module)
    upward = [
        f"{dep} ({LAYERS[layer_of(dep)][0]})" for dep in MODULES[module] if layer_of(dep) > mine
    ]
    assert not upward, f"{module} ({LAYERS[mine][0]}) imports a higher layer: {upward}"


def test_neighbours_that_stay_apart() -> None:
    crossings = [
        f"{module} -> {dep}"
        for module, deps in MODULES.items()
        for dep in deps
        for low, high in FORBIDDEN
        if within(module, low) and within(dep, high)
    ]
    assert not crossings


def test_no_import_cycle() -> None:
    graph = {m: {d for d in deps if d in MODULES and d != m} for m, deps in MODULES.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if dep not in state:
                visit(dep)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_no_source_file_is_too_long_to_read() -> None:
    long = {
        str(p.relative_to(BOT.parent)): n
        for p in BOT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 520
    }
    assert not long, f"split these by concern: {long}"


def test_sql_stays_in_the_journal() -> None:
    users = [
        str(p.relative_to(BOT.parent))
        for p in BOT.rglob("*.py")
        if "sqlite3" in p.read_text(encoding="utf-8") and p.name != "journal.py"
    ]
    assert not users


def test_the_readme_module_table_matches_the_tree() -> None:
    """Every path the README's module table names exists, and every source file is in it (by
    its own path or a folder's)."""
    readme = (BOT.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| layer | module | owns |") :]
    table = table[: table.index("\n\n")]
    named = {
        cell.strip("`")
        for line in table.splitlines()[2:]
        for cell in line.split("|")[2].replace(",", " ").split()
        if cell.startswith("`bot/")
    }
    missing = sorted(p for p in named if not (BOT.parent / p).exists())
    assert not missing, f"the README names paths that do not exist: {missing}"
    sources = [
        str(p.relative_to(BOT.parent))
        for p in BOT.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py")
    ]
    uncovered = [
        s
        for s in sources
        if not any(s == n or (n.endswith("/") and s.startswith(n)) for n in named)
    ]
    assert not uncovered, f"the README's module table does not mention: {sorted(uncovered)}"
