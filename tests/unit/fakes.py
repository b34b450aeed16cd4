"""An in-memory subject for harness tests at the Subject seam (no Docker)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, ClassVar

from chaos_eval.outcomes import OpOutcome
from chaos_eval.spec.config import SubjectSpec
from chaos_eval.subject import ClusterState, Endpoint, Health, Node, TrialContext
from chaos_eval.workload import BatchReadResult, ReadResult


class Tracker:
    running = 0
    max_running = 0
    started: ClassVar[list[str]] = []
    torn_down: ClassVar[list[str]] = []
    fail_up_for: ClassVar[set[str]] = set()  # trial keys whose `up` raises
    batch_reads = True  # clients offer BatchReadClient (False: the per-key final read)
    batch_calls = 0  # get_many calls made
    lose_writes = False
    lose_writes_for: ClassVar[set[str]] = set()  # trial keys whose writes vanish
    up_delay_s = 0.02
    up_delay_for: ClassVar[dict[str, float]] = {}  # trial key -> its own `up` delay
    log: ClassVar[list[tuple[str, str]]] = []  # ("up" | "down", trial key), in order

    @classmethod
    def reset(cls) -> None:
        cls.up_delay_s = 0.02
        cls.running = cls.max_running = 0
        cls.started, cls.torn_down = [], []
        cls.fail_up_for = set()
        cls.batch_reads, cls.batch_calls = True, 0
        cls.lose_writes = False
        cls.lose_writes_for, cls.up_delay_for, cls.log = set(), {}, []


class MemClient:
    def __init__(self, data: dict[str, str], lose: bool = False) -> None:
        self.data, self.lose = data, lose

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        await asyncio.sleep(0)
        if not (Tracker.lose_writes or self.lose):
            self.data[key] = value
        return OpOutcome.OK, ""

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        await asyncio.sleep(0)
        return ReadResult(OpOutcome.OK, self.data.get(key))

    async def get_many(self, keys: Sequence[str]) -> BatchReadResult:
        """chaos_eval.workload.BatchReadClient: every key at one instant (no await between);
        FAIL when Tracker.batch_reads is off, so the workload falls back to per-key reads."""
        await asyncio.sleep(0)
        Tracker.batch_calls += 1
        if not Tracker.batch_reads:
            return BatchReadResult(OpOutcome.FAIL, error="unimplemented")
        return BatchReadResult(OpOutcome.OK, {k: self.data.get(k) for k in keys})

    async def cas(self, key: str, expected: str | None, value: str) -> tuple[OpOutcome, str]:
        """chaos_eval.register.CasClient: atomic (no await between compare and set)."""
        await asyncio.sleep(0)
        if self.data.get(key) != expected:
            return OpOutcome.FAIL, "mismatch"
        if not (Tracker.lose_writes or self.lose):
            self.data[key] = value
        return OpOutcome.OK, ""

    async def aclose(self) -> None:
        return None


class FakeSubject:
    kind: ClassVar[str] = "fake"

    def __init__(self, ctx: TrialContext) -> None:
        self.ctx = ctx
        self.data: dict[str, str] = {}
        self._nodes = tuple(
            Node(f"n{i}", "fake", f"c{i}", f"10.0.0.{i}", (Endpoint("client", "127.0.0.1", i),))
            for i in range(1, 4)
        )

    @classmethod
    def from_spec(cls, spec: SubjectSpec, ctx: TrialContext, docker: Any) -> FakeSubject:
        return cls(ctx)

    async def up(self) -> None:
        Tracker.running += 1
        Tracker.max_running = max(Tracker.max_running, Tracker.running)
        Tracker.started.append(self.ctx.trial_key)
        Tracker.log.append(("up", self.ctx.trial_key))
        if self.ctx.trial_key in Tracker.fail_up_for:
            from chaos_eval.errors import ComposeError

            raise ComposeError("compose up failed (simulated)")
        await asyncio.sleep(Tracker.up_delay_for.get(self.ctx.trial_key, Tracker.up_delay_s))

    async def wait_healthy(self, timeout_s: float) -> Health:
        return await self.health()

    async def nodes(self) -> tuple[Node, ...]:
        return self._nodes

    async def health(self) -> Health:
        return Health(True, "n1")

    async def state(self) -> ClusterState:
        return ClusterState(("n1", "n2", "n3"), "n1", 2, 10)

    async def leader(self, role: str | None = None) -> Node | None:
        return self._nodes[0]

    def client(self, node: Node, timeout_s: float) -> MemClient:
        return MemClient(self.data, self.ctx.trial_key in Tracker.lose_writes_for)

    async def effective_config(self) -> str:
        """chaos_eval.subject.ComposeBacked."""
        return f"name: {self.ctx.project}\nservices: {{}}\n"

    async def teardown(self) -> None:
        Tracker.running -= 1
        Tracker.torn_down.append(self.ctx.trial_key)
        Tracker.log.append(("down", self.ctx.trial_key))
