"""The one door to the Docker engine API (docker-py, run in worker threads).

Every call here is translated: docker-py and requests errors become DockerError. State is
read as structured JSON (inspect), never by scraping text. Helper containers are never
privileged: they drop every capability and add back only what the caller names. What it
returns, and the pure parsing and argument building behind it, live in eval/engine/containers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions

from eval.engine.containers import (
    ContainerInfo,
    HelperResult,
    Labelled,
    VolumeInfo,
    helper_archive,
    helper_kwargs,
    parse_container,
    parse_volume,
    split_ref,
)
from eval.errors import DockerError, ImageError

log = logging.getLogger(__name__)

# The helper image every fault and probe uses; CHAOS_EVAL_IMAGE_HELPER overrides it, the same
# variable eval/images/recipes.py's image_ref("helper") honours, so faults and snapshots agree.
HELPER_IMAGE_DEFAULT = os.environ.get("CHAOS_EVAL_IMAGE_HELPER", "chaos-eval/helper:local")


class Docker:
    """Async facade over docker-py. One per process; thread-safe underneath."""

    def __init__(self, client: docker.DockerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                self._client = docker.from_env(timeout=120)
                self._client.ping()
            except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                raise DockerError(f"cannot reach the Docker engine: {e}") from e
        return self._client

    async def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        def run() -> Any:
            try:
                return fn(*args, **kwargs)
            except docker.errors.NotFound:
                raise
            except (docker.errors.DockerException, requests.exceptions.RequestException) as e:
                raise DockerError(f"{what}: {e}") from e

        return await asyncio.to_thread(run)

    # -- containers ---------------------------------------------------------------------

    async def inspect(self, container: str) -> ContainerInfo | None:
        """The container's state, or None when it does not exist."""
        try:
            attrs = await self._call(
                f"inspect {container}", self.client.api.inspect_container, container
            )
        except docker.errors.NotFound:
            return None
        return parse_container(attrs)

    async def find_containers(self, labels: Mapping[str, str]) -> tuple[ContainerInfo, ...]:
        """Every container (running or not) carrying ALL of `labels`, inspected, by name."""
        flt = {"label": [f"{k}={v}" for k, v in sorted(labels.items())]}

        def run() -> tuple[ContainerInfo, ...]:
            api = self.client.api
            found: list[ContainerInfo] = []
            for c in api.containers(all=True, filters=flt):
                try:
                    found.append(parse_container(api.inspect_container(c["Id"])))
                except docker.errors.NotFound:  # removed between list and inspect
                    continue
            return tuple(sorted(found, key=lambda i: i.name))

        result: tuple[ContainerInfo, ...] = await self._call("find containers", run)
        return result

    async def _lifecycle(self, verb: str, container: str, **kw: Any) -> bool:
        """Run a lifecycle verb; False when the container does not exist."""
        fn = getattr(self.client.api, verb)
        try:
            await self._call(f"{verb} {container}", fn, container, **kw)
        except docker.errors.NotFound:
            return False
        return True

    async def kill(self, container: str, signal: str = "SIGKILL") -> bool:
        return await self._lifecycle("kill", container, signal=signal)

    async def start(self, container: str) -> bool:
        return await self._lifecycle("start", container)

    async def pause(self, container: str) -> bool:
        return await self._lifecycle("pause", container)

    async def unpause(self, container: str) -> bool:
        return await self._lifecycle("unpause", container)

    async def remove(self, container: str) -> bool:
        return await self._lifecycle("remove_container", container, force=True, v=True)

    # -- volumes ------------------------------------------------------------------------

    async def volume_info(self, name: str) -> VolumeInfo | None:
        """The volume's driver, driver options and labels, or None when it does not exist.
        Check this before mounting a volume by name: mounting a missing one creates it."""
        try:
            attrs = await self._call(f"inspect volume {name}", self.client.api.inspect_volume, name)
        except docker.errors.NotFound:
            return None
        return parse_volume(attrs, name)

    # -- helpers ------------------------------------------------------------------------

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
        """Run argv to completion in a one-shot helper and remove it, whatever happens
        (also when it never started).

        netns_of: join that container's network namespace (tc, iptables, probes).
        volume: mount that volume at /target (disk faults).
        files: absolute path -> content, copied into the helper's own filesystem before it
            starts (an iptables-restore rules file, a probe program); never into the target.
        """
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

    async def logs(self, container: str) -> str:
        try:
            raw = await self._call("logs", self.client.api.logs, container)
        except docker.errors.NotFound:
            return ""
        return bytes(raw).decode("utf-8", "replace")

    # -- labelled resources -------------------------------------------------------------

    async def labelled(self, label: str, value: str | None = None) -> Labelled:
        """Every container, network and volume carrying `label` (optionally =value)."""
        flt = {"label": label if value is None else f"{label}={value}"}

        def run() -> Labelled:
            api = self.client.api
            cs = tuple(c["Id"] for c in api.containers(all=True, filters=flt))
            ns = tuple(n["Id"] for n in api.networks(filters=flt))
            vs = tuple(v["Name"] for v in (api.volumes(filters=flt).get("Volumes") or []))
            return Labelled(cs, ns, vs)

        result: Labelled = await self._call("list labelled", run)
        return result

    async def label_values(self, label: str) -> dict[str, Labelled]:
        """Group every labelled resource by the value of `label`."""

        def run() -> dict[str, Labelled]:
            api = self.client.api
            flt = {"label": label}
            groups: dict[str, tuple[list[str], list[str], list[str]]] = {}
            for c in api.containers(all=True, filters=flt):
                groups.setdefault(c["Labels"][label], ([], [], []))[0].append(c["Id"])
            for n in api.networks(filters=flt):
                groups.setdefault(n["Labels"][label], ([], [], []))[1].append(n["Id"])
            for v in api.volumes(filters=flt).get("Volumes") or []:
                groups.setdefault(v["Labels"][label], ([], [], []))[2].append(v["Name"])
            return {k: Labelled(tuple(a), tuple(b), tuple(c)) for k, (a, b, c) in groups.items()}

        result: dict[str, Labelled] = await self._call("group labelled", run)
        return result

    async def remove_labelled(self, res: Labelled) -> None:
        """Force-remove containers, then networks, then volumes. Missing ones are fine."""

        def run() -> None:
            api = self.client.api
            for cid in res.containers:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_container(cid, force=True, v=True)
            for nid in res.networks:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_network(nid)
            for vol in res.volumes:
                with contextlib.suppress(docker.errors.NotFound):
                    api.remove_volume(vol, force=True)

        await self._call("remove labelled", run)

    # -- images -------------------------------------------------------------------------

    async def image_labels(self, ref: str) -> dict[str, str] | None:
        """The image's labels, or None when the image is absent."""
        try:
            attrs = await self._call(f"inspect image {ref}", self.client.api.inspect_image, ref)
        except docker.errors.NotFound:
            return None
        return dict((attrs.get("Config") or {}).get("Labels") or {})

    async def images_present(self, refs: Iterable[str]) -> dict[str, bool]:
        return {ref: (await self.image_labels(ref)) is not None for ref in refs}

    async def import_image(
        self,
        tar_path: Path,
        ref: str,
        *,
        labels: Mapping[str, str],
        cmd: Sequence[str],
    ) -> str:
        """Import a root filesystem tarball as image `ref` (like `docker import`), with
        `labels` and `cmd` applied as image config; return the new image id.

        Replaces the tag if it exists (the old image is left dangling, not removed). Raises
        ImageError when the tarball is missing or the engine rejects the import.
        """
        if not tar_path.is_file():
            # docker-py would treat a missing path as a URL for the engine to fetch.
            raise ImageError(f"import {ref}: no tarball at {tar_path}")
        repository, tag = split_ref(ref)
        changes = [f"LABEL {k}={json.dumps(v)}" for k, v in sorted(labels.items())]
        changes.append(f"CMD {json.dumps(list(cmd))}")

        def run() -> str:
            out = self.client.api.import_image(
                src=str(tar_path), repository=repository, tag=tag, changes=changes
            )
            for line in str(out).splitlines():
                try:
                    msg = json.loads(line)
                except ValueError:
                    continue
                if isinstance(msg, dict) and msg.get("error"):
                    raise ImageError(f"import {ref}: {msg['error']}")
            attrs = self.client.api.inspect_image(ref)
            return str(attrs["Id"])

        try:
            result: str = await self._call(f"import {ref}", run)
        except (DockerError, docker.errors.NotFound) as e:
            raise ImageError(f"import {ref}: {e}") from e
        return result
