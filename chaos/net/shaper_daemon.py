"""The nfqueue shaper daemon's lifecycle: its argv, name and status events, and starting it
(to a deadline, until it logs "bound") and stopping it in a target's network namespace.

The daemon (chaos/helper/shaper.py, installed in the helper image as SHAPER_BIN) is a
long-running helper joined to the target's netns. It prints one JSON status line per event:
"bound" once it holds its NFQUEUE (only then may the harness queue traffic to it), "error"
with a hint when it cannot, "stopped" on SIGTERM after accepting every packet it held.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chaos_eval.chaos.net.shape import Shape, Slot, pct_text
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import ContainerInfo
from chaos_eval.errors import DockerError, FaultError
from chaos_eval.polling import poll_until

log = logging.getLogger(__name__)

SHAPER_BIN = "chaos-eval-shaper"
SHAPER_READY_TIMEOUT_S = 20.0
SHAPER_STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.05


def shaper_argv(slot: Slot, shape: Shape, seed: int) -> tuple[str, ...]:
    return (
        SHAPER_BIN, "--queue", str(slot.queue),
        "--delay-ms", str(shape.delay_ms), "--jitter-ms", str(shape.jitter_ms),
        "--distribution", shape.distribution,
        "--loss-pct", pct_text(shape.loss_pct),
        "--loss-corr-pct", pct_text(shape.loss_corr_pct),
        "--seed", str(seed & 0xFFFFFFFF),
    )


def shaper_event(logs: str) -> dict[str, object] | None:
    """The last status event ("bound", "error", "stopped") the shaper printed, if any."""
    last: dict[str, object] | None = None
    for line in logs.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict) and isinstance(obj.get("event"), str):
            last = obj
    return last


def helper_name(project: str, slot: Slot, node_name: str) -> str:
    """The shaper's container name: deterministic from trial and target."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "-", node_name)[:40] or "node"
    return f"{project}-shaper-{slot.short}-{safe}"


@dataclass(frozen=True)
class _Startup:
    """One look at a starting shaper: its logs, last event, and (unless the event already
    settles it) its container."""

    logs: str
    event: dict[str, object] | None
    info: ContainerInfo | None = None
    inspected: bool = False

    @property
    def settled(self) -> bool:
        if self.event is not None and self.event["event"] in ("bound", "error"):
            return True
        return self.inspected and (self.info is None or not self.info.running)


async def start_shaper(
    docker: Docker, name: str, argv: tuple[str, ...], *, node: str,
    labels: Mapping[str, str], netns_of: str, image: str,
) -> None:
    """Start the shaper `name` in `netns_of`'s netns and wait (to SHAPER_READY_TIMEOUT_S)
    until it logs "bound". Removes an earlier attempt's container of that name first.
    FaultError (naming `node`) when it reports an error, exits, or is not bound in time."""
    await docker.remove(name)  # an earlier attempt's, of this very trial and target
    await docker.start_daemon_helper(argv, name=name, labels=labels, netns_of=netns_of,
                                     image=image)

    async def look() -> _Startup:
        logs = await docker.logs(name)
        event = shaper_event(logs)
        if event is not None and event["event"] in ("bound", "error"):
            return _Startup(logs, event)
        return _Startup(logs, event, await docker.inspect(name), inspected=True)

    seen, _ = await poll_until(look, lambda s: s.settled, SHAPER_READY_TIMEOUT_S,
                               POLL_INTERVAL_S, backoff=1.0)
    event, logs = seen.event, seen.logs
    if event is not None and event["event"] == "bound":
        return
    if event is not None and event["event"] == "error":
        raise FaultError(f"{node}: shaper: {event.get('error')} ({event.get('hint')})")
    if seen.info is None or not seen.info.running:
        code = "gone" if seen.info is None else f"exit {seen.info.exit_code}"
        raise FaultError(f"{node}: shaper {code} before binding: {logs[-300:]}")
    raise FaultError(f"{node}: shaper not bound after {SHAPER_READY_TIMEOUT_S:.0f}s: "
                     f"{logs[-300:]}")


async def stop_shaper(docker: Docker, name: str, node: str) -> None:
    """SIGTERM (the shaper accepts what it holds), wait to a deadline, then remove.
    Idempotent: nothing to do when the container is gone. Raises DockerError."""
    info = await docker.inspect(name)
    if info is None:
        return
    if info.running:
        with contextlib.suppress(DockerError):  # it may have exited meanwhile
            await docker.kill(name, "SIGTERM")
        await poll_until(lambda: docker.inspect(name),
                         lambda i: i is None or not i.running,
                         SHAPER_STOP_TIMEOUT_S, POLL_INTERVAL_S, backoff=1.0)
    event = shaper_event(await docker.logs(name))
    log.info("%s: shaper %s: %s", node, name, event)
    await docker.remove(name)
