"""The rules of ARCHITECTURE.md sections 1 and 2 as checkers over a source tree.

Walked: every .py under eval/, chaos/ and subjects/ of a root, except chaos/helper/ (stdlib
programs copied into helper containers, never imported). Each checker takes the root and
returns, per rule, one message per breach naming the file and line, the module, the import
or call, and the rule; tests/unit/test_architecture.py runs them on the repository and on
small broken trees. Layering counts every import: top-level, lazy (inside a function) and
`TYPE_CHECKING` ones (import cycles are tests/unit/import_cycles.py's).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

PACKAGES = ("eval", "chaos", "subjects")
# repository folder -> its installed dotted name (setup.py)
INSTALLED = {"eval": ["chaos_eval"], "chaos": ["chaos_eval", "chaos"],
             "subjects": ["chaos_eval", "subjects"]}
SKIPPED = "chaos/helper/"
PROGRAMS = {"subjects/tikv/gateway.py"}  # copied into an image, run there: may asyncio.run
MAX_LINES = 300

# eval/'s rooms. BASE is eval/'s top-level modules (subject, fault, workload, errors,
# outcomes, polling, ...); eval/__main__.py belongs to cli.
BASE = "eval (top level)"
ROOMS = ("cli", "render", "analysis", "run", "cleanup", "store", "engine", "images", "spec")
# room -> the rooms it may import besides itself. From the top: cli; render and run (a trial
# computes its metrics and verdict, so run uses analysis; analysis never uses run); analysis
# (reads the store); cleanup (never run); spec, store; images; engine; BASE.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "cli": frozenset({*ROOMS, BASE}),
    "render": frozenset({"analysis", BASE}),
    "run": frozenset({"analysis", "cleanup", "store", "engine", "images", "spec", BASE}),
    "analysis": frozenset({"store", "spec", BASE}),
    "cleanup": frozenset({"store", "engine", "images", "spec", BASE}),
    "spec": frozenset({"images", BASE}),
    "store": frozenset({"spec", BASE}),  # it records what the spec planned
    "images": frozenset({"engine", BASE}),
    "engine": frozenset({BASE}),
    BASE: frozenset({BASE}),
    "chaos": frozenset({"cleanup", "engine", "images", "spec", BASE}),
    "subjects": frozenset({"cleanup", "engine", "images", "spec", BASE}),
}
# single modules a room may import from a room it may not: the values it is handed
MAY_IMPORT_MODULES: dict[str, frozenset[str]] = {"render": frozenset({"chaos_eval.store.records"})}
# argv executed only here
SPAWNERS = ("chaos_eval.engine", "chaos_eval.images", "chaos_eval.run.provenance")
PLUGINS = ("chaos", "subjects")
SQL = re.compile(
    r"^\s*(SELECT\s.*\sFROM\s|INSERT\s+(OR\s+\w+\s+)?INTO\s|UPDATE\s+\w+\s+SET\s|DELETE\s+FROM\s"
    r"|CREATE\s+(TABLE|(UNIQUE\s+)?INDEX|TRIGGER|VIEW)\s|ALTER\s+TABLE\s|PRAGMA\s)",
    re.DOTALL,
)
DOTTED = re.compile(r"^chaos_eval\.(chaos|subjects)(\.\w+)+:\w+$")  # "chaos_eval.chaos.pause:X"
BAD_NAME = re.compile(
    r"^(misc|utils?|common|stuff)$"
    r"|_(misc|utils?|helpers?|parse|parsing|common|extra|more|other|stuff|part\d*|\d+)$"
)


@dataclass(frozen=True)
class Source:
    name: str  # dotted module name
    rel: str  # path from the root
    tree: ast.Module
    lines: int
    is_package: bool = False


@dataclass(frozen=True)
class Import:
    target: str  # absolute; `from pkg import mod` names pkg.mod when that is a module
    line: int
    type_checking: bool


@cache
def sources(root: Path) -> tuple[Source, ...]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if rel.startswith(SKIPPED):
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            text = path.read_text()
            parts = [*INSTALLED[parts[0]], *parts[1:]]
            name = ".".join(parts[:-1] if is_pkg else parts)
            out.append(Source(name, rel, ast.parse(text, rel), len(text.splitlines()), is_pkg))
    return tuple(out)


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(src: Source, known: frozenset[str]) -> list[Import]:
    guarded = {
        id(n)
        for block in ast.walk(src.tree)
        if isinstance(block, ast.If) and _type_checking(block.test)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    out: dict[tuple[str, int], Import] = {}
    for node in ast.walk(src.tree):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            base = node.module or ""
            if node.level:
                pkg = src.name.split(".")[: None if src.is_package else -1]
                pkg = pkg[: len(pkg) - node.level + 1]
                base = ".".join([*pkg, base] if base else pkg)
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        for t in targets:
            out[t, node.lineno] = Import(t, node.lineno, id(node) in guarded)
    return list(out.values())


def room(name: str) -> str | None:
    """The room a dotted module name lives in; None outside eval/, chaos/ and subjects/."""
    parts = name.split(".")
    if top(name) in PLUGINS:
        return top(name)
    if top(name) != "eval":
        return None
    if name == "chaos_eval.__main__":
        return "cli"
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else BASE


def top(name: str) -> str:
    """The repository folder of one of our modules (eval, chaos, subjects), else the first
    component of the name (docker, sqlite3, ...)."""
    parts = name.split(".")
    if parts[0] == "chaos_eval":
        return parts[1] if len(parts) > 1 and parts[1] in PLUGINS else "eval"
    return parts[0]


def _in(name: str, *rooms: str) -> bool:
    return room(name) in rooms


def _upward(m: str, t: str) -> bool:
    rm, rt = room(m), room(t)
    if rm is None or rt is None or rm == rt:
        return False
    return rt not in MAY_IMPORT[rm] and t not in MAY_IMPORT_MODULES.get(rm, frozenset())


SQLITE = ("sqlite3", "aiosqlite")
DOWNWARD = "rooms import only downward (MAY_IMPORT in tests/unit/architecture_rules.py)"
NO_PLUGINS = "eval never imports chaos or subjects (eval/spec/registry.py names them in strings)"
SPAWN = "only engine, images and run/provenance spawn processes"
# rule -> breach(importing module, imported module)
IMPORT_RULES: dict[str, Callable[[str, str], bool]] = {
    DOWNWARD: _upward,
    "only eval/engine imports docker (docker-py)": lambda m, t: (
        top(t) == "docker" and not _in(m, "engine")
    ),
    "only eval/store holds SQL (sqlite3, aiosqlite)": lambda m, t: (
        top(t) in SQLITE and not _in(m, "store")
    ),
    "analysis never touches Docker (docker, chaos_eval.engine)": lambda m, t: (
        _in(m, "analysis") and (top(t) == "docker" or _in(t, "engine"))
    ),
    "render never opens the store (it may take chaos_eval.store.records values)": lambda m, t: (
        _in(m, "render")
        and ((_in(t, "store") and t != "chaos_eval.store.records") or top(t) in SQLITE)
    ),
    "store knows nothing of run, analysis, render, cleanup or cli": lambda m, t: (
        _in(m, "store") and _in(t, "run", "analysis", "render", "cleanup", "cli")
    ),
    NO_PLUGINS: lambda m, t: top(m) == "eval" and top(t) in PLUGINS,
    "chaos and subjects never import eval's cli, render, analysis, run or store": lambda m, t: (
        top(m) in PLUGINS and _in(t, "cli", "render", "analysis", "run", "store")
    ),
    "chaos and subjects never import each other": lambda m, t: (
        top(m) in PLUGINS and top(t) in PLUGINS and top(m) != top(t)
    ),
    "only cli and render use rich, only cli uses typer": lambda m, t: (
        (top(t) == "rich" and not _in(m, "cli", "render"))
        or (top(t) == "typer" and not _in(m, "cli"))
    ),
    SPAWN: lambda m, t: top(t) == "subprocess" and not m.startswith(SPAWNERS),
}


def _spawns(f: str) -> bool:
    return f.startswith(("subprocess.", "os.spawn", "os.exec", "os.posix_spawn")) or f in (
        "asyncio.create_subprocess_exec", "os.system", "os.popen", "asyncio.create_subprocess_shell"
    )


def _shell(c: ast.Call, f: str) -> bool:
    off = (None, False, 0)
    on = any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value in off)
             for k in c.keywords)
    return on or f in ("os.system", "os.popen", "asyncio.create_subprocess_shell")


def _writes(c: ast.Call, f: str) -> bool:
    """console.print(...), err.print_json(...), Console().print(...), console.log(...)."""
    attr = c.func.attr if isinstance(c.func, ast.Attribute) else ""
    return attr in ("print", "print_json", "print_exception") or (
        attr == "log" and top(f) not in ("log", "logger", "logging")
    )


# rule -> breach(module, its source, the call, the called function as written)
CALL_RULES: dict[str, Callable[[str, Source, ast.Call, str], bool]] = {
    "only cli calls asyncio.run (programs copied into images excepted)": lambda m, s, c, f: (
        (f in ("asyncio.run", "asyncio.Runner") or f.endswith(".run_until_complete"))
        and not _in(m, "cli") and s.rel not in PROGRAMS
    ),
    "only cli prints (builtin print)": lambda m, s, c, f: f == "print" and not _in(m, "cli"),
    "only cli and render write to a console (.print, .print_json, .log)": lambda m, s, c, f: (
        _writes(c, f) and not _in(m, "cli", "render")
    ),
    "only cli owns a Console (render writes to the console it is handed)": lambda m, s, c, f: (
        f.split(".")[-1] == "Console" and not _in(m, "cli")
    ),
    SPAWN: lambda m, s, c, f: _spawns(f) and not m.startswith(SPAWNERS),
    "no shell strings (shell=True, os.system, os.popen, create_subprocess_shell)": (
        lambda m, s, c, f: _shell(c, f)
    ),
    NO_PLUGINS: lambda m, s, c, f: (
        top(m) == "eval" and m != "chaos_eval.spec.registry"
        and f.split(".")[-1] in ("import_module", "__import__")
    ),
}


def import_breaches(root: Path) -> dict[str, list[str]]:
    srcs = sources(root)
    known = frozenset(s.name for s in srcs)
    out: dict[str, list[str]] = {rule: [] for rule in IMPORT_RULES}
    for src in srcs:
        for imp in imports(src, known):
            for rule, broken in IMPORT_RULES.items():
                if broken(src.name, imp.target):
                    why = rule
                    if rule == DOWNWARD:
                        rm, rt = room(src.name) or "", room(imp.target)
                        allowed = ", ".join(sorted(MAY_IMPORT[rm]))
                        why = f"room {rm} may import only {allowed}; {rt} is not below it"
                    where = f"{src.rel}:{imp.line}: {src.name} imports {imp.target}"
                    out[rule].append(f"{where}: {why}")
    return out


def call_breaches(root: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {rule: [] for rule in CALL_RULES}
    for src in sources(root):
        for node in ast.walk(src.tree):
            if isinstance(node, ast.Call):
                f = ast.unparse(node.func)
                for rule, broken in CALL_RULES.items():
                    if broken(src.name, src, node, f):
                        out[rule].append(f"{src.rel}:{node.lineno}: {src.name} calls {f}(): {rule}")
    return out


def literal_breaches(root: Path) -> dict[str, list[str]]:
    """SQL text outside eval/store; "chaos.x:Y" paths outside eval/spec/registry.py."""
    sql, paths = "only eval/store holds SQL text", "only eval/spec/registry.py names chaos/subjects"
    out: dict[str, list[str]] = {sql: [], paths: []}
    for src in sources(root):
        for node in ast.walk(src.tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                where = f"{src.rel}:{node.lineno}: {src.name} holds {node.value[:40]!r}"
                if SQL.match(node.value) and not _in(src.name, "store"):
                    out[sql].append(f"{where}: {sql}")
                if DOTTED.match(node.value) and src.name != "chaos_eval.spec.registry":
                    out[paths].append(f"{where}: {paths}")
    return out


def module_breaches(root: Path) -> dict[str, list[str]]:
    size, name = f"no module over {MAX_LINES} lines", "modules are named after one concept"
    out: dict[str, list[str]] = {size: [], name: []}
    for src in sources(root):
        if src.lines > MAX_LINES:
            out[size].append(f"{src.rel}: {src.lines} lines (cap {MAX_LINES}): split it by concept")
        out[name] += [f"{src.rel}: {src.name}: {part!r} names no concept ({name})"
                      for part in src.name.split(".") if BAD_NAME.search(part)]
    return out
