"""What the engine still holds with a chaos-eval label: every container, network and volume
labelled `label=value`, by kind and name. The low-level listing, so a container removed
mid-listing cannot make it raise (containers.list() inspects each one in a second call)."""

from __future__ import annotations

import docker as docker_sdk


def leftovers(label: str, value: str) -> list[str]:
    client = docker_sdk.from_env()
    flt = {"label": f"{label}={value}"}
    try:
        api = client.api
        return ([f"container {c['Names'][0].lstrip('/')}"
                 for c in api.containers(all=True, filters=flt)]
                + [f"network {n['Name']}" for n in api.networks(filters=flt)]
                + [f"volume {v['Name']}" for v in api.volumes(filters=flt).get("Volumes") or []])
    finally:
        client.close()
