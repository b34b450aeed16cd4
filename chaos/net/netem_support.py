"""Whether the kernel has sch_netem: what `backend: auto` of latency and loss asks first
(chaos/net/shaping.py), probed once per process and helper image in a helper with its own
empty network namespace, so no target is touched.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from chaos_eval.chaos.net.netem import NETEM_UNKNOWN, netem_probe_argv
from chaos_eval.engine.client import Docker
from chaos_eval.errors import FaultError

log = logging.getLogger(__name__)

_netem_support: dict[str, bool] = {}  # helper image -> kernel has sch_netem


async def netem_supported(docker: Docker, labels: Mapping[str, str], image: str) -> bool:
    """Whether the kernel has sch_netem, probed once per process in a helper with its own
    empty network namespace. Raises FaultError when the probe says neither yes nor no."""
    if image not in _netem_support:
        res = await docker.run_helper(netem_probe_argv(), labels=labels, image=image)
        if res.ok:
            _netem_support[image] = True
        elif NETEM_UNKNOWN in res.stderr:
            _netem_support[image] = False
        else:
            raise FaultError(f"netem probe inconclusive: exit {res.exit_code}: {res.stderr}")
        log.info("kernel has sch_netem: %s", _netem_support[image])
    return _netem_support[image]
