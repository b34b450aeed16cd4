"""NoopSubject: an in-memory stand-in for a cluster, used by unit tests at the seams.

It starts nothing and talks to nothing. Its nodes are fake, its KV client is a dict
shared by every node, and it records which lifecycle calls it received so tests can
assert on the trial's order of operations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import (
    ClusterState,
    Endpoint,
    Health,
    Node,
    SubjectShape,
    TrialContext,
)
from chaos_eval.workload import ReadResult

if TYPE_CHECKING:
    from chaos_eval.engine.client import Docker
    from chaos_eval.spec.config import SubjectSpec


class NoopKVClient:
    """A KVClient over a shared dict; every operation succeeds unless `fail_with` is set."""

    def __init__(self, store: dict[str, str], fail_with: OpOutcome | None = None) -> None:
        self._store = store
        self.fail_with = fail_with
        self.closed = False

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        if self.fail_with is not None:
            return self.fail_with, "injected"
        self._store[key] = value
        return OpOutcome.OK, ""

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        if self.fail_with is not None:
            return ReadResult(OpOutcome.FAIL, None, "injected")
        return ReadResult(OpOutcome.OK, self._store.get(key))

    async def aclose(self) -> None:
        self.closed = True


SHAPE = SubjectShape(
    node_names=frozenset({"node1", "node2", "node3"}), roles=frozenset({"noop"}),
    min_data_mb=192, default_data_mb=256, takes_image=False, takes_version=False,
)


class NoopSubject:
    """Subject and LeaderAware with no cluster behind them. `healthy=False` makes every
    health probe fail (with a reason), to exercise recovery timeouts."""

    kind: ClassVar[str] = "noop"
    shape: ClassVar[SubjectShape] = SHAPE

    def __init__(self, ctx: TrialContext, *, members: int = 3, healthy: bool = True) -> None:
        self.ctx = ctx
        self.healthy = healthy
        self.calls: list[str] = []
        self.store: dict[str, str] = {}
        self._nodes = tuple(
            Node(
                name=f"node{i}",
                role="noop",
                container_id=f"noop-{ctx.project}-{i}",
                address=f"10.0.0.{i}",
                endpoints=(Endpoint("client", "127.0.0.1", 20000 + i),),
                data_volume=f"{ctx.project}_node{i}-data",
                data_path="/data",
            )
            for i in range(1, members + 1)
        )

    @classmethod
    def from_spec(cls, spec: SubjectSpec, ctx: TrialContext, docker: Docker) -> NoopSubject:
        return cls(ctx)

    async def up(self) -> None:
        self.calls.append("up")

    async def wait_healthy(self, timeout_s: float) -> Health:
        self.calls.append("wait_healthy")
        return await self.health()

    async def nodes(self) -> tuple[Node, ...]:
        return self._nodes

    async def health(self) -> Health:
        if not self.healthy:
            return Health(False, None, ("noop: told to be unhealthy",))
        return Health(True, self._nodes[0].name if self._nodes else None)

    async def state(self) -> ClusterState:
        leader = self._nodes[0].name if self._nodes and self.healthy else None
        return ClusterState(tuple(n.name for n in self._nodes), leader, 1, len(self.store))

    def client(self, node: Node, timeout_s: float) -> NoopKVClient:
        return NoopKVClient(self.store)

    async def teardown(self) -> None:
        self.calls.append("teardown")

    async def leader(self, role: str | None = None) -> Node | None:
        if not self.healthy or not self._nodes:
            return None
        return self._nodes[0]
