"""A fault that does nothing, observably. Used by unit tests at the Fault seam."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from chaos_eval.engine.client import Docker
from chaos_eval.fault import Evidence, UndoAction
from chaos_eval.subject import Node, TrialContext


class NoopParams(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    fail_inject: bool = False  # lets unit tests exercise the harness's error path
    label: str = Field(default="", max_length=40)


class NoopFault:
    kind: ClassVar[str] = "noop"

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

    def describe(self) -> str:
        return f"noop on {[n.name for n in self.targets]}"

    def undo_plan(self) -> tuple[UndoAction, ...]:
        return ()

    async def inject(self) -> None:
        from chaos_eval.errors import FaultError

        if self.params.fail_inject:
            raise FaultError("noop fault asked to fail its injection")
        self.active = True

    async def verify_active(self) -> Evidence:
        return Evidence(self.active, "noop flag set" if self.active else "noop flag not set")

    async def cleanup_chaos(self) -> None:
        self.cleanups += 1
        self.active = False

    async def verify_removed(self) -> Evidence:
        return Evidence(not self.active, "noop flag cleared")
