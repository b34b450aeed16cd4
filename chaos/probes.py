"""Outside observations shared by fault kinds: TCP reachability between nodes, HTTP probes
of published endpoints, and polling to a deadline.

Reachability is observed from a one-shot helper joined to the *source* node's network
namespace, so it sees exactly what the node's own traffic sees, without any tool in the
target image: `nc -z -w 1 <dst ip> <dst peer port>` for one pair, or chaos/helper/reach.py
(copied into the helper) connecting to all of a source's peers at once, one helper a source.
HTTP probes go through the port the node publishes on 127.0.0.1, as a client would, in the
endpoint's protocol (HTTP, or a RESP PING for Redis). httpx and socket errors are translated
here into `HttpOutcome` values; nothing above this module sees them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TypeVar

import httpx

from eval.docker import HELPER_IMAGE_DEFAULT, Docker
from eval.errors import FaultError, ParameterError
from eval.fault import Evidence
from eval.subject import Endpoint, Node

T = TypeVar("T")

NC_TIMEOUT_S = 1  # nc -w / reach.py: connect timeout of one reachability probe
REACH_PATH = "/tmp/chaos-eval-reach.py"  # chaos/helper/reach.py, in the helper's filesystem
HELPER_CONCURRENCY = 3  # helpers started at once (a 2-core machine runs other trials too)


# -- validation: nothing reaches an argv unchecked ------------------------------------------


def checked_ipv4(address: str) -> str:
    """The canonical text of an IPv4 address; ParameterError for anything else."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError as e:
        raise ParameterError(f"not an IP address: {address!r}") from e
    if not isinstance(ip, ipaddress.IPv4Address):
        raise ParameterError(f"only IPv4 addresses are supported here: {address!r}")
    if ip.is_unspecified or ip.is_multicast or ip.is_loopback:
        raise ParameterError(f"not a node address: {address!r}")
    return str(ip)


def checked_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ParameterError(f"not a TCP port: {port!r}")
    return port


def peer_port(node: Node) -> int:
    """The port other members dial on `node` (its first peer port)."""
    if not node.peer_ports:
        raise FaultError(f"node {node.name} declares no peer port to probe")
    return checked_port(node.peer_ports[0])


def nc_argv(ip: str, port: int, timeout_s: int = NC_TIMEOUT_S) -> tuple[str, ...]:
    """argv of one TCP connect probe: exit 0 when the handshake completes."""
    if timeout_s < 1:
        raise ParameterError(f"nc timeout must be >= 1 s, got {timeout_s}")
    return ("nc", "-z", "-w", str(timeout_s), checked_ipv4(ip), str(checked_port(port)))


# -- reachability between nodes ---------------------------------------------------------------


@dataclass(frozen=True)
class PairProbe:
    """One TCP connect attempt from `src`'s network namespace to `dst`'s peer port."""

    src: str
    dst: str
    port: int
    open: bool
    exit_code: int  # nc's: 0 open; 1 (any failure) when probed by reach.py
    reason: str = ""  # why not open, when known (ETIMEDOUT, ECONNREFUSED, EPERM...)

    def __str__(self) -> str:
        return f"{self.src}->{self.dst}:{self.port} {'open' if self.open else 'blocked'}"


async def probe_pair(
    docker: Docker,
    labels: Mapping[str, str],
    src: Node,
    dst: Node,
    *,
    image: str = HELPER_IMAGE_DEFAULT,
) -> PairProbe:
    """Try to connect from `src` to `dst`'s peer port. Raises DockerError if the helper
    cannot run (e.g. `src` is not running: it has no network namespace to join)."""
    port = peer_port(dst)
    res = await docker.run_helper(
        nc_argv(dst.address, port),
        labels=labels,
        netns_of=src.container_id,
        image=image,
        timeout_s=NC_TIMEOUT_S + 20,
    )
    return PairProbe(src.name, dst.name, port, res.exit_code == 0, res.exit_code)


def reach_argv(
    targets: Iterable[tuple[str, int]], timeout_s: int = NC_TIMEOUT_S
) -> tuple[str, ...]:
    """argv of one helper probing every (ip, port) at once with chaos/helper/reach.py
    (copied in as REACH_PATH): one `<ip> <port> open|closed <reason>` line each."""
    if timeout_s < 1:
        raise ParameterError(f"probe timeout must be >= 1 s, got {timeout_s}")
    args = [a for ip, port in targets for a in (checked_ipv4(ip), str(checked_port(port)))]
    if not args:
        raise ParameterError("no targets to probe")
    return ("python3", REACH_PATH, str(timeout_s), *args)


