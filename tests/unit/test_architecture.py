"""The import rules of ARCHITECTURE.md section 2, kept true by walking every module's AST."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EVAL = sorted((ROOT / "eval").glob("*.py"))


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def calls(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                out.add(f.id)
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                out.add(f"{f.value.id}.{f.attr}")
    return out


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("path", EVAL, ids=lambda p: p.name)
def test_eval_never_imports_subjects_or_chaos_except_registry(path: Path) -> None:
    bad = {n for n in imports(path) if top(n) in ("subjects", "chaos")}
    assert not bad, f"{path.name} imports {bad}: name implementations only in registry.py"


@pytest.mark.parametrize("path", EVAL, ids=lambda p: p.name)
def test_only_docker_and_compose_talk_to_docker(path: Path) -> None:
    if path.name in ("docker.py",):
        return
    assert not {n for n in imports(path) if top(n) == "docker"}, path.name


@pytest.mark.parametrize("path", EVAL, ids=lambda p: p.name)
def test_only_store_and_migrations_hold_sql(path: Path) -> None:
    # the Store is split by concept: its connection, its lease and ledger, its other verbs
    if path.name in ("store.py", "database.py", "store_recovery.py", "migrations.py"):
        return
    assert not {n for n in imports(path) if top(n) in ("sqlite3", "aiosqlite")}, path.name


@pytest.mark.parametrize("path", EVAL, ids=lambda p: p.name)
def test_only_cli_and_report_print(path: Path) -> None:
    if path.name in ("cli.py", "report.py", "html_report.py"):
        return
    assert "print" not in calls(path), f"{path.name} prints: return values, log instead"


@pytest.mark.parametrize("path", EVAL, ids=lambda p: p.name)
def test_only_cli_calls_asyncio_run(path: Path) -> None:
    if path.name == "cli_boundary.py":  # the CLI's error boundary, shared by every command
        return
    assert "asyncio.run" not in calls(path), path.name


@pytest.mark.parametrize("path", EVAL, ids=lambda p: p.name)
def test_subprocesses_only_at_their_boundaries(path: Path) -> None:
    allowed = {"compose.py", "image_build.py", "provenance.py"}
    if path.name in allowed:
        return
    names = imports(path) | calls(path)
    assert "subprocess" not in names and "asyncio.create_subprocess_exec" not in names, path.name
    assert "os.system" not in names and "asyncio.create_subprocess_shell" not in names


def test_no_shell_strings_anywhere() -> None:
    for path in [*EVAL, *(ROOT / "chaos").glob("*.py"), *(ROOT / "subjects").glob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "shell":
                        assert not (isinstance(kw.value, ast.Constant) and kw.value.value), path
        assert "create_subprocess_shell" not in path.read_text(), path


def test_registry_names_every_fault_and_subject_module() -> None:
    from eval.spec import registry

    chaos = {p.stem for p in (ROOT / "chaos").glob("*.py")} - {"__init__"}
    named = {path.split(":")[0].split(".")[1] for path, _ in registry.FAULTS.values()}
    helpers = {
        "netshape",
        "shaping",
        "shaped_fault",
        "probes",
        "reachability",
        "diskfill",
        "etcd_members",
        "partition_rules",
    }
    assert chaos - helpers - named == set(), "a fault module is missing from the registry"
