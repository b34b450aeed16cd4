"""TCP reachability between nodes, observed from outside the target.

Reachability is observed from a helper joined to the *source* node's network
namespace, so it sees exactly what the node's own traffic sees, without any tool in the
target image: `nc -z -w 1 <dst ip> <dst peer port>` for one pair, or chaos/helper/reach.py
(copied into the helper) connecting to all of a source's peers at once, one helper a source.
Every address and port is checked before it reaches an argv.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cache

from chaos_eval.chaos.net.addresses import checked_ipv4
from chaos_eval.engine.client import Docker
from chaos_eval.engine.helper_containers import HELPER_IMAGE_DEFAULT
from chaos_eval.engine.helper_fanout import HELPER_CONCURRENCY, bounded_gather
from chaos_eval.errors import FaultError, ParameterError
from chaos_eval.resources import shipped
from chaos_eval.subject import Node

NC_TIMEOUT_S = 1  # nc -w: connect timeout of one pair probe (nc takes whole seconds)
# reach.py's connect timeout. On a bridge a handshake completes in well under a millisecond
# (the kernel answers a SYN in softirq, whatever the load on user space), so a peer that
# has not completed one within 0.3 s is blocked (DROP) or gone: 300x the margin, and a
# verify loop that polls re-probes a pair seen wrongly anyway.
REACH_TIMEOUT_S = 0.3
REACH_PATH = "/tmp/chaos-eval-reach.py"  # chaos/helper/reach.py, in the helper's filesystem
PYTHON = ("python3", "-S")  # reach.py needs nothing from site packages: start without them


# -- validation: nothing reaches an argv unchecked ------------------------------------------


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
    targets: Iterable[tuple[str, int]], timeout_s: float = REACH_TIMEOUT_S,
    options: tuple[str, ...] = (),
) -> tuple[str, ...]:
    """argv of one helper probing every (ip, port) at once with chaos/helper/reach.py
    (copied in as REACH_PATH): one `<ip> <port> open|closed <reason>` line each. `options`
    (its --first/--rounds, chaos/net/probe_rounds.py) go before the probe arguments."""
    if not 0.05 <= timeout_s <= 30:
        raise ParameterError(f"probe timeout must be within 0.05-30 s, got {timeout_s}")
    args = [a for ip, port in targets for a in (checked_ipv4(ip), str(checked_port(port)))]
    if not args:
        raise ParameterError("no targets to probe")
    return (*PYTHON, REACH_PATH, *options, f"{timeout_s:g}", *args)


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
    return shipped("chaos/helper/reach.py").read_bytes()


async def probe_from(
    docker: Docker,
    labels: Mapping[str, str],
    src: Node,
    dsts: tuple[Node, ...],
    *,
    image: str = HELPER_IMAGE_DEFAULT,
    timeout_s: float = REACH_TIMEOUT_S,
) -> tuple[PairProbe, ...]:
    """Connect from `src` to every one of `dsts`' peer ports at once, in ONE helper joined
    to `src`'s netns (each connect given `timeout_s`). Raises DockerError if the helper
    cannot run (e.g. `src` is not running), FaultError if it answers nonsense."""
    targets = tuple((checked_ipv4(d.address), peer_port(d)) for d in dsts)
    res = await docker.run_helper(
        reach_argv(targets, timeout_s),
        labels=labels,
        netns_of=src.container_id,
        image=image,
        timeout_s=timeout_s + 20,
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
    `concurrency` helpers at a time; results in input order. When a helper fails, the
    first failure (in source order) is raised once every helper has finished."""
    pairs = tuple(pairs)
    by_src: dict[str, tuple[Node, list[Node]]] = {}
    for src, dst in pairs:
        by_src.setdefault(src.container_id, (src, []))[1].append(dst)
    results = await bounded_gather(
        lambda group: probe_from(docker, labels, group[0], tuple(group[1]), image=image),
        by_src.values(), concurrency,
    )
    found: dict[tuple[str, str], PairProbe] = {}
    for result in results:
        if isinstance(result, BaseException):
            raise result
        found.update(((p.src, p.dst), p) for p in result)
    return tuple(found[(s.name, d.name)] for s, d in pairs)


def ordered_pairs(nodes: Iterable[Node]) -> tuple[tuple[Node, Node], ...]:
    """Every (src, dst) with src != dst, in name order."""
    ns = sorted(nodes, key=lambda n: n.name)
    return tuple((a, b) for a in ns for b in ns if a.name != b.name)


async def running_nodes(
    docker: Docker, nodes: Iterable[Node]
) -> tuple[tuple[Node, ...], tuple[str, ...]]:
    """The running ones of `nodes`, with their address as it is now (a restarted container may
    get a new one on the private network), and the names of those not running."""
    nodes = tuple(nodes)
    infos = await asyncio.gather(*(docker.inspect(n.container_id) for n in nodes))
    up: list[Node] = []
    down: list[str] = []
    for node, info in zip(nodes, infos, strict=True):
        if info is None or not info.running:
            down.append(node.name)
            continue
        ips = set(info.ips.values())
        if node.address not in ips and len(ips) == 1:
            node = replace(node, address=checked_ipv4(ips.pop()))
        up.append(node)
    return tuple(up), tuple(down)
