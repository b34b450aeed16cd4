"""Undo plans read from a db are not trusted (issue 11, class 9): each action is checked
(no `assert`; only argv the harness's own builders make) and acts only on resources that
carry THIS campaign's label; anything else is refused and the refusal recorded."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from chaos_eval.chaos.diskfill import fill_names, remove_argv
from chaos_eval.chaos.net.partition_rules import undo_argvs
from chaos_eval.chaos.net.shape import LATENCY_SLOT, LOSS_SLOT
from chaos_eval.chaos.net.shaping import _netns_undo
from chaos_eval.cleanup.repair import undo_open_ledger
from chaos_eval.cleanup.undo import check_action, run_undo
from chaos_eval.engine.containers import ContainerInfo, HelperResult, VolumeInfo
from chaos_eval.errors import ParameterError
from chaos_eval.fault import UndoAction, UndoOp, undo_plan_from_json
from chaos_eval.outcomes import LedgerState
from chaos_eval.store.store import Store
from chaos_eval.subject import LABEL_CAMPAIGN
from tests.unit.store.test_store import new_campaign

OURS = "campaign-ours"
LABELS = {LABEL_CAMPAIGN: OURS, "chaos-eval.role": "helper"}


class Engine:
    """Containers and volumes named `ours*` carry this campaign's label; others another's."""

    def __init__(self) -> None:
        self.did: list[tuple[str, str]] = []

    def _labels(self, name: str) -> dict[str, str]:
        return {LABEL_CAMPAIGN: OURS if name.startswith("ours") else "someone-else"}

    async def inspect(self, container: str) -> ContainerInfo:
        return ContainerInfo(container, container, "paused", True, True, 0, "",
                             labels=self._labels(container))

    async def volume_info(self, name: str) -> VolumeInfo:
        return VolumeInfo(name, "local", labels=self._labels(name))

    async def unpause(self, container: str) -> bool:
        self.did.append(("unpause", container))
        return True

    async def start(self, container: str) -> bool:
        self.did.append(("start", container))
        return True

    async def remove(self, container: str) -> bool:
        self.did.append(("remove", container))
        return True

    async def run_helper(self, argv: Iterable[str], *, labels: Mapping[str, str],
                         **kw: Any) -> HelperResult:
        self.did.append(("run", " ".join(argv)))
        return HelperResult(0, "", "")


def harness_argvs() -> list[tuple[UndoOp, tuple[str, ...]]]:
    """Every argv the harness's own undo plans hold."""
    out = [(UndoOp.HELPER_RUN, a) for s in (LATENCY_SLOT, LOSS_SLOT) for a, _ in _netns_undo(s)]
    out += [(UndoOp.HELPER_RUN, a) for a, _ in undo_argvs()]
    out.append((UndoOp.VOLUME_RUN, remove_argv(fill_names("k" * 20))))
    return out


@pytest.mark.parametrize(("op", "argv"), harness_argvs())
def test_every_argv_the_harness_builds_is_accepted(op: UndoOp, argv: tuple[str, ...]) -> None:
    vol = "ours-vol" if op == UndoOp.VOLUME_RUN else None
    assert check_action(UndoAction(op, "ours1", argv, volume=vol)) is None


@pytest.mark.parametrize("argv", [
    ("sh", "-c", "reboot"),
    ("iptables", "-F"),  # flushes rules it did not create
    ("tc", "qdisc", "del", "dev", "eth0", "root"),
    ("rm", "-f", "--", "/target/../etc/passwd"),
    ("rm", "-rf", "/"),
    (),
])
async def test_argv_the_harness_never_builds_is_refused(argv: tuple[str, ...]) -> None:
    engine = Engine()
    for op, vol in ((UndoOp.HELPER_RUN, None), (UndoOp.VOLUME_RUN, "ours-vol")):
        problems = await run_undo(engine, [UndoAction(op, "ours1", argv, volume=vol)], LABELS)  # type: ignore[arg-type]
        assert len(problems) == 1 and "not one the harness builds" in problems[0]
    assert engine.did == []


@pytest.mark.parametrize("op", [UndoOp.START_CONTAINER, UndoOp.UNPAUSE_CONTAINER,
                                UndoOp.REMOVE_CONTAINER, UndoOp.HELPER_RUN])
async def test_a_container_of_another_campaign_is_not_touched(op: UndoOp) -> None:
    engine = Engine()
    argv = harness_argvs()[0][1] if op == UndoOp.HELPER_RUN else ()
    problems = await run_undo(engine, [UndoAction(op, "theirs1", argv)], LABELS)  # type: ignore[arg-type]
    assert engine.did == []
    assert len(problems) == 1 and "refused" in problems[0] and "theirs1" in problems[0]
    # the same action on one of ours runs
    assert await run_undo(engine, [UndoAction(op, "ours1", argv)], LABELS) == []  # type: ignore[arg-type]
    assert len(engine.did) == 1


async def test_a_volume_of_another_campaign_is_not_mounted() -> None:
    engine = Engine()
    argv = remove_argv(fill_names("k" * 20))
    problems = await run_undo(
        engine, [UndoAction(UndoOp.VOLUME_RUN, "ours1", argv, volume="theirs-vol")], LABELS)  # type: ignore[arg-type]
    assert engine.did == [] and "refused" in problems[0]


@pytest.mark.parametrize("raw", [
    '[{"op": "start_container", "container": "--privileged"}]',
    '[{"op": "start_container", "container": 7}]',
    '[{"op": "format_disk", "container": "x"}]',
    '[{"op": "helper_run", "container": "x", "argv": "rm -rf /"}]',
    '[{"op": "helper_run", "container": "x", "argv": [1, 2]}]',
    '[{"op": "start_container", "container": "x", "ok_exit_codes": [true]}]',
    '{"op": "start_container"}',
    "not json",
    "[1]",
])
def test_malformed_undo_plans_are_refused_without_assert(raw: str) -> None:
    with pytest.raises(ParameterError):
        undo_plan_from_json(raw)


async def test_resume_refuses_and_records_a_foreign_undo_plan(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "e.db") as store:
        cid = await new_campaign(store, n=2)
        label = (await store.campaign(cid)).uid
        t1, t2 = await store.trials(cid)
        evil = json.dumps([{"op": "helper_run", "container": "x", "argv": ["sh", "-c", "id"]}])
        await store.record_fault_planned(t1.id, kind="noop", description="d", targets=["x"],
                                         undo=evil)
        await store.record_fault_planned(t2.id, kind="noop", description="d", targets=["x"],
                                         undo="garbage")
        engine = Engine()
        done = await undo_open_ledger(store, engine, cid, label, event="ledger_repaired")  # type: ignore[arg-type]
        assert engine.did == []
        assert all(problems for _, problems in done)
        assert [r.state for t in (t1, t2) for r in await store.trial_ledger(t.id)] == [
            LedgerState.CLEANUP_FAILED, LedgerState.CLEANUP_FAILED]
        details = [e.detail for e in await store.events(cid, "ledger_repaired")]
        assert "not one the harness builds" in details[0] and "refused" in details[1]
