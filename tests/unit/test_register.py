"""The register workload at the KVClient seam: one op in flight per process, unknown ops retire
their process, CAS only through the CasClient power, and its history judged by the checker."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict

from chaos_eval.analysis.linearizability import Verdict, check
from chaos_eval.history import OpKind, dump_history, parse_history
from chaos_eval.outcomes import OpOutcome
from chaos_eval.register import CasClient, RegisterWorkload
from chaos_eval.workload import KVClient, ReadResult
from tests.unit.fakes import MemClient


class StaleReader:
    """Writes go to the shared store; reads answer from a snapshot taken once: stale."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data
        self.snapshot: dict[str, str] | None = None

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        await asyncio.sleep(0)
        self.data[key] = value
        return OpOutcome.OK, ""

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        await asyncio.sleep(0.001)
        if linearizable:
            return ReadResult(OpOutcome.OK, self.data.get(key))
        if self.snapshot is None and len(self.data) == 2:
            self.snapshot = dict(self.data)
        return ReadResult(OpOutcome.OK, (self.snapshot or self.data).get(key))

    async def aclose(self) -> None:
        return None


class Flaky(MemClient):
    """Every third write ends `unknown` (it took effect; the client could not tell)."""

    n = 0

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        await super().put(key, value)
        Flaky.n += 1
        return (OpOutcome.UNKNOWN, "timeout") if Flaky.n % 3 == 0 else (OpOutcome.OK, "")


def workload(clients: dict[str, KVClient], **over: object) -> RegisterWorkload:
    t0 = time.monotonic()
    args: dict[str, object] = dict(
        keys=["k0", "k1"], clients_per_node=2, rate_per_s=2000, read_fraction=0.4,
        cas_fraction=0.3, linearizable_reads=True, op_timeout_s=1.0,
        clock=lambda: time.monotonic() - t0, seed=7,
    )
    args.update(over)
    return RegisterWorkload(clients, **args)  # type: ignore[arg-type]


async def drive(w: RegisterWorkload, seconds: float = 0.3) -> None:
    task = asyncio.create_task(w.run())
    await asyncio.sleep(seconds)
    w.stop()
    await task
    await w.final_read()


async def test_history_of_an_atomic_store_is_linearizable_and_roundtrips() -> None:
    data: dict[str, str] = {}
    w = workload({n: MemClient(data) for n in ("a", "b", "c")})
    await drive(w)
    h = w.history()
    kinds = {o.kind for o in h}
    assert kinds == {OpKind.READ, OpKind.WRITE, OpKind.CAS}, kinds
    assert any(o.kind is OpKind.CAS and o.outcome is OpOutcome.OK for o in h)
    assert check(h).verdict is Verdict.LINEARIZABLE
    assert parse_history(dump_history(h)) == list(h)
    values = [o.value for o in h if o.kind is not OpKind.READ]
    assert len(values) == len(set(values)), "written values are unique"
    assert len(w.ops()) == len(h) and {o.node for o in w.ops()} == {"a", "b", "c"}
    final = [o for o in h if o.process == max(p.process for p in h)]
    assert {o.key for o in final} == {"k0", "k1"}  # the final reads, a process of their own


async def test_one_op_in_flight_per_process_and_unknown_retires_it() -> None:
    Flaky.n = 0
    data: dict[str, str] = {}
    w = workload({n: Flaky(data) for n in ("a", "b")}, read_fraction=0.2, cas_fraction=0.0)
    await drive(w)
    by_process = defaultdict(list)
    for o in w.history():
        by_process[o.process].append(o)
    for ops in by_process.values():
        ops.sort(key=lambda o: o.invoke)
        for x, y in itertools.pairwise(ops):
            assert x.complete is not None and x.complete <= y.invoke, (x, y)
    unknown = [o for o in w.history() if o.outcome is OpOutcome.UNKNOWN]
    assert unknown
    for o in unknown:
        assert by_process[o.process][-1] is o, "a process ends at its unknown op"
    assert check(w.history()).verdict is Verdict.LINEARIZABLE


async def test_without_the_cas_power_it_writes_instead() -> None:
    data: dict[str, str] = {}
    client = StaleReader(data)
    assert not isinstance(client, CasClient)
    w = workload({"a": client}, cas_fraction=0.6, read_fraction=0.0)
    await drive(w, 0.1)
    assert {o.kind for o in w.history()} <= {OpKind.WRITE, OpKind.READ}


async def test_stale_reads_are_caught() -> None:
    data: dict[str, str] = {}
    w = workload({"a": StaleReader(data), "b": MemClient(data)}, linearizable_reads=False)
    await drive(w)
    res = check(w.history())
    assert res.verdict is Verdict.NOT_LINEARIZABLE
    assert res.violation is not None and res.violation.key in ("k0", "k1")
    assert "read of" in res.reason
