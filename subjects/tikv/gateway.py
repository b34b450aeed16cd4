#!/usr/bin/python3
"""chaos-eval's TiKV client gateway: raw KV over a little HTTP, run INSIDE the cluster network.

Why it exists: TiKV's raw KV API is gRPC only, and a client follows the addresses PD hands
out (the PD leader's `http://pdN:2379`, each store's advertised `tikvN:20160`). Those names
resolve only on the trial's compose network, never on the host where the harness runs, and
the harness may reach nodes only through ports published on 127.0.0.1. So the real client
(`tikv-client` on PyPI: client-rust under pyo3) runs here, in a container on that network
(the `client` service of compose/tikv.yml, image `chaos-eval/tikv-client:local`), and the
harness speaks to this process through its one published port (subjects/tikv/client.py).

Protocol (JSON bodies, HTTP/1.1 keep-alive):
  GET  /health    {"library": "tikv_client 0.0.4" | null, "import_error": str | null,
                   "pd": [...], "connected": bool}
  POST /raw/put   {"key": str, "value": str, "timeout_s": float}
  POST /raw/get   {"key": str, "timeout_s": float}
Every operation answers 200 with {"ok": true[, "value": str | null]} or {"ok": false,
"stage": "connect" | "op", "timeout": bool, "error": client-rust's text}. The harness, not
this process, decides what an error means (subjects/tikv/client.py `classify_error`):
a `connect` failure means the operation was never sent. A malformed request is a 400.

Standard library only besides `tikv_client` (imported lazily, so a missing library is
reported by /health instead of killing the process). Run as
`chaos-eval-tikv-gateway --listen 0.0.0.0:8080 --pd pd1:2379,pd2:2379,pd3:2379`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import logging
import signal
from collections.abc import Callable
from typing import Any

log = logging.getLogger("chaos-eval-tikv-gateway")

PORT = 8080
CONNECT_TIMEOUT_S = 5.0
RECONNECT_AFTER_S = 0.5  # a failed connect answers every op for this long, then is retried
MAX_TIMEOUT_S = 60.0
MAX_BODY = 1 << 20
MAX_HEADER_LINES = 64
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Payload Too Large"}


class BadRequest(Exception):
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def load_library() -> tuple[Any | None, str | None, str | None]:
    """(tikv_client.asynchronous, "tikv_client <version>", None) or (None, None, why)."""
    try:
        lib = importlib.import_module("tikv_client.asynchronous")
    except ImportError as e:
        return None, None, f"{type(e).__name__}: {e}"
    try:
        from importlib.metadata import version
        label = f"tikv_client {version('tikv_client')}"
    except Exception:  # metadata missing: still usable
        label = "tikv_client (version unknown)"
    return lib, label, None


class Gateway:
    """One shared raw client, connected on first use and again after a failed connect.
    One connect at a time, shared by every op that needs it and never cancelled by one op's
    deadline (each op waits for it within its own); a connect that just failed answers the
    ops behind it at once instead of each retrying in turn."""

    def __init__(self, pd: list[str], library: Callable[[], tuple[Any | None, str | None,
                                                             str | None]] = load_library
                 ) -> None:
        self.pd = pd
        self._lib, self._label, self._import_error = library()
        self._raw: Any | None = None
        self._failed: tuple[float, ConnectFailed] | None = None
        self._connecting: asyncio.Task[Any] | None = None

    def health(self) -> dict[str, Any]:
        return {"library": self._label, "import_error": self._import_error,
                "pd": self.pd, "connected": self._raw is not None}

    async def _client(self) -> Any:
        if self._raw is not None:
            return self._raw
        loop = asyncio.get_running_loop()
        if self._failed is not None and loop.time() - self._failed[0] < RECONNECT_AFTER_S:
            raise self._failed[1]
        if self._connecting is None:
            self._connecting = asyncio.create_task(self._connect())
            # retrieved even when every op waiting for it gave up first
            self._connecting.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> Any:
        try:
            if self._lib is None:
                raise ConnectFailed(f"tikv_client not importable: {self._import_error}")
            try:
                self._raw = await asyncio.wait_for(
                    self._lib.RawClient.connect(list(self.pd)), CONNECT_TIMEOUT_S)
            except TimeoutError:
                raise ConnectFailed("connect timed out", timeout=True) from None
            except Exception as e:  # client-rust raises bare Exception
                raise ConnectFailed(str(e)) from None
        except ConnectFailed as e:
            self._failed = (asyncio.get_running_loop().time(), e)
            raise
        finally:
            self._connecting = None
        self._failed = None
        return self._raw

    async def operate(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        key, value, timeout_s = _fields(op, body)
        deadline = asyncio.get_running_loop().time() + timeout_s
        try:
            async with asyncio.timeout_at(deadline):  # the op's deadline bounds the connect
                raw = await self._client()
        except TimeoutError:
            return {"ok": False, "stage": "connect", "timeout": True,
                    "error": "no connection within the op's deadline"}
        except ConnectFailed as e:
            return {"ok": False, "stage": "connect", "timeout": e.timeout, "error": str(e)}
        try:
            async with asyncio.timeout_at(deadline):
                if op == "put":
                    await raw.put(key, value)
                    return {"ok": True}
                got = await raw.get(key)
        except TimeoutError:
            return {"ok": False, "stage": "op", "timeout": True, "error": "deadline exceeded"}
        except Exception as e:
            return {"ok": False, "stage": "op", "timeout": False, "error": str(e)}
        return {"ok": True,
                "value": None if got is None else bytes(got).decode("utf-8", "replace")}


class ConnectFailed(Exception):
    def __init__(self, why: str, *, timeout: bool = False) -> None:
        super().__init__(why)
        self.timeout = timeout


def _fields(op: str, body: dict[str, Any]) -> tuple[bytes, bytes, float]:
    key, value, timeout_s = body.get("key"), body.get("value", ""), body.get("timeout_s", 5.0)
    if not isinstance(key, str) or not key:
        raise BadRequest(400, "key: a non-empty string is required")
    if op == "put" and not isinstance(value, str):
        raise BadRequest(400, "value: a string is required")
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, int | float) \
            or not 0 < timeout_s <= MAX_TIMEOUT_S:
        raise BadRequest(400, f"timeout_s: a number in (0, {MAX_TIMEOUT_S:.0f}] is required")
    return key.encode(), str(value).encode(), float(timeout_s)


# -- HTTP/1.1, just enough: request line, headers, Content-Length body, keep-alive ----------


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, bytes, bool] | None:
    """(method, path, body, keep_alive), or None at a clean end of the connection."""
    line = await reader.readline()
    if not line:
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(400, "malformed request line")
    method, path, version = parts
    headers: dict[str, str] = {}
    for _ in range(MAX_HEADER_LINES):
        h = (await reader.readline()).decode("latin-1")
        if h in ("\r\n", "\n", ""):
            break
        name, _, val = h.partition(":")
        headers[name.strip().lower()] = val.strip()
    else:
        raise BadRequest(400, "too many header lines")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise BadRequest(400, "bad Content-Length") from None
    if length < 0 or length > MAX_BODY:
        raise BadRequest(413, f"body over {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    conn = headers.get("connection", "").lower()
    keep = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
    return method, path, body, keep


def _response(status: int, payload: dict[str, Any], keep: bool) -> bytes:
    body = json.dumps(payload).encode()
    head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n")
    return head.encode() + body


async def route(gw: Gateway, method: str, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    if path == "/health":
        if method != "GET":
            raise BadRequest(405, "GET only")
        return 200, gw.health()
    if path in ("/raw/put", "/raw/get"):
        if method != "POST":
            raise BadRequest(405, "POST only")
        try:
            parsed = json.loads(body or b"{}")
        except ValueError:
            raise BadRequest(400, "body is not JSON") from None
        if not isinstance(parsed, dict):
            raise BadRequest(400, "body must be a JSON object")
        return 200, await gw.operate(path.rsplit("/", 1)[1], parsed)
    raise BadRequest(404, f"no such path {path}")


async def serve_connection(gw: Gateway, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            try:
                request = await _read_request(reader)
                if request is None:
                    return
                method, path, body, keep = request
                status, payload = await route(gw, method, path, body)
            except BadRequest as e:
                status, payload, keep = e.status, {"error": str(e)}, False
            writer.write(_response(status, payload, keep))
            await writer.drain()
            if not keep:
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def serve(gw: Gateway, host: str, port: int,
                ready: Callable[[int], None] | None = None) -> None:
    server = await asyncio.start_server(lambda r, w: serve_connection(gw, r, w), host, port)
    bound = server.sockets[0].getsockname()[1]
    log.info("listening on %s:%d, PD %s, %s", host, bound, gw.pd,
             gw.health()["library"] or gw.health()["import_error"])
    if ready is not None:
        ready(bound)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--listen", default=f"0.0.0.0:{PORT}", help="host:port")
    parser.add_argument("--pd", required=True, help="comma-separated PD host:port list")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    pd = [p for p in args.pd.split(",") if p]

    async def run() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        await serve(Gateway(pd), host, int(port))

    with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
