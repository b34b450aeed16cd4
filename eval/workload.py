"""The Workload protocol and the key-value client seam subjects implement.

An operation ends `ok`, `fail` (definitely did not happen) or `unknown` (a timeout or
reset mid-write: it may have happened). Clients never raise for a failed operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from chaos_eval.outcomes import OpOutcome


class OpKind:
    WRITE = "write"
    READ = "read"
    FINAL_READ = "final_read"


@dataclass(frozen=True)
class Op:
    """One recorded client operation; times are seconds since the trial's epoch."""

    kind: str  # OpKind value
    node: str
    key: str
    start: float
    end: float
    outcome: OpOutcome
    error: str = ""  # short error class for failed/unknown ops ("timeout", "refused", ...)


@dataclass(frozen=True)
class ReadResult:
    outcome: OpOutcome
    value: str | None  # None: key absent (when outcome is ok)
    error: str = ""


class KVClient(Protocol):
    """A client bound to one node. Methods never raise for a failed operation."""

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        """Write key=value. Returns the outcome and a short error class ('' when ok).
        Timeouts and resets after sending are UNKNOWN; refused connections are FAIL."""

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        """Read one key (linearizable where the subject offers it)."""

    async def aclose(self) -> None:
        """Release connections. Idempotent."""


@dataclass(frozen=True)
class BatchReadResult:
    outcome: OpOutcome
    values: Mapping[str, str | None] = field(default_factory=dict)  # key -> value, None: absent
    error: str = ""


@runtime_checkable
class BatchReadClient(Protocol):
    """Optional power of a KVClient: a linearizable read of many keys in one request."""

    async def get_many(self, keys: Sequence[str]) -> BatchReadResult:
        """Read every key in `keys`. OK only when the whole batch was read, with every key
        asked in `values` (None: absent); otherwise FAIL (a read changes nothing) with a short
        error class, and no values. The contract: each key's answer is what a linearizable
        read of that key returns at some instant between this call's start and end. That is
        what a separate linearizable `get` of each key inside the same interval gives, so a
        final read through it is exactly as strong; where the subject reads all keys at one
        instant (etcd: one revision) it is stronger still, a consistent snapshot of them.
        Idempotent (a read); never raises for a failed read; must not return a value for a
        key it did not read."""


class Workload(Protocol):
    """Client traffic run during a trial, recorded op by op."""

    async def run(self) -> None:
        """Issue operations at the configured rate until `stop()`; record every op.
        Must not raise for failed operations; cancellation stops it promptly."""

    def stop(self) -> None:
        """Ask `run` to finish after in-flight operations. Idempotent."""

    async def final_read(self) -> None:
        """Read back every acknowledged (and unknown) write for durability checks."""

    def ops(self) -> tuple[Op, ...]:
        """Every operation recorded so far, in completion order."""


# --------------------------------------------------------------------------------------
# The key-value workload every subject gets: unique-key writes, linearizable reads, and a
# final read of every write that may have happened.
# --------------------------------------------------------------------------------------

FINAL_PRESENT = ""  # final_read op `error` field: the acknowledged value was read back
FINAL_ABSENT = "absent"  # the key is missing: an acknowledged write was lost
FINAL_MISMATCH = "mismatch"  # a value we never wrote was read


