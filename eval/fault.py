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
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Protocol, runtime_checkable

from chaos_eval.errors import ParameterError

# a container or volume id or name as Docker allows them (never an option: no leading "-")
CONTAINER_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


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
    def from_json(cls, raw: object) -> UndoAction:
        """An action read back from a ledger row, its types checked (never assumed: the db
        may be anyone's). ParameterError naming what is wrong."""
        if not isinstance(raw, Mapping):
            raise ParameterError(f"undo action is not an object: {raw!r:.80}")
        op, container = raw.get("op"), raw.get("container")
        argv, vol = raw.get("argv") or [], raw.get("volume")
        codes = raw.get("ok_exit_codes") or [0]
        if op not in {o.value for o in UndoOp}:
            raise ParameterError(f"unknown undo op {op!r:.40}")
        if not isinstance(container, str) or not CONTAINER_RE.fullmatch(container):
            raise ParameterError(f"undo action names no valid container: {container!r:.80}")
        if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
            raise ParameterError("undo argv is not a list of strings")
        if vol is not None and (not isinstance(vol, str) or not CONTAINER_RE.fullmatch(vol)):
            raise ParameterError(f"undo action names no valid volume: {vol!r:.80}")
        if not isinstance(codes, list) or not all(
            isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in codes
        ):
            raise ParameterError(f"undo exit codes are not exit codes: {codes!r:.80}")
        return cls(UndoOp(op), container, tuple(argv), vol, tuple(codes))


def undo_plan_to_json(actions: tuple[UndoAction, ...]) -> str:
    return json.dumps([a.to_json() for a in actions], sort_keys=True)


def undo_plan_from_json(text: str) -> tuple[UndoAction, ...]:
    """A ledger row's undo plan; ParameterError when it is not one."""
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, TypeError) as e:
        raise ParameterError(f"undo plan is not JSON: {e}") from None
    if not isinstance(raw, list):
        raise ParameterError("undo plan is not a list")
    return tuple(UndoAction.from_json(a) for a in raw)


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
