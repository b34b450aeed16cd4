"""node_kill's peer observation against a fake engine: the watch started beside the kill
proves the peer port dark only through an attempt that started after the recorded exit,
else a probe after the kill decides; and the watch never outlives the fault's calls, on any
path (verify_active, a failed inject, cleanup without verify_active, cancellation). The real
engine: tests/integration/test_node_kill.py."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import pytest

from chaos_eval.chaos.node_kill import NodeKillFault, NodeKillParams
from chaos_eval.engine.containers import ContainerInfo, HelperResult
from chaos_eval.errors import DockerError, FaultError
from chaos_eval.subject import Endpoint, Node, TrialContext

CTX = TrialContext(campaign_id=1, trial_key="k" * 16, seed=7)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()  # nothing listens there: the endpoint probe is refused at once
    return port


def _node(i: int) -> Node:
    ep = Endpoint("client", "127.0.0.1", _closed_port())
    return Node(f"etcd{i}", "etcd", f"cid{i}", f"172.20.0.{i + 1}", (ep,), (2380,))


NODES = (_node(1), _node(2), _node(3))


def _rfc3339(ns: int) -> str:
    at = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{at}.{ns % 10**9:09d}Z"


class KillDocker:
    """inspect, kill, start and helpers over three fake containers. A watch (a run_helper
    of reach.py's watch mode) waits for the kill, then reports attempts at `fail_offsets_ns`
    from the recorded exit; a probe (its probe mode) answers `closed ETIMEDOUT`."""

    def __init__(self, *, helpers: bool = True, fail_offsets_ns: Iterable[int] = (3_000,),
                 running_after_kill: int = 0, kill_error: bool = False) -> None:
        self.running = {n.container_id for n in NODES}
        self.finished: dict[str, int] = {}
        self.helpers, self.offsets = helpers, tuple(fail_offsets_ns)
        self.running_after_kill, self.kill_error = running_after_kill, kill_error
        self.killed = asyncio.Event()
        self.release = asyncio.Event()  # cleared: a watch runs on after the kill
        self.release.set()
        self.calls: list[str] = []  # "watch", "probe", "kill", "start", "inspect-down"
        self.watch_state = ""  # "", "running", "done", "cancelled"
        self.markers: set[tuple[str, str]] = set()  # (helper container, path)
        self.looks = 0  # has_path calls

    async def inspect(self, container: str) -> ContainerInfo:
        await asyncio.sleep(0)  # a call to the engine: others run meanwhile
        up = container in self.running
        if not up and self.running_after_kill > 0:  # SIGTERM: the process takes its time
            self.running_after_kill -= 1
            up = True
        if not up:
            self.calls.append("inspect-down")
        fin = _rfc3339(self.finished[container]) if container in self.finished else ""
        return ContainerInfo(container, container, "running" if up else "exited", up, False,
                             0, "", ports={2379: 1}, finished_at=fin)

    async def kill(self, container: str, signal: str = "SIGKILL") -> bool:
        self.calls.append("kill")
        await asyncio.sleep(0.01)
        if self.kill_error:
            raise DockerError("kill: engine said no")
        self.running.discard(container)
        self.finished[container] = time.time_ns()
        self.killed.set()
        return True

    async def start(self, container: str) -> bool:
        self.calls.append("start")
        self.running.add(container)
        return True

    def node_helper_of(self, target: str) -> str | None:
        return f"helper-{target}" if self.helpers else None

    async def has_path(self, container: str, path: str) -> bool:
        self.looks += 1
        await asyncio.sleep(0)
        return (container, path) in self.markers

    async def run_helper(self, argv: Iterable[str], *, labels: Mapping[str, str],
                         netns_of: str | None = None, files: Mapping[str, bytes] | None = None,
                         **_: object) -> HelperResult:
        args = list(argv)
        assert files and netns_of == "cid2"  # the first peer, in name order
        if args[2] != "watch":
            self.calls.append("probe")
            return HelperResult(0, f"{args[-2]} {args[-1]} closed ETIMEDOUT\n", "")
        self.calls.append("watch")
        assert args[3:7] == ["2", "0.3", "0.1", "0.005"] and args[8:] == ["172.20.0.2", "2380"]
        self.watch_state = "starting"
        try:
            await asyncio.sleep(0.03)  # an exec takes its time to start
            self.markers.add((f"helper-{netns_of}", args[7]))
            self.watch_state = "running"
            await self.killed.wait()
            await self.release.wait()
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            self.watch_state = "cancelled"
            raise
        self.markers.clear()
        exit_ns = self.finished["cid1"]
        lines = [f"{exit_ns - 50_000_000} open"]
        lines += [f"{exit_ns + d} closed ECONNREFUSED" for d in self.offsets]
        self.watch_state = "done"
        return HelperResult(0, "\n".join([*lines, "end failed"]) + "\n", "")


def _fault(docker: KillDocker, signal: str = "SIGKILL") -> NodeKillFault:
    params = NodeKillParams.model_validate({"signal": signal})
    return NodeKillFault(params, (NODES[0],), NODES, CTX, docker)  # type: ignore[arg-type]


async def test_a_failure_after_the_recorded_exit_proves_it_without_a_probe() -> None:
    docker = KillDocker(fail_offsets_ns=(-2_000_000, 1_500_000))
    fault = _fault(docker)
    await fault.inject()
    assert docker.calls[:2] == ["watch", "kill"]  # the kill waited for the watch to look
    assert docker.looks >= 2
    active = await fault.verify_active()
    assert active.holds, active
    assert "probe" not in docker.calls
    assert active.figures["etcd1_peer_probe"] == "etcd2->etcd1:2380 blocked"
    assert str(active.figures["etcd1_peer_seen"]).startswith(
        "watch: ECONNREFUSED 1.5 ms after the recorded exit")
    assert active.figures["etcd1_endpoint"] == "refused"
    assert docker.watch_state == "done" and not fault._watches


async def test_failures_only_before_the_recorded_exit_fall_back_to_a_probe() -> None:
    docker = KillDocker(fail_offsets_ns=(-3_000_000, -1, 0))
    fault = _fault(docker)
    await fault.inject()
    active = await fault.verify_active()
    assert active.holds, active
    assert docker.calls.count("probe") == 1
    assert docker.calls.index("probe") > docker.calls.index("inspect-down")
    assert "none proves" in str(active.figures["etcd1_peer_seen"])


async def test_without_a_node_helper_there_is_no_watch() -> None:
    docker = KillDocker(helpers=False)
    fault = _fault(docker)
    await fault.inject()
    active = await fault.verify_active()
    assert active.holds and "watch" not in docker.calls and docker.calls.count("probe") == 1
    assert active.figures["etcd1_peer_seen"] == "probed after the kill (no watch)"


async def test_sigterm_polls_until_stopped_before_anything_counts() -> None:
    docker = KillDocker(running_after_kill=3, fail_offsets_ns=(-1_000_000,))
    fault = _fault(docker, "SIGTERM")
    await fault.inject()
    active = await fault.verify_active()
    assert active.holds, active
    assert docker.calls.count("probe") == 1  # the refusal came before the recorded exit
    assert docker.running_after_kill == 0


async def test_a_watch_that_never_looks_delays_the_kill_boundedly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chaos_eval.chaos.net.reach_watch.WATCH_READY_S", 0.1)
    docker = KillDocker()
    docker.markers = _Nothing()
    fault = _fault(docker)
    t0 = time.monotonic()
    await fault.inject()
    assert 0.1 <= time.monotonic() - t0 < 1.0
    assert (await fault.verify_active()).holds


class _Nothing(set[tuple[str, str]]):
    def add(self, _: tuple[str, str]) -> None:  # the marker never shows
        pass


async def test_a_failed_inject_ends_its_watch() -> None:
    docker = KillDocker(kill_error=True)
    fault = _fault(docker)
    with pytest.raises(FaultError, match="engine said no"):
        await fault.inject()
    assert docker.watch_state == "cancelled" and not fault._watches


async def test_cleanup_ends_a_watch_when_verify_active_never_ran() -> None:
    docker = KillDocker()
    docker.release.clear()
    fault = _fault(docker)
    await fault.inject()
    await asyncio.sleep(0.02)
    assert docker.watch_state == "running"
    await fault.cleanup_chaos()
    assert docker.watch_state == "cancelled" and not fault._watches
    assert "start" in docker.calls
    await fault.cleanup_chaos()  # idempotent


async def test_a_cancelled_verify_active_ends_its_watch() -> None:
    docker = KillDocker()
    docker.release.clear()  # the watch is still running when verify_active is cancelled
    fault = _fault(docker)
    await fault.inject()
    task = asyncio.create_task(fault.verify_active())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert docker.watch_state == "cancelled" and not fault._watches
