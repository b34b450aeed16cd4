"""The nfqueue shaper daemon's lifecycle: its argv, name and status events, and starting it
(to a deadline, until it logs "bound") and stopping it in a target's network namespace.

The daemon (chaos/helper/shaper.py, installed in the helper image as SHAPER_BIN) prints one
JSON status line per event: "bound" once it holds its NFQUEUE (only then may the harness
queue traffic to it), "error" with a hint when it cannot, "stopped" on SIGTERM after
accepting every packet it held. It runs in one of two places, both joined to the target's
netns with CAP_NET_ADMIN:

    in the node helper   when the trial has one for the target (eval/engine/helper_exec.py):
                         one exec of chaos/helper/shaperctl.py starts it as a process of
                         that helper and returns once it is bound (`start_in_helper`); one
                         stops it (`stop_in_helper`), one lists live ones (`pids_in_helper`).
                         Removing the helper ends it too: a run killed with -9 leaves it to
                         the ledger's undo plan (which names the helper) and to resume/gc
                         (which remove every labelled container).
    a container          otherwise (`start_shaper`, `stop_shaper`): a daemon helper of its
                         own, named after trial and target (`helper_name`).
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
from chaos_eval.engine.containers import ContainerInfo, HelperResult
from chaos_eval.errors import DockerError, FaultError
from chaos_eval.polling import poll_until
from chaos_eval.resources import shipped

log = logging.getLogger(__name__)

SHAPER_BIN = "chaos-eval-shaper"
CTL_PATH = "/tmp/chaos-eval-shaperctl.py"  # chaos/helper/shaperctl.py, in the node helper
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


# -- in the node helper -----------------------------------------------------------------------


def status_path(slot: Slot) -> str:
    return f"/tmp/chaos-eval-shaper-{slot.short}.log"


def ctl_argv(*args: str) -> tuple[str, ...]:
    return ("python3", "-S", CTL_PATH, *args)  # stdlib only: no site packages to look for


async def _ctl(docker: Docker, netns_of: str, image: str, timeout_s: float,
               *args: str, files: Mapping[str, bytes] | None = None) -> HelperResult | None:
    """One exec of shaperctl in the node helper of `netns_of`; None when it has none."""
    program = shipped("chaos/helper/shaperctl.py").read_bytes()
    return await docker.node_exec(ctl_argv(*args), netns_of=netns_of, volume=None,
                                  caps=("NET_ADMIN",), image=image, timeout_s=timeout_s + 10,
                                  files={**(files or {}), CTL_PATH: program})


async def start_in_helper(
    docker: Docker, slot: Slot, argv: tuple[str, ...], *, node: str, netns_of: str, image: str,
    then: tuple[str, ...] = (), files: Mapping[str, bytes] | None = None,
) -> int | None:
    """Start the shaper in the target's node helper, and once it is bound (only then) run
    `then` there, in the same exec (`files` copied in first). Returns `then`'s exit code (0
    when there is none); None when the target has no node helper (start it as a container
    instead). FaultError (naming `node`) when the shaper reports an error, exits, or is not
    bound in time."""
    res = await _ctl(docker, netns_of, image, SHAPER_READY_TIMEOUT_S, "start",
                     status_path(slot), f"{SHAPER_READY_TIMEOUT_S:g}", str(len(then)), *then,
                     *argv, files=files)
    if res is None:
        return None
    event = shaper_event(res.stdout)
    if res.ok and event is not None and event["event"] == "bound":
        if not then:
            return 0
        code = _pids(res.stdout, "then")
        if code is None or len(code) != 1:
            raise FaultError(f"{node}: shaperctl: no exit code of {then[:1]}: {res.stdout!r:.300}")
        if code[0]:
            log.info("%s: %s after binding: exit %s: %s", node, " ".join(then), code[0],
                     res.stderr.strip()[:300])
        return code[0]
    if event is not None and event["event"] == "error":
        raise FaultError(f"{node}: shaper: {event.get('error')} ({event.get('hint')})")
    raise FaultError(f"{node}: shaper in the node helper did not bind (exit {res.exit_code}): "
                     f"{(res.stdout + res.stderr)[-300:]}")


def _pids(stdout: str, word: str) -> tuple[int, ...] | None:
    for line in stdout.splitlines():
        head, _, rest = line.partition(" ")
        if (head == word or line == word) and all(p.isdigit() for p in rest.split()):
            return tuple(int(p) for p in rest.split())
    return None


async def stop_in_helper(docker: Docker, slot: Slot, node: str, netns_of: str,
                         image: str) -> None:
    """SIGTERM every live shaper of `slot` in the target's node helper (it accepts what it
    holds), wait to a deadline, then SIGKILL. Idempotent; nothing to do without a node
    helper. DockerError when one is left live or the answer is not understood."""
    res = await _ctl(docker, netns_of, image, SHAPER_STOP_TIMEOUT_S,
                     "stop", str(slot.queue), f"{SHAPER_STOP_TIMEOUT_S:g}")
    if res is None:
        return
    left = _pids(res.stdout, "left")
    if not res.ok or left is None or left:
        raise DockerError(f"{node}: shaper in the node helper not stopped "
                          f"(exit {res.exit_code}): {(res.stdout + res.stderr)[-300:]}")
    log.info("%s: shaper in node helper: %s", node, res.stdout.strip().replace("\n", "; "))


async def pids_in_helper(docker: Docker, slot: Slot, netns_of: str,
                         image: str) -> tuple[int, ...] | None:
    """Live shapers of `slot` in the target's node helper; None when it has none.
    DockerError when the answer is not understood (never read as "none")."""
    res = await _ctl(docker, netns_of, image, 5.0, "list", str(slot.queue))
    if res is None:
        return None
    pids = _pids(res.stdout, "live")
    if not res.ok or pids is None:
        raise DockerError(f"shaperctl list: exit {res.exit_code}: "
                          f"{(res.stdout + res.stderr)[-300:]}")
    return pids
