"""ARCHITECTURE.md sections 1 and 2 kept true: the checkers of architecture_rules.py and
import_cycles.py run on the repository, and on small broken trees to show that each rule
fails with a message naming the file, the module, the import or call, and the rule."""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

from tests.unit.architecture_rules import (
    MAY_IMPORT,
    PROGRAMS,
    SKIPPED,
    Source,
    call_breaches,
    import_breaches,
    imports,
    literal_breaches,
    module_breaches,
    sources,
    top,
)
from tests.unit.import_cycles import cycles

ROOT = Path(__file__).resolve().parents[2]


@cache
def all_breaches(root: Path) -> dict[str, list[str]]:
    """rule -> one message per breach under root (an empty list when the rule holds)."""
    out = import_breaches(root)
    for more in (call_breaches(root), literal_breaches(root), module_breaches(root)):
        for rule, msgs in more.items():
            out[rule] = out.get(rule, []) + msgs
    return out | {"no import cycles": cycles(root)}


RULES = sorted(all_breaches(ROOT))


@pytest.mark.parametrize("rule", RULES)
def test_rule_holds(rule: str) -> None:
    breaches = all_breaches(ROOT)[rule]
    assert not breaches, f"ARCHITECTURE.md §1-2: {rule}\n  " + "\n  ".join(breaches)


def test_the_room_table_points_one_way() -> None:
    for rm, allowed in MAY_IMPORT.items():
        for rt in allowed - {rm}:
            assert rm not in MAY_IMPORT[rt], f"rooms {rm} and {rt} may import each other"


def test_programs_run_in_containers_are_stdlib_only() -> None:
    from chaos_eval.images.recipes import RECIPES

    copied = {src for r in RECIPES.values() for src, _ in r.files}
    assert copied >= PROGRAMS, f"{PROGRAMS - copied}: exempt as programs, but no image copies them"
    helpers = [p.relative_to(ROOT).as_posix() for p in (ROOT / SKIPPED).glob("*.py")]
    for rel in [*sorted(PROGRAMS), *helpers]:
        src = Source(rel, rel, ast.parse((ROOT / rel).read_text()), 0)
        foreign = {i.target for i in imports(src, frozenset())} - {"__future__"}
        foreign = {t for t in foreign if top(t) not in sys.stdlib_module_names}
        assert not foreign, f"{rel} runs in a container: standard library only, not {foreign}"


def test_registry_names_every_fault_class_and_each_path_exists() -> None:
    from chaos_eval.spec import registry

    srcs = {s.name: s for s in sources(ROOT)}
    faults = {f"{s.name}:{n.name}" for s in srcs.values()
              if s.name.startswith("chaos_eval.chaos.") and s.name.count(".") == 2
              for n in s.tree.body if isinstance(n, ast.ClassDef) and n.name.endswith("Fault")}
    assert faults == {cls for cls, _ in registry.FAULTS.values()}, "FAULTS misses a fault class"
    paths = [*registry.SUBJECTS.values(), *registry.SUBJECT_PARAMS.values(),
             *(p for pair in registry.FAULTS.values() for p in pair)]
    for path in paths:
        module, _, attr = path.partition(":")
        assert module in srcs, f"registry names {path}: no such module"
        defined = {n.name for n in srcs[module].tree.body if isinstance(n, ast.ClassDef)}
        assert attr in defined, f"registry names {path}, which {srcs[module].rel} does not define"


# ---- the checkers can fail: small trees, each breaking one rule ----

def tree(root: Path, files: dict[str, str]) -> Path:
    for pkg in ("eval", "chaos", "subjects"):
        (root / pkg).mkdir(exist_ok=True)
        (root / pkg / "__init__.py").touch()
    for rel, text in files.items():
        path = root / rel
        for d in path.relative_to(root).parents:
            (root / d).mkdir(exist_ok=True)
            if d != Path("."):
                (root / d / "__init__.py").touch()
        path.write_text(text)
    return root


