"""The one door to the Docker engine API (docker-py, run in worker threads).

Every call here is translated: docker-py and requests errors become DockerError. State is
read as structured JSON (inspect), never by scraping text. Helper containers are never
privileged: they drop every capability and add back only what the caller names
(eval/engine/helper_containers.py). What it returns, and the pure parsing and argument
building behind it, live in eval/engine/containers.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker
import docker.errors

from chaos_eval.engine.containers import (
    ContainerInfo,
    Labelled,
    VolumeInfo,
    parse_container,
    parse_volume,
    split_ref,
)
from chaos_eval.engine.helper_containers import HelperContainers
from chaos_eval.errors import DockerError, ImageError


class Docker(HelperContainers):
    """Async facade over docker-py. One per process; thread-safe underneath. The connection
    is eval/engine/connection.py; helper containers are eval/engine/helper_containers.py."""

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

    async def has_path(self, container: str, path: str) -> bool:
        """Whether `path` exists in the container's filesystem (one archive read, no exec;
        meant for small files such as a marker). False when it or the container does not."""

        def run() -> bool:
            try:
                stream, _ = self.client.api.get_archive(container, path)
            except docker.errors.NotFound:
                return False
            b"".join(stream)  # read to its end: the connection goes back to the pool
            return True

        found: bool = await self._call(f"stat {path} in {container[:12]}", run)
        return found

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
        """Force-remove containers (at once, each in its own worker thread), then networks,
        then volumes. Missing ones are fine."""
        api = self.client.api

        def remove(fn: Any, *args: Any, **kw: Any) -> None:
            with contextlib.suppress(docker.errors.NotFound):
                fn(*args, **kw)

        await asyncio.gather(*(self._call("remove container", remove, api.remove_container,
                                          cid, force=True, v=True) for cid in res.containers))

        def rest() -> None:
            for nid in res.networks:
                remove(api.remove_network, nid)
            for vol in res.volumes:
                remove(api.remove_volume, vol, force=True)

        await self._call("remove labelled", rest)

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
