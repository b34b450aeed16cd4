"""What the Docker engine reports, as frozen values, and the pure helpers around it.

eval/engine/client.py (the only module that talks to the engine) returns these; faults, subjects and
the harness read them. Parsing here is from the engine's inspect JSON, never from text.
Nothing in this module does I/O.
"""

from __future__ import annotations

import io
import re
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import PurePosixPath
from typing import Any

_ENGINE_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    name: str
    status: str  # created | running | paused | restarting | exited | dead
    running: bool
    paused: bool
    exit_code: int
    started_at: str
    ips: Mapping[str, str] = field(default_factory=dict)  # network name -> IPv4
    labels: Mapping[str, str] = field(default_factory=dict)
    ports: Mapping[int, int] = field(default_factory=dict)  # container tcp port -> 127.0.0.1 port
    mounts: Mapping[str, str] = field(default_factory=dict)  # destination -> volume name
    # when the engine recorded the process's exit (RFC 3339, ns): set after it died, kept
    # while it runs again; "" or the zero time "0001-01-01T00:00:00Z" when it never exited
    finished_at: str = ""


@dataclass(frozen=True)
class VolumeInfo:
    """A named volume as the engine describes it (`docker volume inspect`)."""

    name: str
    driver: str
    options: Mapping[str, str] = field(default_factory=dict)  # driver_opts: type, device, o
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HelperResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class Labelled:
    """Resources carrying a given label, by id/name."""

    containers: tuple[str, ...]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)


def helper_archive(files: Mapping[str, bytes]) -> bytes:
    """A tar archive putting each `files` entry (absolute path -> content) in place when
    extracted at `/`: regular files, root-owned, mode 0644, fixed mtime. Pure. ValueError
    for a path that is not absolute and normalised (no `..`, no `.`, no trailing `/`)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            pure = PurePosixPath(path)
            if not pure.is_absolute() or str(pure) != path or ".." in pure.parts or path == "/":
                raise ValueError(f"helper file path must be absolute and normalised: {path!r}")
            member = tarfile.TarInfo(path.lstrip("/"))
            member.size, member.mode, member.mtime = len(content), 0o644, 0
            tar.addfile(member, io.BytesIO(content))
    return buf.getvalue()


def parse_container(attrs: Mapping[str, Any]) -> ContainerInfo:
    """A container as `inspect_container` describes it. Pure."""
    state = attrs.get("State") or {}
    net = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    ports_raw = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    ports: dict[int, int] = {}
    for spec, bindings in ports_raw.items():
        if not bindings or not spec.endswith("/tcp"):
            continue
        for b in bindings:
            if b.get("HostIp") in ("127.0.0.1", "") and b.get("HostPort"):
                ports[int(spec.split("/")[0])] = int(b["HostPort"])
                break
    mounts = {
        m["Destination"]: m["Name"]
        for m in attrs.get("Mounts") or []
        if m.get("Type") == "volume" and m.get("Name")
    }
    return ContainerInfo(
        id=str(attrs["Id"]),
        name=str(attrs.get("Name", "")).lstrip("/"),
        status=str(state.get("Status", "")),
        running=bool(state.get("Running")),
        paused=bool(state.get("Paused")),
        exit_code=int(state.get("ExitCode") or 0),
        started_at=str(state.get("StartedAt", "")),
        ips={k: v.get("IPAddress", "") for k, v in net.items() if v.get("IPAddress")},
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        ports=ports,
        mounts=mounts,
        finished_at=str(state.get("FinishedAt", "")),
    )


def engine_time_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of a time as the engine writes it (RFC 3339 with up to
    nine fraction digits, `Z` or an offset): the kernel's CLOCK_REALTIME, which containers
    share. None for the engine's zero time (before 1970: never happened) or anything
    else. Pure."""
    m = _ENGINE_TIME.fullmatch(text)
    if m is None:
        return None
    try:
        at = datetime.fromisoformat(m[1] + ("+00:00" if m[3] in ("Z", "z") else m[3]))
    except ValueError:
        return None
    if at < _EPOCH:
        return None
    return (at - _EPOCH) // timedelta(seconds=1) * 10**9 + int((m[2] or "").ljust(9, "0"))


def parse_volume(attrs: Mapping[str, Any], name: str) -> VolumeInfo:
    """A volume as `inspect_volume` describes it (`name` when it names none). Pure."""
    return VolumeInfo(
        name=str(attrs.get("Name", name)),
        driver=str(attrs.get("Driver", "")),
        options={str(k): str(v) for k, v in (attrs.get("Options") or {}).items()},
        labels={str(k): str(v) for k, v in (attrs.get("Labels") or {}).items()},
    )


def helper_kwargs(
    *,
    image: str,
    argv: Iterable[str],
    netns_of: str | None,
    volume: str | None,
    caps: Iterable[str],
    labels: Mapping[str, str],
    name: str | None,
) -> dict[str, Any]:
    """docker-py `containers.create`/`run` keyword arguments of a helper: never privileged,
    every capability dropped but `caps`, no new privileges. Pure."""
    kwargs: dict[str, Any] = {
        "image": image,
        "command": list(argv),
        "labels": dict(labels),
        "cap_drop": ["ALL"],
        "cap_add": list(caps),
        "privileged": False,
        "security_opt": ["no-new-privileges"],
        "detach": True,
    }
    if name:
        kwargs["name"] = name
    if netns_of:
        kwargs["network_mode"] = f"container:{netns_of}"
    else:
        kwargs["network_mode"] = "none"
    if volume:
        kwargs["volumes"] = {volume: {"bind": "/target", "mode": "rw"}}
    return kwargs


def split_ref(ref: str) -> tuple[str, str]:
    """`repo[:tag]` -> (repo, tag); a registry port (`host:5000/x`) is not a tag."""
    repo, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return ref, "latest"
    return repo, tag