BROKEN = [  # (files, rule, the message expected)
    ({"eval/analysis/stats.py": "import docker\n"}, "only eval/engine imports docker (docker-py)",
     "eval/analysis/stats.py:1: chaos_eval.analysis.stats imports docker: "
     "only eval/engine imports docker (docker-py)"),
    ({"eval/analysis/stats.py": "import docker\n"},
     "analysis never touches Docker (docker, chaos_eval.engine)",
     "eval/analysis/stats.py:1: chaos_eval.analysis.stats imports docker: "
     "analysis never touches Docker (docker, chaos_eval.engine)"),
    ({"eval/analysis/stats.py": "def f(console):\n    console.print('x')\n"},
     "only cli and render write to a console (.print, .print_json, .log)",
     "eval/analysis/stats.py:2: chaos_eval.analysis.stats calls console.print(): "
     "only cli and render write to a console (.print, .print_json, .log)"),
    ({"eval/store/store.py": "from chaos_eval.run import trial\n", "eval/run/trial.py": ""},
     "rooms import only downward (MAY_IMPORT in tests/unit/architecture_rules.py)",
     "eval/store/store.py:1: chaos_eval.store.store imports chaos_eval.run.trial: "
     "room store may import only eval (top level), spec; run is not below it"),
    ({"eval/store/store.py": "from chaos_eval.run import trial\n", "eval/run/trial.py": ""},
     "store knows nothing of run, analysis, render, cleanup or cli",
     "eval/store/store.py:1: chaos_eval.store.store imports chaos_eval.run.trial: "
     "store knows nothing of run, analysis, render, cleanup or cli"),
    ({"eval/render/report.py": "from chaos_eval.store.store import Store\n",
      "eval/store/store.py": ""},
     "render never opens the store (it may take chaos_eval.store.records values)",
     "eval/render/report.py:1: chaos_eval.render.report imports chaos_eval.store.store: "
     "render never opens the store (it may take chaos_eval.store.records values)"),
    ({"eval/run/trial.py": "import chaos_eval.chaos.pause\n", "chaos/pause.py": ""},
     "eval never imports chaos or subjects (eval/spec/registry.py names them in strings)",
     "eval/run/trial.py:1: chaos_eval.run.trial imports chaos_eval.chaos.pause: "
     "eval never imports chaos or subjects (eval/spec/registry.py names them in strings)"),
    ({"chaos/pause.py": "from chaos_eval.store.store import Store\n", "eval/store/store.py": ""},
     "chaos and subjects never import eval's cli, render, analysis, run or store",
     "chaos/pause.py:1: chaos_eval.chaos.pause imports chaos_eval.store.store: "
     "chaos and subjects never import eval's cli, render, analysis, run or store"),
    ({"subjects/etcd/subject.py": "from chaos_eval.chaos import probes\n", "chaos/probes.py": ""},
     "chaos and subjects never import each other",
     "subjects/etcd/subject.py:1: chaos_eval.subjects.etcd.subject imports "
     "chaos_eval.chaos.probes: "
     "chaos and subjects never import each other"),
    ({"eval/run/campaign.py": "import asyncio\nasyncio.run(main())\n"},
     "only cli calls asyncio.run (programs copied into images excepted)",
     "eval/run/campaign.py:2: chaos_eval.run.campaign calls asyncio.run(): "
     "only cli calls asyncio.run (programs copied into images excepted)"),
    ({"chaos/pause.py": "print('paused')\n"}, "only cli prints (builtin print)",
     "chaos/pause.py:1: chaos_eval.chaos.pause calls print(): only cli prints (builtin print)"),
    ({"eval/render/html.py": "from rich.console import Console\nConsole().print(1)\n"},
     "only cli owns a Console (render writes to the console it is handed)",
     "eval/render/html.py:2: chaos_eval.render.html calls Console(): "
     "only cli owns a Console (render writes to the console it is handed)"),
    ({"eval/analysis/stats.py": "import subprocess\n"},
     "only engine, images and run/provenance spawn processes",
     "eval/analysis/stats.py:1: chaos_eval.analysis.stats imports subprocess: "
     "only engine, images and run/provenance spawn processes"),
    ({"eval/engine/compose.py": "import subprocess\nsubprocess.run('ls', shell=True)\n"},
     "no shell strings (shell=True, os.system, os.popen, create_subprocess_shell)",
     "eval/engine/compose.py:2: chaos_eval.engine.compose calls subprocess.run(): "
     "no shell strings (shell=True, os.system, os.popen, create_subprocess_shell)"),
    ({"eval/analysis/status.py": 'Q = "SELECT id FROM trials"\n'}, "only eval/store holds SQL text",
     "eval/analysis/status.py:1: chaos_eval.analysis.status holds 'SELECT id FROM trials': "
     "only eval/store holds SQL text"),
    ({"eval/run/trial.py": 'P = "chaos_eval.chaos.pause:PauseFault"\n'},
     "only eval/spec/registry.py names chaos/subjects",
     "eval/run/trial.py:1: chaos_eval.run.trial holds 'chaos_eval.chaos.pause:PauseFault': "
     "only eval/spec/registry.py names chaos/subjects"),
    ({"eval/engine/client.py": "x = 1\n" * 301}, "no module over 300 lines",
     "eval/engine/client.py: 301 lines (cap 300): split it by concept"),
    ({"eval/engine/docker_utils.py": ""}, "modules are named after one concept",
     "eval/engine/docker_utils.py: chaos_eval.engine.docker_utils: 'docker_utils' names no concept "
     "(modules are named after one concept)"),
    ({"eval/spec/a.py": "from chaos_eval.spec import b\n",
      "eval/spec/b.py": "def f():\n import chaos_eval.spec.a"},
     "no import cycles",
     "import cycle: chaos_eval.spec.a -> chaos_eval.spec.b -> chaos_eval.spec.a"),
]