def parse_reach(stdout: str, targets: tuple[tuple[str, int], ...]) -> tuple[tuple[bool, str], ...]:
    """(open, reason) per target from reach.py's output; FaultError unless it answers
    exactly the targets asked, in order."""
    lines = [line.split() for line in stdout.splitlines() if line.strip()]
    if len(lines) != len(targets):
        raise FaultError(f"reach: {len(lines)} answers for {len(targets)} targets: {stdout!r}")
    out: list[tuple[bool, str]] = []
    for (ip, port), words in zip(targets, lines, strict=True):
        if words[:2] != [ip, str(port)] or words[2:3] not in (["open"], ["closed"]):
            raise FaultError(f"reach: unexpected answer {' '.join(words)!r} for {ip} {port}")
        out.append((words[2] == "open", " ".join(words[3:])))
    return tuple(out)


@cache
def reach_program() -> bytes:
    return (Path(__file__).parent / "helper" / "reach.py").read_bytes()


async def probe_from(
    docker: Docker,
    labels: Mapping[str, str],
    src: Node,
    dsts: tuple[Node, ...],
    *,
    image: str = HELPER_IMAGE_DEFAULT,
) -> tuple[PairProbe, ...]:
    """Connect from `src` to every one of `dsts`' peer ports at once, in ONE helper joined
    to `src`'s netns. Raises DockerError if the helper cannot run (e.g. `src` is not
    running), FaultError if it answers nonsense."""
    targets = tuple((checked_ipv4(d.address), peer_port(d)) for d in dsts)
    res = await docker.run_helper(
        reach_argv(targets),
        labels=labels,
        netns_of=src.container_id,
        image=image,
        timeout_s=NC_TIMEOUT_S + 20,
        files={REACH_PATH: reach_program()},
    )
    if not res.ok:
        raise FaultError(f"reach from {src.name}: exit {res.exit_code}: {res.stderr.strip()}")
    answers = parse_reach(res.stdout, targets)
    return tuple(
        PairProbe(src.name, d.name, port, is_open, 0 if is_open else 1, reason)
        for d, (_, port), (is_open, reason) in zip(dsts, targets, answers, strict=True)
    )


async def reachability(
    docker: Docker,
    labels: Mapping[str, str],
    pairs: Iterable[tuple[Node, Node]],
    *,
    image: str = HELPER_IMAGE_DEFAULT,
    concurrency: int = HELPER_CONCURRENCY,
) -> tuple[PairProbe, ...]:
    """Probe every (src, dst) pair with one helper per source node (`probe_from`), at most
    `concurrency` helpers at a time; results in input order."""
    pairs = tuple(pairs)
    by_src: dict[str, tuple[Node, list[Node]]] = {}
    for src, dst in pairs:
        by_src.setdefault(src.container_id, (src, []))[1].append(dst)
    gate = asyncio.Semaphore(concurrency)

    async def one(src: Node, dsts: list[Node]) -> tuple[PairProbe, ...]:
        async with gate:
            return await probe_from(docker, labels, src, tuple(dsts), image=image)

    groups = await asyncio.gather(*(one(s, ds) for s, ds in by_src.values()))
    found = {(p.src, p.dst): p for group in groups for p in group}
    return tuple(found[(s.name, d.name)] for s, d in pairs)


def ordered_pairs(nodes: Iterable[Node]) -> tuple[tuple[Node, Node], ...]:
    """Every (src, dst) with src != dst, in name order."""
    ns = sorted(nodes, key=lambda n: n.name)
    return tuple((a, b) for a in ns for b in ns if a.name != b.name)


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
        async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as client:
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


# -- polling --------------------------------------------------------------------------------


async def poll_until(
    check: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout_s: float,
    interval_s: float = 0.25,
) -> tuple[T, float]:
    """Call `check` until `done(result)` or the deadline; return the last result and the
    seconds it took. Always checks at least once."""
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    while True:
        result = await check()
        now = time.monotonic()
        if done(result) or now >= deadline:
            return result, now - t0
        await asyncio.sleep(min(interval_s, max(0.0, deadline - now)))


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
