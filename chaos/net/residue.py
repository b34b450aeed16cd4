"""What of one shaping slot (chaos/net/shape.py) is left on one target: its chain and rule
in the mangle table, its root qdisc, its shaper (a container of its own, or live processes
in the target's node helper). The proof of removal of `latency` and `packet_loss` reads it
(chaos/net/shaped_fault.py); a listing that cannot be read is an error, never "clean".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from chaos_eval.chaos.net.netem import parse_root_qdisc, qdisc_show_argv
from chaos_eval.chaos.net.queue_rules import chain_residue, list_rules_argv
from chaos_eval.chaos.net.shape import Slot
from chaos_eval.chaos.net.shaper_daemon import pids_in_helper
from chaos_eval.engine.client import Docker
from chaos_eval.engine.containers import HelperResult
from chaos_eval.errors import FaultError
from chaos_eval.subject import Node


@dataclass(frozen=True)
class Residue:
    """What of one slot is left on one target."""

    node: str
    rules: tuple[str, ...]
    qdisc: str | None
    shaper: str | None
    shaper_pids: tuple[int, ...] = ()  # live shapers of the slot in the node helper

    @property
    def clean(self) -> bool:
        return (not self.rules and self.qdisc is None and self.shaper is None
                and not self.shaper_pids)

    def __str__(self) -> str:
        left = [*self.rules, *([f"qdisc {self.qdisc}"] if self.qdisc else [])]
        left += [f"container {self.shaper}"] if self.shaper else []
        left += [f"shaper process {p} in the node helper" for p in self.shaper_pids]
        return f"{self.node}: " + ("clean" if not left else "left " + "; ".join(left))


async def read_residue(
    docker: Docker, labels: Mapping[str, str], image: str, slot: Slot, node: Node,
    shaper: str,
) -> Residue:
    """Read what is left of `slot` on `node` from its netns, its node helper and the engine
    (the container named `shaper`), the reads at once. FaultError when a listing fails."""

    async def run(argv: tuple[str, ...]) -> HelperResult:
        res = await docker.run_helper(argv, labels=labels, netns_of=node.container_id,
                                      image=image)
        if not res.ok:
            raise FaultError(f"{node.name}: {' '.join(argv)}: exit {res.exit_code}: "
                             f"{res.stderr.strip()[:300]}")
        return res

    rules: tuple[str, ...] = ()
    qdisc: str | None = None
    info = await docker.inspect(node.container_id)
    if info is not None and info.running:
        listing, shown, pids, container = await asyncio.gather(
            run(list_rules_argv()), run(qdisc_show_argv()),
            pids_in_helper(docker, slot, node.container_id, image), docker.inspect(shaper))
        rules = chain_residue(listing.stdout, slot)
        root = parse_root_qdisc(shown.stdout)
        qdisc = root.handle if root is not None and root.handle == slot.handle else None
    else:  # no netns; a node helper joined to it is replaced or gone with it
        pids, container = (), await docker.inspect(shaper)
    return Residue(node.name, rules, qdisc, shaper if container is not None else None,
                   pids or ())
