"""chaos/probes.py: probe_endpoint on a local socket (no Docker): a RESP endpoint is observed with
PING (any reply line is ANSWERED), since Redis closes connections that speak HTTP to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from chaos_eval.chaos.probes import HttpOutcome, probe_endpoint
from chaos_eval.subject import Endpoint

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _with_server(serve: Serve, protocol: str = "resp") -> HttpOutcome:
    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return (await probe_endpoint(Endpoint("client", "127.0.0.1", port, protocol),
                                     timeout_s=0.3)).outcome
    finally:
        server.close()


async def test_any_resp_reply_is_answered() -> None:
    async def noauth(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert await reader.readexactly(14) == b"*1\r\n$4\r\nPING\r\n"
        writer.write(b"-NOAUTH Authentication required.\r\n")
        await writer.drain()
        writer.close()

    assert await _with_server(noauth) is HttpOutcome.ANSWERED


async def test_closed_silent_and_refused() -> None:
    async def close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # a frozen process: the connection is accepted, never answered

    assert await _with_server(close) is HttpOutcome.CLOSED
    assert await _with_server(silent) is HttpOutcome.TIMEOUT
    server = await asyncio.start_server(close, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    probe = await probe_endpoint(Endpoint("client", "127.0.0.1", port, "resp"), timeout_s=0.3)
    assert probe.outcome is HttpOutcome.REFUSED


async def test_http_endpoints_are_still_probed_over_http() -> None:
    async def http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    assert await _with_server(http, "http") is HttpOutcome.ANSWERED


class _Info:
    def __init__(self, ports: dict[int, int]) -> None:
        self.ports = ports


class _Docker:
    def __init__(self) -> None:
        self.ports = {6379: 40001}

    async def inspect(self, container: str) -> _Info:
        return _Info(dict(self.ports))


async def test_a_tracked_endpoint_keeps_its_protocol_across_a_restart() -> None:
    from chaos_eval.chaos.probes import EndpointTracker
    from chaos_eval.subject import Node

    ep = Endpoint("client", "127.0.0.1", 40001, "resp")
    docker = _Docker()
    tracker = EndpointTracker(docker, Node("redis1", "primary", "c1", "10.0.0.2", (ep,)), ep)  # type: ignore[arg-type]
    await tracker.pin()
    docker.ports = {6379: 40777}  # restarted: a new host port
    assert await tracker.current() == Endpoint("client", "127.0.0.1", 40777, "resp")
