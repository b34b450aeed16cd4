"""A small RESP2 client on asyncio streams, and RedisKVClient (chaos_eval.workload.KVClient,
with register.CasClient and workload.BatchReadClient).

Why not redis-py: the workload needs to know, for every failed operation, whether the
command could have reached the server (a write that timed out after it was sent is UNKNOWN,
one refused before it was sent is FAIL). With our own ~100 lines of transport that is exact;
redis-py's exceptions do not say it. The wire format lives in subjects/redis/resp.py (pure).

Every connection authenticates with the trial's password first: a host port freed by a dead
container and reused by another trial's Redis answers WRONGPASS, which is a FAIL
(`wrong_cluster`), never a foreign acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from chaos_eval.outcomes import OpOutcome
from chaos_eval.register import MISMATCH
from chaos_eval.subjects.redis.resp import (
    ErrorReply,
    Reply,
    RespProtocolError,
    classify_error_reply,
    encode_command,
    parse_reply,
)
from chaos_eval.workload import BatchReadResult, ReadResult

# Compare-and-set: ARGV = (mode: "absent" | "value", expected, new value); 1 if it swapped.
CAS_SCRIPT = (
    "local cur = redis.call('GET', KEYS[1]) "
    "if (ARGV[1] == 'absent' and cur == false) or (ARGV[1] == 'value' and cur == ARGV[2]) "
    "then redis.call('SET', KEYS[1], ARGV[3]) return 1 end return 0"
)

log = logging.getLogger(__name__)

READ_CHUNK = 65536
IDLE_PER_TARGET = 4  # pooled idle connections kept per (host, port)
MGET_KEYS = 1000  # keys per MGET in a batch read: one command's reply stays ~50 KB

Target = tuple[str, int]
# -> where to send the next command, or the short error class saying why there is nowhere
Route = Callable[[], Awaitable[Target | str]]


class RespTransportError(Exception):
    """A command got no reply. `sent`: whether its bytes may have reached the server."""

    def __init__(self, cls: str, *, sent: bool) -> None:
        super().__init__(cls)
        self.cls, self.sent = cls, sent


class RespConnection:
    """One authenticated connection; one command at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer
        self._buf = b""

    @classmethod
    async def open(cls, target: Target, password: str | None) -> RespConnection:
        """Connect (and AUTH). Raises RespTransportError(sent=False) for any failure: nothing
        of a later command has left yet."""
        try:
            reader, writer = await asyncio.open_connection(*target)
        except OSError as e:
            raise RespTransportError("refused", sent=False) from e
        conn = cls(reader, writer)
        if password is not None:
            try:
                reply = await conn.call("AUTH", password)
            except RespTransportError as e:
                conn.close()
                raise RespTransportError(e.cls, sent=False) from e
            if isinstance(reply, ErrorReply):
                conn.close()
                raise RespTransportError("wrong_cluster", sent=False)
        return conn

    @property
    def usable(self) -> bool:
        return not (self._reader.at_eof() or self._writer.is_closing())

    async def call(self, *args: str | int) -> Reply:
        """Send one command and read its reply (no timeout here: the caller bounds it)."""
        try:
            self._writer.write(encode_command(*args))
            await self._writer.drain()
        except OSError as e:
            raise RespTransportError("reset", sent=True) from e
        while True:
            try:
                got = parse_reply(self._buf)
            except RespProtocolError as e:
                raise RespTransportError("bad_response", sent=True) from e
            if got is not None:
                reply, used = got
                self._buf = self._buf[used:]
                return reply
            try:
                chunk = await self._reader.read(READ_CHUNK)
            except OSError as e:
                raise RespTransportError("reset", sent=True) from e
            if not chunk:
                raise RespTransportError("reset", sent=True)
            self._buf += chunk

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._writer.close()


@dataclass
class _Attempt:
    sent: bool = False


class RespPool:
    """Idle connections per target. A connection that saw any error is closed, never reused."""

    def __init__(self, password: str | None) -> None:
        self._password = password
        self._idle: dict[Target, list[RespConnection]] = {}

    async def execute(self, target: Target, args: tuple[str | int, ...], timeout_s: float
                      ) -> Reply:
        """One command with a deadline. Raises RespTransportError; on timeout its `sent`
        says whether the command had been written when the deadline passed."""
        attempt = _Attempt()
        try:
            return await asyncio.wait_for(self._execute(target, args, attempt), timeout_s)
        except TimeoutError:
            cls = "timeout" if attempt.sent else "connect_timeout"
            raise RespTransportError(cls, sent=attempt.sent) from None

    async def _execute(self, target: Target, args: tuple[str | int, ...], attempt: _Attempt
                       ) -> Reply:
        conn = self._take(target)
        if conn is None:
            conn = await RespConnection.open(target, self._password)
        ok = False
        try:
            attempt.sent = True
            reply = await conn.call(*args)
            ok = True
            return reply
        finally:
            if ok:
                self._give(target, conn)
            else:  # an error or a cancellation (timeout): the stream's state is unknown
                conn.close()

    def _take(self, target: Target) -> RespConnection | None:
        idle = self._idle.get(target, [])
        while idle:
            conn = idle.pop()
            if conn.usable:
                return conn
            conn.close()
        return None

    def _give(self, target: Target, conn: RespConnection) -> None:
        idle = self._idle.setdefault(target, [])
        if len(idle) < IDLE_PER_TARGET and conn.usable:
            idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


