"""Helper containers: small, never-privileged containers the harness runs next to a target
(tc, iptables, probes, disk fills, snapshots). They drop every capability and add back only
what the caller names; one joins a target's network namespace or mounts its data volume.
A command for a node that has a node helper is exec'd into it (eval/engine/helper_exec.py);
otherwise one-shot helpers run to completion and are removed whatever happens; daemon
helpers (the packet shaper) run until removed by label. Part of the `Docker` facade
(eval/engine/client.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable, Mapping

import docker
import docker.errors
import requests.exceptions

from chaos_eval.engine.containers import HelperResult, helper_archive, helper_kwargs
from chaos_eval.engine.helper_exec import NodeHelpers
from chaos_eval.errors import DockerError

log = logging.getLogger(__name__)

# The helper image every fault and probe uses; CHAOS_EVAL_IMAGE_HELPER overrides it, the same
# variable eval/images/recipes.py's image_ref("helper") honours, so faults and snapshots agree.
HELPER_IMAGE_DEFAULT = os.environ.get("CHAOS_EVAL_IMAGE_HELPER", "chaos-eval/helper:local")


class HelperContainers(NodeHelpers):
    """Running helper containers (module docstring)."""

    async def run_helper(
        self,
        argv: Iterable[str],
        *,
        labels: Mapping[str, str],
        netns_of: str | None = None,
        volume: str | None = None,
        caps: Iterable[str] = ("NET_ADMIN",),
        image: str = HELPER_IMAGE_DEFAULT,
        timeout_s: float = 30.0,
        files: Mapping[str, bytes] | None = None,
    ) -> HelperResult:
        """Run argv to completion: exec'd into the node helper of `netns_of` when it has
        one that fits the call (eval/engine/helper_exec.py), else in a one-shot helper
        removed whatever happens (also when it never started).

        netns_of: join that container's network namespace (tc, iptables, probes).
        volume: mount that volume at /target (disk faults).
        files: absolute path -> content, copied into the helper's own filesystem before it
            starts (an iptables-restore rules file, a probe program); never into the target.
        """
        argv, caps = tuple(argv), tuple(caps)
        if netns_of is not None:
            done = await self.node_exec(argv, netns_of=netns_of, volume=volume, caps=caps,
                                        image=image, timeout_s=timeout_s, files=files)
            if done is not None:
                return done
        archive = helper_archive(files) if files else None
        kwargs = helper_kwargs(
            image=image,
            argv=argv,
            netns_of=netns_of,
            volume=volume,
            caps=caps,
            labels=labels,
            name=None,
        )

        def run() -> HelperResult:
            c = self.client.containers.create(**kwargs)
            try:
                if archive is not None and not c.put_archive("/", archive):
                    raise DockerError(f"helper {list(argv)[:3]}: could not copy its files in")
                c.start()
                res = c.wait(timeout=timeout_s)
                out = c.logs(stdout=True, stderr=False).decode("utf-8", "replace")
                err = c.logs(stdout=False, stderr=True).decode("utf-8", "replace")
                return HelperResult(int(res.get("StatusCode", 1)), out, err)
            finally:
                try:
                    c.remove(force=True)
                except docker.errors.DockerException as e:  # pragma: no cover - best effort
                    log.warning("could not remove helper %s: %s", c.id, e)

        try:
            return await asyncio.to_thread(run)
        except docker.errors.NotFound as e:
            raise DockerError(f"helper for {netns_of or volume}: {e}") from e
        except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
            raise DockerError(f"helper {list(argv)[:3]}: {e}") from e

    async def start_daemon_helper(
        self,
        argv: Iterable[str],
        *,
        name: str,
        labels: Mapping[str, str],
        netns_of: str,
        caps: Iterable[str] = ("NET_ADMIN",),
        image: str = HELPER_IMAGE_DEFAULT,
    ) -> str:
        """Start a long-running helper (e.g. the packet shaper) and return its id."""
        kwargs = helper_kwargs(
            image=image,
            argv=argv,
            netns_of=netns_of,
            volume=None,
            caps=caps,
            labels=labels,
            name=name,
        )
        c = await self._call(f"start helper {name}", self.client.containers.run, **kwargs)
        return str(c.id)
