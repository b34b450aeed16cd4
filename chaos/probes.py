"""Outside observations shared by fault kinds: HTTP probes of published endpoints (RESP for
Redis), following an endpoint across restarts, and polling to a deadline. TCP reachability
between nodes is chaos/net/reachability.py.

HTTP probes go through the port the node publishes on 127.0.0.1, as a client would, in the
endpoint's protocol (HTTP, or a RESP PING for Redis). httpx and socket errors are translated
here into `HttpOutcome` values; nothing above this module sees them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

import httpx

from chaos_eval.engine.client import Docker
from chaos_eval.fault import Evidence
from chaos_eval.http_client import http_client
from chaos_eval.polling import poll_until
from chaos_eval.subject import Endpoint, Node

# -- HTTP probes of published endpoints -------------------------------------------------------


class HttpOutcome(StrEnum):
    ANSWERED = "answered"  # an HTTP response arrived (any status: the process is serving)
    CLOSED = "closed"  # the connection was closed or reset without a response
    TIMEOUT = "timeout"  # no response within the timeout (frozen, partitioned, overloaded)
    REFUSED = "refused"  # the TCP connect itself failed
    ERROR = "error"  # anything else httpx reported


@dataclass(frozen=True)
class HttpProbe:
    outcome: HttpOutcome
    status: int | None
    elapsed_s: float
    detail: str = ""


async def http_probe(
    url: str,
    *,
    method: str = "POST",
    json_body: object = None,
    timeout_s: float = 1.0,
) -> HttpProbe:
    """One request on a fresh connection; never raises for a failed request."""
    t0 = time.monotonic()
    status: int | None = None
    try:
        async with http_client(timeout_s) as client:
            resp = await client.request(method, url, json=json_body)
            status = resp.status_code
        outcome, detail = HttpOutcome.ANSWERED, ""
    except httpx.TimeoutException as e:
        outcome, detail = HttpOutcome.TIMEOUT, type(e).__name__
    except httpx.ConnectError as e:
        outcome, detail = HttpOutcome.REFUSED, str(e)[:200]
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as e:
        outcome, detail = HttpOutcome.CLOSED, type(e).__name__
    except httpx.HTTPError as e:
        outcome, detail = HttpOutcome.ERROR, f"{type(e).__name__}: {e}"[:200]
    return HttpProbe(outcome, status, time.monotonic() - t0, detail)


def probe_endpoint_of(node: Node) -> Endpoint | None:
    """The endpoint used to observe a node from outside: "client", else the first one."""
    for ep in node.endpoints:
        if ep.name == "client":
            return ep
    return node.endpoints[0] if node.endpoints else None


class EndpointTracker:
    """Follows one published endpoint of a node across restarts (its host port changes).

    `pin()` remembers which container port the endpoint publishes while the node is as the
    subject described it; `current()` reads the host port publishing it now.
    """

    def __init__(self, docker: Docker, node: Node, endpoint: Endpoint) -> None:
        self._docker, self._node, self._endpoint = docker, node, endpoint
        self._container_port: int | None = None

    @property
    def node(self) -> Node:
        return self._node

    async def pin(self) -> None:
        if self._container_port is not None:
            return
        info = await self._docker.inspect(self._node.container_id)
        if info is None:
            return
        for cport, hport in info.ports.items():
            if hport == self._endpoint.port:
                self._container_port = cport
                return

    async def current(self) -> Endpoint | None:
        """The endpoint as published now; None while the container publishes nothing."""
        await self.pin()
        if self._container_port is None:
            return self._endpoint  # never seen published: trust the subject's description
        info = await self._docker.inspect(self._node.container_id)
        if info is None or self._container_port not in info.ports:
            return None
        return replace(self._endpoint, port=info.ports[self._container_port])  # same protocol


# Any HTTP response proves a process is serving, so one path serves every subject; this one
# is cheap and local on etcd (no raft round trip) and a plain 404 elsewhere.
LIVENESS_PATH = "/v3/maintenance/status"
RESP_PING = b"*1\r\n$4\r\nPING\r\n"


async def resp_probe(host: str, port: int, *, timeout_s: float = 1.0) -> HttpProbe:
    """PING a Redis-protocol endpoint on a fresh connection; any reply line (+PONG, or an
    error such as -NOAUTH) is ANSWERED: the process is serving. Never raises. (Redis closes
    a connection that sends it HTTP, so an HTTP probe cannot observe it.)"""
    t0 = time.monotonic()
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout_s):
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError as e:
                return HttpProbe(HttpOutcome.REFUSED, None, time.monotonic() - t0, str(e)[:200])
            writer.write(RESP_PING)
            await writer.drain()
            line = await reader.readline()
        if line.endswith(b"\r\n"):
            return HttpProbe(
                HttpOutcome.ANSWERED,
                None,
                time.monotonic() - t0,
                line[:40].decode("utf-8", "replace").strip(),
            )
        return HttpProbe(HttpOutcome.CLOSED, None, time.monotonic() - t0, "closed")
    except TimeoutError:
        return HttpProbe(HttpOutcome.TIMEOUT, None, time.monotonic() - t0, "TimeoutError")
    except OSError as e:
        return HttpProbe(HttpOutcome.CLOSED, None, time.monotonic() - t0, type(e).__name__)
    finally:
        if writer is not None:
            writer.close()


async def probe_endpoint(ep: Endpoint, timeout_s: float = 1.0) -> HttpProbe:
    """Whether the process behind `ep` serves, in its own protocol (Endpoint.protocol):
    an HTTP POST of LIVENESS_PATH, or a RESP PING."""
    if ep.protocol == "resp":
        return await resp_probe(ep.host, ep.port, timeout_s=timeout_s)
    return await http_probe(ep.url + LIVENESS_PATH, json_body={}, timeout_s=timeout_s)


async def probe_tracked(tracker: EndpointTracker, timeout_s: float = 1.0) -> HttpProbe:
    """Probe the endpoint as published now (probe_endpoint); REFUSED when nothing is."""
    ep = await tracker.current()
    if ep is None:
        return HttpProbe(HttpOutcome.REFUSED, None, 0.0, "no port published")
    return await probe_endpoint(ep, timeout_s)


async def serving_evidence(
    docker: Docker,
    targets: Iterable[Node],
    trackers: Mapping[str, EndpointTracker],
    *,
    probe_timeout_s: float,
    deadline_s: float,
) -> Evidence:
    """Proof that each target runs unpaused and its endpoint (as published now) answers,
    polled to a deadline: the removal proof of faults that stop or freeze a node."""
    nodes = tuple(targets)

    async def serving(node: Node) -> tuple[bool, str]:
        info = await docker.inspect(node.container_id)
        if info is None or info.paused or not info.running:
            return False, f"{node.name}: {info.status if info else 'gone'}"
        probe = await probe_tracked(trackers[node.name], probe_timeout_s)
        if probe.outcome is not HttpOutcome.ANSWERED:
            return False, f"{node.name}: running, endpoint {probe.outcome.value}"
        return True, f"{node.name}: running, endpoint answered in {probe.elapsed_s:.3f}s"

    async def check() -> list[tuple[bool, str]]:
        return list(await asyncio.gather(*(serving(n) for n in nodes)))

    results, took = await poll_until(check, lambda rs: all(ok for ok, _ in rs), deadline_s)
    figures: dict[str, float | str] = {
        "targets": len(nodes),
        "serving": sum(ok for ok, _ in results),
        "seconds": round(took, 3),
    }
    return Evidence(all(ok for ok, _ in results), "; ".join(w for _, w in results), figures)
