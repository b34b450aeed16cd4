"""The TiKV client gateway (subjects/tikv/gateway.py) as a real process-level server on
127.0.0.1, driven by the harness's real TikvKVClient over HTTP. Only the TiKV library under
the gateway is a stand-in here (its behaviour is scripted per test); the image with the real
tikv-client wheel is exercised in tests/integration/test_tikv_gateway_image.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chaos_eval.outcomes import OpOutcome
from chaos_eval.subjects.tikv import gateway as tikv_gateway
from chaos_eval.subjects.tikv.client import TikvKVClient


class ScriptedRaw:
    """The raw client's two calls, with a scripted failure or hang."""

    def __init__(self) -> None:
        self.data: dict[bytes, bytes] = {}
        self.fail = ""
        self.hang = False

    async def put(self, key: bytes, value: bytes) -> None:
        if self.hang:
            await asyncio.sleep(30)
        if self.fail:
            raise Exception(self.fail)
        self.data[key] = value

    async def get(self, key: bytes) -> bytes | None:
        if self.hang:
            await asyncio.sleep(30)
        if self.fail:
            raise Exception(self.fail)
        return self.data.get(key)


class ScriptedLib:
    """tikv_client.asynchronous's RawClient.connect, failing the first `connect_failures`."""

    def __init__(self, raw: ScriptedRaw, connect_failures: int = 0) -> None:
        self.raw, self.failures = raw, connect_failures
        self.calls: list[list[str]] = []
        lib = self

        class RawClient:
            @staticmethod
            async def connect(pd: list[str]) -> ScriptedRaw:
                lib.calls.append(pd)
                if lib.failures:
                    lib.failures -= 1
                    raise Exception("[src/pd/cluster.rs:189]: PD cluster failed to respond")
                return lib.raw

        self.RawClient = RawClient


@contextlib.asynccontextmanager
async def gateway(lib: Any, label: str | None = "tikv_client 0.0.4",
                  import_error: str | None = None) -> AsyncIterator[str]:
    """A running gateway on an ephemeral 127.0.0.1 port; yields its base URL."""
    gw = tikv_gateway.Gateway(["pd1:2379", "pd2:2379"],
                              library=lambda: (lib, label, import_error))
    bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(tikv_gateway.serve(gw, "127.0.0.1", 0, bound.set_result))
    try:
        yield f"http://127.0.0.1:{await asyncio.wait_for(bound, 5)}"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_round_trip_through_the_gateway() -> None:
    lib = ScriptedLib(ScriptedRaw())
    async with gateway(lib) as url:
        c = TikvKVClient(url, 1.0)
        assert await c.put("chaos-eval/t/1", "v1") == (OpOutcome.OK, "")
        got = await c.get("chaos-eval/t/1")
        assert (got.outcome, got.value, got.error) == (OpOutcome.OK, "v1", "")
        absent = await c.get("chaos-eval/t/none")
        assert (absent.outcome, absent.value) == (OpOutcome.OK, None)
        await c.aclose()
        async with httpx.AsyncClient(trust_env=False) as http:
            health = (await http.get(f"{url}/health")).json()
    assert lib.raw.data == {b"chaos-eval/t/1": b"v1"}
    assert lib.calls == [["pd1:2379", "pd2:2379"]]  # connected once, to the PD list given
    assert health == {"library": "tikv_client 0.0.4", "import_error": None,
                      "pd": ["pd1:2379", "pd2:2379"], "connected": True}


@pytest.mark.parametrize(
    ("error", "put_want", "get_want"),
    [
        ("Region error: NotLeader { region_id: 2 }", (OpOutcome.FAIL, "not_leader"),
         (OpOutcome.FAIL, "not_leader")),
        ("grpc error: Connection reset by peer (os error 104)", (OpOutcome.UNKNOWN, "reset"),
         (OpOutcome.FAIL, "reset")),
        ("KV error: ServerIsBusy", (OpOutcome.FAIL, "server_busy"),
         (OpOutcome.FAIL, "server_busy")),
    ],
)
async def test_client_rust_errors_cross_the_gateway_verbatim(
        error: str, put_want: tuple[OpOutcome, str], get_want: tuple[OpOutcome, str]) -> None:
    raw = ScriptedRaw()
    raw.fail = error
    async with gateway(ScriptedLib(raw)) as url:
        c = TikvKVClient(url, 1.0)
        assert await c.put("k", "v") == put_want
        got = await c.get("k")
        assert (got.outcome, got.error) == get_want
        await c.aclose()


async def test_a_hung_operation_is_unknown_for_a_write_and_failed_for_a_read() -> None:
    raw = ScriptedRaw()
    raw.hang = True
    async with gateway(ScriptedLib(raw)) as url:
        c = TikvKVClient(url, 0.2)  # the gateway times the op out itself
        assert await c.put("k", "v") == (OpOutcome.UNKNOWN, "timeout")
        got = await c.get("k")
        assert (got.outcome, got.error) == (OpOutcome.FAIL, "timeout")
        await c.aclose()
    assert raw.data == {}


