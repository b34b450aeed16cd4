"""The KV workload: unique keys, per-node independence, final reads."""

from __future__ import annotations

import asyncio
import time

from chaos_eval.outcomes import OpOutcome
from chaos_eval.workload import FINAL_ABSENT, FINAL_PRESENT, KVWorkload, OpKind, ReadResult


class Client:
    def __init__(self, data: dict[str, str], delay_s: float = 0.0, drop: bool = False) -> None:
        self.data, self.delay_s, self.drop = data, delay_s, drop

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        await asyncio.sleep(self.delay_s)
        if self.delay_s >= 1:
            return OpOutcome.UNKNOWN, "timeout"
        if not self.drop:
            self.data[key] = value
        return OpOutcome.OK, ""

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        await asyncio.sleep(min(self.delay_s, 0.01))
        return ReadResult(OpOutcome.OK, self.data.get(key))

    async def aclose(self) -> None:
        return None


def workload(clients: dict[str, Client], rate: float = 300, conc: int = 2) -> KVWorkload:
    t0 = time.monotonic()
    return KVWorkload(clients, prefix="p", rate_per_s=rate, concurrency=conc,
                      read_fraction=0.3, clock=lambda: time.monotonic() - t0, seed=1)


async def run_for(w: KVWorkload, seconds: float) -> None:
    task = asyncio.create_task(w.run())
    await asyncio.sleep(seconds)
    w.stop()
    await task


async def test_every_write_key_is_unique() -> None:
    data: dict[str, str] = {}
    w = workload({n: Client(data) for n in ("a", "b", "c")})
    await run_for(w, 0.5)
    writes = [o.key for o in w.ops() if o.kind == OpKind.WRITE]
    assert len(writes) > 50 and len(writes) == len(set(writes))


async def test_a_hung_node_does_not_starve_the_others() -> None:
    data: dict[str, str] = {}
    clients = {"a": Client(data), "b": Client(data), "hung": Client(data, delay_s=1.0)}
    w = workload(clients, rate=150, conc=2)
    await run_for(w, 1.0)
    per_node = {n: sum(1 for o in w.ops() if o.node == n) for n in clients}
    # 50 ops/s per node for ~1 s: the healthy nodes keep their pace; the hung one is capped
    # by its own two slots
    assert per_node["a"] >= 35 and per_node["b"] >= 35, per_node
    assert per_node["hung"] <= 4, per_node


async def test_final_read_finds_lost_and_present_writes() -> None:
    data: dict[str, str] = {}
    w = workload({"a": Client(data), "b": Client(data, drop=True)}, rate=100)
    await run_for(w, 0.3)
    await w.final_read()
    finals = [o for o in w.ops() if o.kind == OpKind.FINAL_READ]
    acked = {o.key: o.node for o in w.ops() if o.kind == OpKind.WRITE and o.outcome == "ok"}
    assert {o.key for o in finals} == set(acked)
    for o in finals:
        expect = FINAL_ABSENT if acked[o.key] == "b" else FINAL_PRESENT
        assert o.error == expect