@pytest.mark.parametrize(("files", "rule", "message"), BROKEN, ids=[b[1] for b in BROKEN])
def test_a_broken_tree_is_reported(
    tmp_path: Path, files: dict[str, str], rule: str, message: str
) -> None:
    found = all_breaches(tree(tmp_path, files))[rule]
    assert message in found, found


def test_a_tree_keeping_the_rules_is_clean(tmp_path: Path) -> None:
    files = {
        "eval/__main__.py": "from chaos_eval.cli.app import main\n",
        "eval/cli/app.py": "import asyncio\nfrom rich.console import Console\n"
        "out = Console()\nprint(1)\nout.print(asyncio.run(main()))\n",
        "eval/render/report.py": "from chaos_eval.store.records import Row\n"
        "def show(console):\n    console.print_json('{}')\n",
        "eval/store/records.py": "import sqlite3\nQ = 'SELECT id FROM trials'\n",
        "eval/engine/helpers.py": "import docker\nimport subprocess\n",
        "eval/run/trial.py": "import logging\nfrom chaos_eval.analysis import metrics\n"
        "logging.getLogger(__name__).log(10, 'x')\n",
        "eval/analysis/metrics.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from chaos_eval.analysis.verdict import V\n",
        "eval/analysis/verdict.py": "from chaos_eval.analysis import metrics\n",
        "eval/spec/registry.py": "FAULTS = {'pause': 'chaos_eval.chaos.pause:PauseFault'}\n",
        SKIPPED + "shaper.py": "import subprocess\nprint(subprocess.run('x', shell=True))\n",
        "subjects/tikv/subject.py":
            "from chaos_eval.engine import helpers\nfrom chaos_eval.subjects import noop\n",
        "subjects/noop.py": "",
    }
    found = all_breaches(tree(tmp_path, files))
    assert {rule: msgs for rule, msgs in found.items() if msgs} == {}
