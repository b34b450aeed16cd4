"""The register workload: reads, writes and compare-and-set on a few keys with unique values,
recorded as a history (chaos_eval.history) for the linearizability checker.

Each logical client (a *process*) has at most one operation in flight and is bound to one
node. When an operation ends `unknown` the request may still be in flight at the server, so
the process retires and its slot continues as a fresh process (id + number of slots), as
Jepsen does: no process ever has two operations that might overlap. Reads that fail or time
out are `fail` (a read changes nothing). Compare-and-set needs the client's optional power
(`CasClient`); without it the workload issues writes instead of CAS.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from chaos_eval.history import Op as HistoryOp
from chaos_eval.history import OpKind as HistoryKind
from chaos_eval.outcomes import OpOutcome
from chaos_eval.workload import KVClient, Op

MISMATCH = "mismatch"  # error class of a CAS whose compare did not match (outcome fail)


@runtime_checkable
class CasClient(Protocol):
    """Optional power of a KVClient: an atomic compare-and-set."""

    async def cas(self, key: str, expected: str | None, value: str) -> tuple[OpOutcome, str]:
        """Set key to value iff it holds `expected` (None: iff the key is absent). Returns
        OK when it swapped, FAIL with error 'mismatch' when the compare did not match (or FAIL
        with another class when nothing was sent), UNKNOWN when it may have happened. Never
        raises for a failed operation."""


class RegisterWorkload:
    """`clients_per_node` processes per node, together at about `rate_per_s` ops/s. Times are
    seconds on the trial's clock. Implements chaos_eval.workload.Workload, plus `history()`."""

    def __init__(
        self,
        clients: dict[str, KVClient],
        *,
        keys: list[str],
        clients_per_node: int,
        rate_per_s: float,
        read_fraction: float,
        cas_fraction: float,
        linearizable_reads: bool,
        op_timeout_s: float,
        clock: Callable[[], float],
        seed: int,
    ) -> None:
        self._clients = clients
        self._nodes = sorted(clients)
        self._keys = keys
        self._slots = [n for n in self._nodes for _ in range(clients_per_node)]
        self._interval = len(self._slots) / rate_per_s  # per process
        self._read_fraction = read_fraction
        self._cas_fraction = cas_fraction
        self._linearizable = linearizable_reads
        self._limit = op_timeout_s + 1.0  # the client's own timeout, plus slack
        self._clock = clock
        self._rng = random.Random(seed)
        self._stop = asyncio.Event()
        self._records: list[tuple[HistoryOp, str, str]] = []  # op, node, error class
        self._latest: dict[str, str | None] = {}  # key -> last value seen by any client
        self._ids = 0
        self._values = 0

    def stop(self) -> None:
        self._stop.set()

    def history(self) -> tuple[HistoryOp, ...]:
        """Every operation recorded so far, as the checker reads it, in completion order."""
        return tuple(r[0] for r in self._records)

    def ops(self) -> tuple[Op, ...]:
        """The same operations as the harness's ops (for availability and latency)."""
        return tuple(
            Op(str(h.kind), node, h.key, h.invoke, self._end(h), h.outcome, err)
            for h, node, err in self._records
        )

    @staticmethod
    def _end(h: HistoryOp) -> float:
        return h.complete if h.complete is not None else h.invoke

    async def run(self) -> None:
        await asyncio.gather(*(self._process(i) for i in range(len(self._slots))))

    async def _process(self, slot: int) -> None:
        node = self._slots[slot]
        process = slot
        next_at = self._clock() + self._interval * slot / len(self._slots)
        while not self._stop.is_set():
            delay = next_at - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
                if self._stop.is_set():
                    return
            outcome = await self._one(node, process)
            if outcome == OpOutcome.UNKNOWN:  # it may still be in flight: retire the process
                process += len(self._slots)
            next_at = max(next_at + self._interval, self._clock() - 1.0)

    async def _one(self, node: str, process: int) -> OpOutcome:
        client = self._clients[node]
        key = self._rng.choice(self._keys)
        roll = self._rng.random()
        if roll < self._read_fraction:
            return await self._read(client, node, process, key, linearizable=self._linearizable)
        self._values += 1
        value = f"v{self._values}"
        invoke = self._clock()
        if roll < self._read_fraction + self._cas_fraction and isinstance(client, CasClient):
            expected = self._latest.get(key)
            outcome, err = await self._bounded(client.cas(key, expected, value), write=True)
            kind = HistoryKind.CAS
        else:
            expected = None
            outcome, err = await self._bounded(client.put(key, value), write=True)
            kind = HistoryKind.WRITE
        if outcome == OpOutcome.OK:
            self._latest[key] = value
        self._record(kind, node, process, key, value, expected, invoke, outcome, err)
        return outcome

    async def _read(
        self, client: KVClient, node: str, process: int, key: str, *, linearizable: bool
    ) -> OpOutcome:
        invoke = self._clock()
        try:
            res = await asyncio.wait_for(client.get(key, linearizable=linearizable), self._limit)
            outcome, value, err = res.outcome, res.value, res.error
        except TimeoutError:
            outcome, value, err = OpOutcome.FAIL, None, "timeout"
        if outcome == OpOutcome.OK:
            self._latest[key] = value
        else:  # a read changes nothing: whatever happened, it constrains nothing
            outcome, value = OpOutcome.FAIL, None
        self._record(HistoryKind.READ, node, process, key, value, None, invoke, outcome, err)
        return outcome

    async def _bounded(
        self, call: Awaitable[tuple[OpOutcome, str]], *, write: bool
    ) -> tuple[OpOutcome, str]:
        try:
            return await asyncio.wait_for(call, self._limit)
        except TimeoutError:
            return (OpOutcome.UNKNOWN if write else OpOutcome.FAIL), "timeout"

    def _record(
        self,
        kind: HistoryKind,
        node: str,
        process: int,
        key: str,
        value: str | None,
        expected: str | None,
        invoke: float,
        outcome: OpOutcome,
        err: str,
    ) -> None:
        self._ids += 1
        complete = None if outcome == OpOutcome.UNKNOWN else max(invoke, self._clock())
        op = HistoryOp(
            id=self._ids,
            process=process,
            kind=kind,
            key=key,
            value=value,
            expected=expected if kind is HistoryKind.CAS else None,
            invoke=invoke,
            complete=complete,
            outcome=outcome,
        )
        self._records.append((op, node, err))

    async def final_read(self) -> None:
        """One linearizable read of every key, from the first node that answers, recorded in
        the history by a process of its own: what the cluster holds after the fault."""
        process = 1 + max((h.process for h, _, _ in self._records), default=len(self._slots))
        for key in self._keys:
            for node in self._nodes:
                outcome = await self._read(
                    self._clients[node], node, process, key, linearizable=True
                )
                if outcome == OpOutcome.OK:
                    break

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
