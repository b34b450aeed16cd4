"""The Store's verbs over what a trial leaves to be looked at later: its ops, the register
workload's history and the container logs captured at teardown (ops.py, histories.py,
container_logs.py). A part of the `Store` facade (store.py), kept apart by concept."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from chaos_eval.store.container_logs import ContainerLogs
from chaos_eval.store.histories import Histories
from chaos_eval.store.ops import Ops
from chaos_eval.store.records import OpRecord, OpRow


class EvidenceVerbs:
    """Mixed into `Store`, which sets these parts over its one connection."""

    _ops: Ops
    _histories: Histories
    _logs: ContainerLogs

    async def record_ops(self, trial_id: int, attempt: int, ops: Iterable[OpRecord]) -> None:
        await self._ops.record(trial_id, attempt, ops)

    async def ops(self, trial_id: int) -> list[OpRow]:
        """The ops of the trial's latest attempt."""
        return await self._ops.latest_attempt(trial_id)

    async def record_history(self, trial_id: int, attempt: int, text: str) -> None:
        """A register workload's history, as chaos_eval.history JSON lines."""
        await self._histories.record(trial_id, attempt, text)

    async def history(self, trial_id: int) -> str | None:
        """The history of the trial's latest attempt (None: it recorded none)."""
        return await self._histories.latest_attempt(trial_id)

    async def record_container_logs(
        self, trial_id: int, attempt: int, logs: Mapping[str, str]
    ) -> None:
        await self._logs.record(trial_id, attempt, logs)

    async def container_logs(self, trial_id: int) -> dict[str, str]:
        """node -> container log captured at teardown of the latest attempt (may be empty)."""
        return await self._logs.latest_attempt(trial_id)
