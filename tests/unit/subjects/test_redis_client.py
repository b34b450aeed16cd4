"""RedisKVClient against a scripted RESP server on 127.0.0.1 (no Docker): what each way an
operation can end maps to (ok / fail / unknown), and that a failed connection is not reused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from chaos_eval.outcomes import OpOutcome
from chaos_eval.subjects.redis.client import RedisKVClient, Route, Target
from chaos_eval.subjects.redis.resp import parse_reply
from chaos_eval.workload import BatchReadClient

PASSWORD = "ce-test"
Handler = Callable[[list[str]], bytes | None]  # command -> raw reply, None: never answer


@asynccontextmanager
async def resp_server(handler: Handler) -> AsyncIterator[tuple[Target, list[list[str]]]]:
    seen: list[list[str]] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buf = b""
        try:
            while chunk := await reader.read(4096):
                buf += chunk
                while (got := parse_reply(buf)) is not None:
                    cmd, used = got
                    buf = buf[used:]
                    assert isinstance(cmd, list)
                    seen.append([str(c) for c in cmd])
                    reply = handler([str(c) for c in cmd])
                    if reply is None:
                        await asyncio.sleep(3600)
                    writer.write(reply)
                    await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield ("127.0.0.1", port), seen
    finally:
        server.close()


def redis_like(cmd: list[str]) -> bytes | None:
    if cmd[0] == "AUTH":
        return b"+OK\r\n" if cmd[1] == PASSWORD else b"-WRONGPASS invalid username-password\r\n"
    if cmd[0] == "SET":
        return b"+OK\r\n"
    if cmd[0] == "GET":
        return b"$1\r\nv\r\n" if cmd[1] == "k" else b"$-1\r\n"
    return b"-ERR unknown command\r\n"


def route_to(target: Target | str) -> Route:
    async def route() -> Target | str:
        return target
    return route


def kv(target: Target | str, *, password: str = PASSWORD, timeout_s: float = 0.5,
       refused: list[int] | None = None) -> RedisKVClient:
    r = route_to(target)
    return RedisKVClient(write_route=r, read_route=r, local_route=r, password=password,
                         timeout_s=timeout_s,
                         on_refused=(lambda: refused.append(1)) if refused is not None else None)


async def test_ok_write_and_reads_reuse_one_authenticated_connection() -> None:
    async with resp_server(redis_like) as (target, seen):
        c = kv(target)
        assert await c.put("k", "v") == (OpOutcome.OK, "")
        res = await c.get("k")
        assert (res.outcome, res.value) == (OpOutcome.OK, "v")
        res = await c.get("absent", linearizable=False)
        assert (res.outcome, res.value) == (OpOutcome.OK, None)
        await c.aclose()
    assert [s[0] for s in seen] == ["AUTH", "SET", "GET", "GET"]


async def test_error_reply_is_fail_with_its_class() -> None:
    async with resp_server(lambda cmd: b"+OK\r\n" if cmd[0] == "AUTH" else
                           b"-READONLY You can't write against a read only replica.\r\n"
                           ) as (target, _):
        c = kv(target)
        assert await c.put("k", "v") == (OpOutcome.FAIL, "readonly")
        assert (await c.get("k")).outcome == OpOutcome.FAIL
        await c.aclose()


async def test_timeout_after_sending_a_write_is_unknown_a_read_fail() -> None:
    async with resp_server(lambda cmd: b"+OK\r\n" if cmd[0] == "AUTH" else None) as (target, _):
        c = kv(target, timeout_s=0.3)
        assert await c.put("k", "v") == (OpOutcome.UNKNOWN, "timeout")
        res = await c.get("k")
        assert (res.outcome, res.error) == (OpOutcome.FAIL, "timeout")
        await c.aclose()


async def test_no_answer_to_auth_is_a_connect_timeout_fail_nothing_was_sent() -> None:
    async with resp_server(lambda cmd: None) as (target, seen):
        c = kv(target, timeout_s=0.3)
        assert await c.put("k", "v") == (OpOutcome.FAIL, "connect_timeout")
        await c.aclose()
    assert [s[0] for s in seen] == ["AUTH"]


async def test_connection_closed_after_a_write_is_unknown() -> None:
    def close_on_set(cmd: list[str]) -> bytes | None:
        if cmd[0] == "SET":
            raise ConnectionResetError  # the handler dies: the server closes the socket
        return redis_like(cmd)

    async with resp_server(close_on_set) as (target, _):
        c = kv(target)
        assert await c.put("k", "v") == (OpOutcome.UNKNOWN, "reset")
        await c.aclose()


async def test_wrong_password_means_another_cluster_fail_and_routes_forgotten() -> None:
    refused: list[int] = []
    async with resp_server(redis_like) as (target, seen):
        c = kv(target, password="ce-other", refused=refused)
        assert await c.put("k", "v") == (OpOutcome.FAIL, "wrong_cluster")
        await c.aclose()
    assert [s[0] for s in seen] == ["AUTH"]  # the SET never left
    assert refused == [1]


async def test_refused_and_unroutable_are_fail() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    refused: list[int] = []
    c = kv(("127.0.0.1", port), refused=refused)
    assert await c.put("k", "v") == (OpOutcome.FAIL, "refused")
    assert refused == [1]
    await c.aclose()
    nowhere = kv("no_primary")
    assert await nowhere.put("k", "v") == (OpOutcome.FAIL, "no_primary")
    assert (await nowhere.get("k")).error == "no_primary"
    await nowhere.aclose()


async def test_unexpected_write_reply_is_unknown() -> None:
    async with resp_server(lambda cmd: b"+OK\r\n" if cmd[0] == "AUTH" else b":1\r\n"
                           ) as (target, _):
        c = kv(target)
        assert await c.put("k", "v") == (OpOutcome.UNKNOWN, "bad_response")
        await c.aclose()


async def test_cas_is_one_lua_script_ok_mismatch_unknown() -> None:
    replies = iter([b":1\r\n", b":0\r\n", b"+weird\r\n"])

    def handler(cmd: list[str]) -> bytes | None:
        return b"+OK\r\n" if cmd[0] == "AUTH" else next(replies)

    async with resp_server(handler) as (target, seen):
        c = kv(target)
        assert await c.cas("k", "old", "new") == (OpOutcome.OK, "")
        assert await c.cas("k", None, "new2") == (OpOutcome.FAIL, "mismatch")
        assert await c.cas("k", "x", "y") == (OpOutcome.UNKNOWN, "bad_response")
        await c.aclose()
    evals = [s for s in seen if s[0] == "EVAL"]
    assert [s[2:] for s in evals] == [
        ["1", "k", "value", "old", "new"], ["1", "k", "absent", "", "new2"],
        ["1", "k", "value", "x", "y"]]
    assert "redis.call('SET', KEYS[1], ARGV[3])" in evals[0][1]


def mget_like(store: dict[str, str], reply: bytes | None = None) -> Handler:
    """AUTH, and MGET answered from `store` (or with `reply`, as it is)."""

    def handle(cmd: list[str]) -> bytes | None:
        if cmd[0] == "AUTH":
            return b"+OK\r\n"
        assert cmd[0] == "MGET"
        if reply is not None:
            return reply
        out = [f"*{len(cmd) - 1}\r\n".encode()]
        for k in cmd[1:]:
            v = store.get(k)
            out.append(b"$-1\r\n" if v is None else f"${len(v)}\r\n{v}\r\n".encode())
        return b"".join(out)

    return handle


async def test_get_many_is_mget_on_the_read_route_in_chunks(monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    monkeypatch.setattr("chaos_eval.subjects.redis.client.MGET_KEYS", 2)
    store = {"k1": "v1", "k3": "", "k4": "other"}
    async with resp_server(mget_like(store)) as (target, seen):
        c = kv(target)
        assert isinstance(c, BatchReadClient)
        res = await c.get_many(["k1", "k2", "k3", "k4", "k5"])
        await c.aclose()
    assert res.outcome == OpOutcome.OK
    assert dict(res.values) == {"k1": "v1", "k2": None, "k3": "", "k4": "other", "k5": None}
    assert [s for s in seen if s[0] == "MGET"] == [
        ["MGET", "k1", "k2"], ["MGET", "k3", "k4"], ["MGET", "k5"]]


@pytest.mark.parametrize(("reply", "error"), [
    (b"*1\r\n$1\r\nv\r\n", "bad_response"),  # one value for two keys
    (b"*2\r\n:1\r\n$1\r\nv\r\n", "bad_response"),  # not a string
    (b"$1\r\nv\r\n", "bad_response"),  # not an array
    (b"-LOADING Redis is loading the dataset in memory\r\n", "loading"),
])
async def test_get_many_fails_the_whole_batch(reply: bytes, error: str) -> None:
    async with resp_server(mget_like({}, reply)) as (target, _):
        c = kv(target)
        res = await c.get_many(["k1", "k2"])
        await c.aclose()
    assert (res.outcome, res.error, dict(res.values)) == (OpOutcome.FAIL, error, {})
    nowhere = kv("no_primary")
    res = await nowhere.get_many(["k1"])
    assert (res.outcome, res.error) == (OpOutcome.FAIL, "no_primary")