async def test_a_failed_connect_is_a_definite_failure_and_is_retried(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tikv_gateway, "RECONNECT_AFTER_S", 0.3)
    lib = ScriptedLib(ScriptedRaw(), connect_failures=1)
    async with gateway(lib) as url:
        c = TikvKVClient(url, 1.0)
        # never sent: FAIL even for a write
        assert await c.put("k", "v1") == (OpOutcome.FAIL, "pd_unavailable")
        # right after, the same answer without another connect attempt ...
        assert await c.put("k", "v2") == (OpOutcome.FAIL, "pd_unavailable")
        assert len(lib.calls) == 1
        await asyncio.sleep(0.35)
        assert await c.put("k", "v3") == (OpOutcome.OK, "")  # ... then it connects again
        await c.aclose()
    assert len(lib.calls) == 2
    assert lib.raw.data == {b"k": b"v3"}


async def test_a_slow_connect_outlives_the_op_that_started_it() -> None:
    """One op's deadline must not cancel the connect every later op depends on."""
    lib = ScriptedLib(ScriptedRaw())
    real_connect = lib.RawClient.connect

    async def slow(pd: list[str]) -> ScriptedRaw:
        await asyncio.sleep(0.5)
        raw: ScriptedRaw = await real_connect(pd)
        return raw

    lib.RawClient.connect = staticmethod(slow)  # type: ignore[method-assign]
    async with gateway(lib) as url:
        c = TikvKVClient(url, 0.2)
        first, second = await asyncio.gather(c.put("k", "v1"), c.put("k2", "v2"))
        assert first == second == (OpOutcome.FAIL, "connect_timeout")  # never sent
        await asyncio.sleep(0.5)
        assert await c.put("k", "v3") == (OpOutcome.OK, "")
        await c.aclose()
    assert len(lib.calls) == 1  # one connect, shared, and not restarted
    assert lib.raw.data == {b"k": b"v3"}


async def test_without_the_library_health_says_why_and_ops_fail() -> None:
    async with gateway(None, label=None, import_error="ModuleNotFoundError: tikv_client") as url:
        async with httpx.AsyncClient(trust_env=False) as http:
            health = (await http.get(f"{url}/health")).json()
        c = TikvKVClient(url, 1.0)
        assert await c.put("k", "v") == (OpOutcome.FAIL, "no_client")
        await c.aclose()
    assert health["library"] is None
    assert health["import_error"] == "ModuleNotFoundError: tikv_client"


async def test_malformed_requests_are_refused_with_a_status() -> None:
    async with gateway(ScriptedLib(ScriptedRaw())) as url, \
            httpx.AsyncClient(trust_env=False) as http:
        cases = {
            "bad json": await http.post(f"{url}/raw/put", content=b"{nope"),
            "no key": await http.post(f"{url}/raw/put", json={"value": "v"}),
            "list body": await http.post(f"{url}/raw/get", json=["k"]),
            "bad timeout": await http.post(f"{url}/raw/get", json={"key": "k", "timeout_s": 0}),
            "wrong method": await http.get(f"{url}/raw/put"),
            "unknown path": await http.get(f"{url}/nothing"),
        }
    assert {k: r.status_code for k, r in cases.items()} == {
        "bad json": 400, "no key": 400, "list body": 400, "bad timeout": 400,
        "wrong method": 405, "unknown path": 404}
    assert "key" in cases["no key"].json()["error"]


async def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    async with gateway(ScriptedLib(ScriptedRaw())) as url:
        port = int(url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps({"key": "k", "value": "v"}).encode()
        request = (b"POST /raw/put HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        answers = []
        for _ in range(3):
            writer.write(request)
            await writer.drain()
            status = await reader.readline()
            headers = {}
            while (line := await reader.readline()) != b"\r\n":
                name, _, value = line.decode().partition(":")
                headers[name.lower()] = value.strip()
            payload = await reader.readexactly(int(headers["content-length"]))
            answers.append((status.split()[1], headers["connection"], json.loads(payload)))
        writer.close()
        await writer.wait_closed()
    assert answers == [(b"200", "keep-alive", {"ok": True})] * 3


async def test_no_gateway_refused_gateway_and_a_gateway_dying_mid_request() -> None:
    assert await TikvKVClient("", 1.0).put("k", "v") == (OpOutcome.FAIL, "no_gateway")

    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()  # the request arrived, then the gateway died
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        c = TikvKVClient(f"http://127.0.0.1:{port}", 1.0)
        assert await c.put("k", "v") == (OpOutcome.UNKNOWN, "gateway_reset")
        assert (await c.get("k")).outcome == OpOutcome.FAIL
        await c.aclose()
    refused = TikvKVClient(f"http://127.0.0.1:{port}", 1.0)  # nothing listens there now
    assert await refused.put("k", "v") == (OpOutcome.FAIL, "gateway_refused")
    await refused.aclose()
