"""What every compose-based subject does the same way: its compose project (up, teardown of
everything labelled with the trial), the per-trial environment, finding its containers, and
polling health to a deadline. Subjects compose this; it knows no subject kind.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from pathlib import Path

from chaos_eval.engine.client import Docker
from chaos_eval.engine.compose import Compose, project_name
from chaos_eval.engine.compose import compose_file as find_compose_file
from chaos_eval.engine.containers import ContainerInfo, Labelled
from chaos_eval.errors import ComposeError, DockerError
from chaos_eval.images.recipes import require_images
from chaos_eval.polling import poll_until
from chaos_eval.subject import LABEL_CAMPAIGN, LABEL_ROLE, LABEL_TRIAL, Health, TrialContext

log = logging.getLogger(__name__)

LABEL_SERVICE = "com.docker.compose.service"
REMOVAL_ROUNDS = 3
LABEL_PROJECT = "com.docker.compose.project"


def trial_token(ctx: TrialContext) -> str:
    """A fresh secret per subject instance ([a-z0-9-]): cluster tokens, passwords."""
    nonce = secrets.token_hex(8)
    return "ce-" + hashlib.sha256(f"{ctx.trial_key}:{nonce}".encode()).hexdigest()[:24]


def base_env(ctx: TrialContext, data_mb: int) -> dict[str, str]:
    """The variables every chaos-eval compose file uses for labels and data volumes."""
    return {
        "CHAOS_EVAL_CAMPAIGN": ctx.campaign_label,
        "CHAOS_EVAL_TRIAL": ctx.trial_key,
        "CHAOS_EVAL_DATA_MB": str(int(data_mb)),
    }


class ComposeProject:
    """One trial's compose project of one compose file."""

    def __init__(
        self,
        ctx: TrialContext,
        docker: Docker,
        compose: Compose,
        name: str,
        env: Mapping[str, str],
        *,
        compose_file: Path | None = None,
    ) -> None:
        self.ctx = ctx
        self.project = project_name(ctx.project)
        self.docker = docker
        self._compose = compose
        self._name = name
        self._file = compose_file
        self.env = dict(env)

    @property
    def file(self) -> Path:
        if self._file is None:
            self._file = find_compose_file(self._name)
        return self._file

    async def up(self, images: Iterable[str]) -> None:
        """ImageError naming every absent image (Compose would try to pull them, and there
        may be no registry); then start the project."""
        await require_images(images, self.docker)
        await self._compose.up(self.project, self.file, self.env)

    async def effective_config(self) -> str:
        """chaos_eval.subject.ComposeBacked: `compose config` with this trial's variables."""
        return await self._compose.config(self.project, self.file, self.env)

    async def teardown(self) -> None:
        """Force-remove, through the engine API, everything of the project (Compose labels
        all it creates with the project) and everything labelled with this trial:
        containers at once, then networks and volumes (what `compose down -v -t 0` does,
        without a Compose process). If anything is left, `compose down -v` and removal
        by label once more. Idempotent. DockerError only when something labelled with the
        trial or the project is left."""
        left = await self._all()
        for _ in range(REMOVAL_ROUNDS):  # a volume may still be held for a moment
            if left.empty:
                break
            try:
                await self.docker.remove_labelled(left)
            except DockerError as e:
                log.info("%s: removal by label: %s; again", self.project, e)
            left = await self._all()
        if not left.empty:
            log.warning("%s: left after removal by label: %s; compose down", self.project, left)
            try:
                await self._compose.down(self.project, self.file, self.env, stop_timeout_s=0)
            except ComposeError as e:
                log.warning("%s: compose down failed: %s", self.project, e)
            await self.docker.remove_labelled(await self._all())
            left = await self._all()
        if not left.empty:
            raise DockerError(f"{self.project}: teardown left {left}")

    async def _all(self) -> Labelled:
        """The trial's resources (`leftovers`) and the project's, once each."""
        mine, project = await asyncio.gather(
            self.leftovers(), self.docker.labelled(LABEL_PROJECT, self.project))
        return Labelled(*(tuple(dict.fromkeys(a + b)) for a, b in (
            (mine.containers, project.containers), (mine.networks, project.networks),
            (mine.volumes, project.volumes))))

    async def leftovers(self) -> Labelled:
        """Resources labelled with both this trial and this campaign."""
        by_trial = await self.docker.labelled(LABEL_TRIAL, self.ctx.trial_key)
        by_campaign = await self.docker.labelled(LABEL_CAMPAIGN, self.ctx.campaign_label)
        return Labelled(
            tuple(c for c in by_trial.containers if c in set(by_campaign.containers)),
            tuple(n for n in by_trial.networks if n in set(by_campaign.networks)),
            tuple(v for v in by_trial.volumes if v in set(by_campaign.volumes)),
        )

    async def containers(self, roles: Collection[str]) -> tuple[ContainerInfo, ...]:
        """The project's containers whose chaos-eval.role label is one of `roles`, by service."""
        found = await self.docker.find_containers({LABEL_PROJECT: self.project})
        mine = (i for i in found if i.labels.get(LABEL_ROLE) in roles)
        return tuple(sorted(mine, key=service))

    def address(self, info: ContainerInfo, network: str) -> str:
        """The container's IP on the project's network `network` (the compose key)."""
        return info.ips.get(f"{self.project}_{network}", "")


def service(info: ContainerInfo) -> str:
    """The compose service name of a container."""
    return info.labels.get(LABEL_SERVICE, info.name)


async def poll_healthy(
    probe: Callable[[float], Awaitable[Health]], timeout_s: float, probe_timeout_s: float
) -> Health:
    """Call probe(per-probe timeout) until healthy or the deadline; the last Health. The
    first probe is at once; then every 0.1 s, growing by half up to 0.5 s (never past the
    deadline). Each probe gets probe_timeout_s, or what is left (at least 0.2 s)."""
    deadline = asyncio.get_running_loop().time() + timeout_s

    async def once() -> Health:
        remaining = deadline - asyncio.get_running_loop().time()
        return await probe(max(0.2, min(probe_timeout_s, remaining)))

    last, _ = await poll_until(
        once, lambda h: h.healthy, timeout_s, 0.1, backoff=1.5, max_interval_s=0.5
    )
    return last