class RedisKVClient:
    """chaos_eval.workload.KVClient over RESP. Where each operation goes is decided per call by the
    routes the subject gives it (see subjects/redis/subject.py); never raises for a failed op."""

    def __init__(
        self,
        *,
        write_route: Route,
        read_route: Route,
        local_route: Route,
        password: str | None,
        timeout_s: float,
        on_refused: Callable[[], None] | None = None,
    ) -> None:
        self._write, self._read, self._local = write_route, read_route, local_route
        self._timeout_s = timeout_s
        self._pool = RespPool(password)
        self._on_refused = on_refused

    async def _run(self, route: Route, args: tuple[str | int, ...], *, write: bool
                   ) -> tuple[OpOutcome, str, Reply]:
        try:
            target = await route()
        except Exception as e:  # a routing failure must not escape a KV operation
            log.debug("route failed: %s", e)
            return OpOutcome.FAIL, "no_route", None
        if isinstance(target, str):
            return OpOutcome.FAIL, target, None
        try:
            reply = await self._pool.execute(target, args, self._timeout_s)
        except RespTransportError as e:
            if e.cls in ("refused", "wrong_cluster") and self._on_refused is not None:
                self._on_refused()  # the node moved or died: forget cached routes
            if write and e.sent:
                return OpOutcome.UNKNOWN, e.cls, None
            return OpOutcome.FAIL, e.cls, None
        if isinstance(reply, ErrorReply):
            outcome, cls = classify_error_reply(reply)
            return outcome, cls, None
        return OpOutcome.OK, "", reply

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        outcome, cls, reply = await self._run(self._write, ("SET", key, value), write=True)
        if outcome == OpOutcome.OK and reply != "OK":
            return OpOutcome.UNKNOWN, "bad_response"
        return outcome, cls

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        """From the current primary when `linearizable` (the freshest copy Redis has: its
        replication is asynchronous), else from the node this client is bound to."""
        route = self._read if linearizable else self._local
        outcome, cls, reply = await self._run(route, ("GET", key), write=False)
        if outcome != OpOutcome.OK:
            return ReadResult(outcome, None, cls)
        if reply is not None and not isinstance(reply, str):
            return ReadResult(OpOutcome.FAIL, None, "bad_response")
        return ReadResult(OpOutcome.OK, reply)

    async def get_many(self, keys: Sequence[str]) -> BatchReadResult:
        """chaos_eval.workload.BatchReadClient: MGET on the current primary, the node every
        linearizable `get` reads from, MGET_KEYS keys a command. One command runs atomically
        on the one node that executes it, so each key's answer is the primary's value at one
        instant inside this call, the same as a GET of it there (no weaker and no stronger:
        Redis replicates asynchronously either way). Each command is routed at call time,
        as a GET is. Any command that fails, or answers other than one string or nil per
        key, fails the whole batch."""
        values: dict[str, str | None] = {}
        for at in range(0, len(keys), MGET_KEYS):
            chunk = keys[at:at + MGET_KEYS]
            outcome, cls, reply = await self._run(self._read, ("MGET", *chunk), write=False)
            if outcome != OpOutcome.OK:
                return BatchReadResult(outcome, error=cls)
            got = [v for v in reply if v is None or isinstance(v, str)] if isinstance(
                reply, list) else []
            if not isinstance(reply, list) or not len(got) == len(reply) == len(chunk):
                return BatchReadResult(OpOutcome.FAIL, error="bad_response")
            values.update(zip(chunk, got, strict=True))
        return BatchReadResult(OpOutcome.OK, values)

    async def cas(self, key: str, expected: str | None, value: str) -> tuple[OpOutcome, str]:
        """chaos_eval.register.CasClient: one Lua script (atomic on the node that runs it),
        sent where writes go."""
        mode = "absent" if expected is None else "value"
        args = ("EVAL", CAS_SCRIPT, 1, key, mode, expected or "", value)
        outcome, cls, reply = await self._run(self._write, args, write=True)
        if outcome != OpOutcome.OK:
            return outcome, cls
        if reply == 1:
            return OpOutcome.OK, ""
        if reply == 0:
            return OpOutcome.FAIL, MISMATCH
        return OpOutcome.UNKNOWN, "bad_response"

    async def aclose(self) -> None:
        self._pool.close()