class KVWorkload:
    """Writes and reads against every node: each node gets its own issuing loop at
    `rate_per_s / nodes` and its own bound of `concurrency` ops in flight, so a node that
    hangs (isolated, paused) ties up only its own slots and the others' throughput is
    measured independently. Times are seconds on the trial's monotonic clock (`clock()`)."""

    def __init__(
        self,
        clients: dict[str, KVClient],
        *,
        prefix: str,
        rate_per_s: float,
        concurrency: int,
        read_fraction: float,
        clock: Callable[[], float],
        seed: int,
    ) -> None:
        self._clients = clients
        self._nodes = sorted(clients)
        self._prefix = prefix
        self._interval = len(self._nodes) / rate_per_s  # per node
        self._slots = {n: asyncio.Semaphore(concurrency) for n in self._nodes}
        self._final_concurrency = concurrency * len(self._nodes)
        self._read_fraction = read_fraction
        self._clock = clock
        self._rng = random.Random(seed)
        self._ops: list[Op] = []
        self._written: dict[str, str] = {}  # key -> value, for ok and unknown writes
        self._acked: list[str] = []
        self._stop = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._seq = 0

    def stop(self) -> None:
        self._stop.set()

    def ops(self) -> tuple[Op, ...]:
        return tuple(self._ops)

    async def run(self) -> None:
        try:
            await asyncio.gather(*(self._issue(n, i) for i, n in enumerate(self._nodes)))
        finally:
            if self._inflight:
                await asyncio.gather(*self._inflight, return_exceptions=True)

    async def _issue(self, node: str, index: int) -> None:
        """One node's loop: an op every `_interval` (staggered across nodes), at most
        `concurrency` of them in flight; slow ops delay only this node's next op."""
        next_at = self._clock() + self._interval * index / len(self._nodes)
        while not self._stop.is_set():
            delay = next_at - self._clock()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
                if self._stop.is_set():
                    return
            await self._slots[node].acquire()
            self._seq += 1  # taken now, not when the task runs: every write key is unique
            task = asyncio.create_task(self._one(node, self._seq))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            next_at += self._interval
            if next_at < self._clock() - 1.0:  # fell behind (slow ops): do not burst
                next_at = self._clock()

    async def _one(self, node: str, seq: int) -> None:
        try:
            client = self._clients[node]
            if self._acked and self._rng.random() < self._read_fraction:
                key = self._rng.choice(self._acked)
                start = self._clock()
                res = await client.get(key, linearizable=True)
                self._ops.append(
                    Op(OpKind.READ, node, key, start, self._clock(), res.outcome, res.error)
                )
                return
            key = f"{self._prefix}/{seq:08d}"
            value = f"v{seq}"
            self._written[key] = value
            start = self._clock()
            outcome, err = await client.put(key, value)
            self._ops.append(Op(OpKind.WRITE, node, key, start, self._clock(), outcome, err))
            if outcome == OpOutcome.OK:
                self._acked.append(key)
            elif outcome == OpOutcome.FAIL:
                self._written.pop(key, None)
        finally:
            self._slots[node].release()

    async def final_read(self) -> None:
        """Read back every write that may have happened, from the first node that answers,
        and record one FINAL_READ op per key, in key order. Where the clients have the
        `BatchReadClient` power, all keys are read in one batch (the first node whose batch
        read succeeds answers for all; each key's op carries that node and the batch's start
        and end, the interval its linearizable read lies in); otherwise, or when no node's
        batch succeeds, each key is read on its own, concurrently (at most as many in flight
        as the workload itself had: ~150 sequential reads were seconds of every trial)."""
        keys = sorted(self._written)
        if keys:
            ops = await self._final_read_batch(keys) or await self._final_read_each(keys)
            self._ops.extend(ops)

    async def _final_read_batch(self, keys: list[str]) -> list[Op]:
        for node in self._nodes:
            client = self._clients[node]
            if not isinstance(client, BatchReadClient):
                continue
            start = self._clock()
            res = await client.get_many(keys)
            end = self._clock()
            if res.outcome == OpOutcome.OK and all(k in res.values for k in keys):
                return [self._final_op(node, k, start, end, res.values[k]) for k in keys]
        return []

    async def _final_read_each(self, keys: list[str]) -> list[Op]:
        gate = asyncio.Semaphore(self._final_concurrency)

        async def one(key: str) -> Op:
            async with gate:
                return await self._final_read_one(key)

        return list(await asyncio.gather(*(one(k) for k in keys)))

    async def _final_read_one(self, key: str) -> Op:
        for node in self._nodes:
            start = self._clock()
            res = await self._clients[node].get(key, linearizable=True)
            if res.outcome == OpOutcome.OK:
                return self._final_op(node, key, start, self._clock(), res.value)
        now = self._clock()
        return Op(OpKind.FINAL_READ, "*", key, now, now, OpOutcome.FAIL, "no node answered")

    def _final_op(self, node: str, key: str, start: float, end: float, value: str | None) -> Op:
        if value is None:
            verdict = FINAL_ABSENT
        elif value == self._written[key]:
            verdict = FINAL_PRESENT
        else:
            verdict = FINAL_MISMATCH
        return Op(OpKind.FINAL_READ, node, key, start, end, OpOutcome.OK, verdict)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
