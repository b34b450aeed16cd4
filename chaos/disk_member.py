"""What a member did while its data disk was full, as disk_pressure records it (recorded,
never required): its container's state, the exit code and the last ENOSPC log line when
it is not running, and whether its endpoint answers.

The endpoint is asked in the subject's own terms when the subject has that power
(chaos_eval.subject.DiskFullAware: etcd reports its status and errors); otherwise by the probe
every fault uses (chaos/probes.py: any reply in the endpoint's protocol).
"""

from __future__ import annotations

from chaos_eval.chaos.probes import EndpointTracker, HttpOutcome, probe_endpoint
from chaos_eval.engine.client import Docker
from chaos_eval.subject import DiskFullAware, Node

ENOSPC = "no space left on device"


def enospc_line(logs: str) -> str:
    """The last log line reporting ENOSPC, or ""."""
    hits = [ln.strip() for ln in logs.splitlines() if ENOSPC in ln]
    return hits[-1][:300] if hits else ""


async def member_state(
    docker: Docker, node: Node, tracker: EndpointTracker, subject: DiskFullAware | None,
    timeout_s: float,
) -> dict[str, str]:
    """What the member does now: "container" (its state), "exit_code" and "enospc" when it
    is not running, "endpoint" ("answered", "no answer" or "not published") and whatever
    the subject adds. Never raises for a member that does not answer."""
    info = await docker.inspect(node.container_id)
    rec = {"container": "gone" if info is None else info.status}
    if info is not None and not info.running:
        rec["exit_code"] = str(info.exit_code)
        line = enospc_line(await docker.logs(node.container_id))
        if line:
            rec["enospc"] = line
    ep = await tracker.current()
    if ep is None:
        rec["endpoint"] = "not published"
    elif subject is not None:
        rec.update(await subject.disk_fill_effects(node, ep))
    else:
        probe = await probe_endpoint(ep, timeout_s)
        rec["endpoint"] = "answered" if probe.outcome is HttpOutcome.ANSWERED else "no answer"
    return rec
