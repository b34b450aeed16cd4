"""The Fault protocol: a reversible disturbance with proof of effect and proof of removal.

The lifecycle (driven by eval/run/trial.py) is:

    plan = fault.undo_plan()        # what cleanup must do; written to the ledger FIRST
    await fault.inject()            # then do it
    await fault.verify_active()     # observed from outside the target
    ...hold...
    finally (shielded, bounded):
        await fault.cleanup_chaos() # idempotent, safe after a half-done inject
        await fault.verify_removed()

`undo_plan()` is data (UndoActions), so a fresh process that knows nothing else (resume,
`eval gc`) can remove a fault a dead run left behind by executing it (eval/cleanup/undo.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable


class UndoOp(StrEnum):
    START_CONTAINER = "start_container"  # start it if it is not running
    UNPAUSE_CONTAINER = "unpause_container"  # unpause it if it is paused
    REMOVE_CONTAINER = "remove_container"  # force-remove a helper container (by name)
    HELPER_RUN = "helper_run"  # run argv in a NET_ADMIN helper joined to the container's netns
    VOLUME_RUN = "volume_run"  # run argv in a helper with the volume mounted at /target


@dataclass(frozen=True)
class UndoAction:
    """One idempotent step of removing a fault; serialisable to the ledger."""

    op: UndoOp
    container: str  # container id or name the action concerns
    argv: tuple[str, ...] = ()
    volume: str | None = None
    ok_exit_codes: tuple[int, ...] = (0,)  # codes meaning "done or already absent"

    def to_json(self) -> dict[str, object]:
        return {
            "op": self.op.value,
            "container": self.container,
            "argv": list(self.argv),
            "volume": self.volume,
            "ok_exit_codes": list(self.ok_exit_codes),
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, object]) -> UndoAction:
        argv = raw.get("argv") or []
        codes = raw.get("ok_exit_codes") or [0]
        vol = raw.get("volume")
        assert isinstance(argv, list) and isinstance(codes, list)
        return cls(
            op=UndoOp(str(raw["op"])),
            container=str(raw["container"]),
            argv=tuple(str(a) for a in argv),
            volume=None if vol is None else str(vol),
            ok_exit_codes=tuple(int(str(c)) for c in codes),
        )


def undo_plan_to_json(actions: tuple[UndoAction, ...]) -> str:
    return json.dumps([a.to_json() for a in actions], sort_keys=True)


def undo_plan_from_json(text: str) -> tuple[UndoAction, ...]:
    return tuple(UndoAction.from_json(raw) for raw in json.loads(text))


@dataclass(frozen=True)
class Evidence:
    """An observation made from outside the target, stored with the trial."""

    holds: bool  # for verify_active: the fault is in effect; for verify_removed: it is gone
    summary: str
    figures: Mapping[str, float | str] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"holds": self.holds, "summary": self.summary, "figures": dict(self.figures)}


@runtime_checkable
class BaselineAware(Protocol):
    """Optional power: measure the pre-fault baseline (e.g. RTT) before the ledger row is
    written, during the steady state, so injection latency does not include it."""

    async def measure_baseline(self) -> object:
        """Observe and remember the target's normal state; the return value is informative
        only. Idempotent; changes nothing on the target."""


@runtime_checkable
class Fault(Protocol):
    """One fault of one kind, bound to its targets within one trial."""

    kind: ClassVar[str]

    def describe(self) -> str:
        """A one-line human description (kind, targets, params). Pure."""

    def undo_plan(self) -> tuple[UndoAction, ...]:
        """The idempotent steps that remove this fault. Pure: computed before `inject`, so the
        ledger row exists before anything is done. Must cover a half-done inject."""

    async def inject(self) -> None:
        """Apply the fault. Raises FaultError if it cannot; may leave it half-applied."""

    async def verify_active(self) -> Evidence:
        """Observe from outside that the fault holds (RTT rose, process stopped...).
        Never reads back what the harness wrote as proof; never raises for 'does not hold'."""

    async def cleanup_chaos(self) -> None:
        """Remove the fault. Idempotent; safe after a half-done or failed inject and when the
        target died or restarted meanwhile. Removes only what this fault added."""

    async def verify_removed(self) -> Evidence:
        """Prove the target is back to its pre-fault baseline (no qdisc, chain, file, ...)."""
