"""A fault that does nothing, observably. Used by unit tests at the Fault seam.

Its switches make each step of the lifecycle fail the way a real fault can, so the harness's
error paths are tested without Docker:

    fail_inject    inject raises FaultError (before anything is applied)
    fail_verify    verify_active reports the fault does not hold
    cleanup        ok | fail (cleanup_chaos raises) | hang (hangs before removing anything)
                   | remove_then_hang (removes the fault, then hangs: a helper that never exits)
    stuck          the fault cannot be removed: verify_removed always reports it present
    hang_on        hang (until cancelled) in inject or verify_active: cancellation there

Its undo plan is one real, harmless action (unpause its first target if paused), so a test's
engine double can see the harness fall back to the ledger's undo plan (tests/unit/run).
"""

from __future__ import annotations

import asyncio
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from chaos_eval.engine.client import Docker
from chaos_eval.errors import FaultError
from chaos_eval.fault import Evidence, UndoAction, UndoOp
from chaos_eval.subject import Node, TrialContext


class NoopParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    fail_inject: bool = False
    fail_verify: bool = False
    cleanup: Literal["ok", "fail", "hang", "remove_then_hang"] = "ok"
    stuck: bool = False
    hang_on: Literal["", "inject", "verify_active"] = ""
    label: str = Field(default="", max_length=40)


class NoopFault:
    kind: ClassVar[str] = "noop"
    # every instance, in order of creation: tests inspect what the harness did to each
    made: ClassVar[list[NoopFault]] = []

    def __init__(
        self,
        params: NoopParams,
        targets: tuple[Node, ...],
        cluster: tuple[Node, ...],
        ctx: TrialContext,
        docker: Docker,
    ) -> None:
        self.params, self.targets = params, targets
        self.active = False
        self.cleanups = 0
        self.calls: list[str] = []
        NoopFault.made.append(self)

    def describe(self) -> str:
        return f"noop on {[n.name for n in self.targets]}"

    def undo_plan(self) -> tuple[UndoAction, ...]:
        return tuple(UndoAction(UndoOp.UNPAUSE_CONTAINER, n.container_id) for n in self.targets[:1])

    async def inject(self) -> None:
        self.calls.append("inject")
        if self.params.hang_on == "inject":
            await asyncio.Event().wait()
        if self.params.fail_inject:
            raise FaultError("noop fault asked to fail its injection")
        self.active = True

    async def verify_active(self) -> Evidence:
        self.calls.append("verify_active")
        if self.params.hang_on == "verify_active":
            await asyncio.Event().wait()
        holds = self.active and not self.params.fail_verify
        return Evidence(holds, "noop flag set" if holds else "noop flag not set")

    async def cleanup_chaos(self) -> None:
        self.calls.append("cleanup_chaos")
        self.cleanups += 1
        mode = self.params.cleanup
        if mode == "fail":
            raise FaultError("noop fault asked to fail its cleanup")
        if mode == "remove_then_hang":
            self.active = False
        if mode in ("hang", "remove_then_hang"):
            await asyncio.Event().wait()
        self.active = False

    async def verify_removed(self) -> Evidence:
        self.calls.append("verify_removed")
        gone = not self.active and not self.params.stuck
        return Evidence(gone, "noop flag cleared" if gone else "noop flag still set")
