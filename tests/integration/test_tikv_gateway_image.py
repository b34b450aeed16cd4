"""The TiKV client gateway in its real image (chaos-eval/tikv-client:local, built here from
Debian packages plus the pinned tikv-client wheel), on a real Docker network.

No PD image exists on this machine, so PD is played by a listener named `pd1` on the same
network. That is enough to prove the addressing the gateway exists for: the harness reaches
the gateway only through its port published on 127.0.0.1, the real client-rust inside it
dials the cluster-internal name `pd1:2379` (resolved by Docker on that network, never from
the host), the listener sees that connection, and the failed connect comes back as a
definite failure (the write was never sent). Nothing remains afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Iterator

import docker as docker_sdk
import httpx
import pytest

from chaos_eval.engine.client import Docker
from chaos_eval.images.build import ensure_images
from chaos_eval.images.recipes import image_ref
from chaos_eval.outcomes import OpOutcome
from chaos_eval.subject import LABEL_TRIAL
from chaos_eval.subjects.tikv.client import TikvKVClient
from chaos_eval.subjects.tikv.gateway import PORT
from tests.integration.leftovers import leftovers

pytestmark = pytest.mark.docker


@contextlib.contextmanager
def gateway_on_a_network() -> Iterator[tuple[str, str]]:
    """(gateway base URL, trial label) with a stand-in `pd1`; everything removed after."""
    asyncio.run(ensure_images(["tikv-client", "helper"], Docker()))
    trial = f"gw-{secrets.token_hex(6)}"
    labels = {LABEL_TRIAL: trial, "chaos-eval.campaign": "test", "chaos-eval.role": "test"}
    client = docker_sdk.from_env()
    net = client.networks.create(f"ce-{trial}", driver="bridge", labels=labels)
    try:
        client.containers.run(
            image_ref("helper"), ["nc", "-lkv", "2379"], name=f"ce-{trial}-pd1",
            hostname="pd1", network=net.name, labels={**labels, "chaos-eval.role": "pd"},
            detach=True)
        net.disconnect(f"ce-{trial}-pd1")
        net.connect(f"ce-{trial}-pd1", aliases=["pd1"])
        gw = client.containers.run(
            image_ref("tikv-client"),
            ["/usr/local/bin/chaos-eval-tikv-gateway", f"--listen=0.0.0.0:{PORT}",
             "--pd=pd1:2379"],
            name=f"ce-{trial}-client", network=net.name, detach=True,
            labels={**labels, "chaos-eval.role": "client"},
            ports={f"{PORT}/tcp": ("127.0.0.1", None)})
        gw.reload()
        host_port = gw.attrs["NetworkSettings"]["Ports"][f"{PORT}/tcp"][0]["HostPort"]
        yield f"http://127.0.0.1:{host_port}", trial
    finally:
        for c in client.containers.list(all=True, filters={"label": f"{LABEL_TRIAL}={trial}"}):
            c.remove(force=True)
        net.remove()
        client.close()


async def _health(url: str) -> dict[str, object]:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient(trust_env=False, timeout=2) as http:
        while True:
            try:
                resp = await http.get(f"{url}/health")
                body = resp.json()
                assert isinstance(body, dict)
                return body
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the gateway never answered /health"
                await asyncio.sleep(0.3)


def test_gateway_runs_the_real_client_and_dials_cluster_names() -> None:
    async def run(url: str, trial: str) -> tuple[dict[str, object], tuple[OpOutcome, str], str]:
        health = await _health(url)
        kv = TikvKVClient(url, 5.0)
        try:
            put = await kv.put("chaos-eval/test/k", "v")
        finally:
            await kv.aclose()
        logs = docker_sdk.from_env().containers.get(f"ce-{trial}-pd1").logs().decode()
        return health, put, logs

    with gateway_on_a_network() as (url, trial):
        assert len(leftovers(LABEL_TRIAL, trial)) == 3  # two containers, the network
        health, put, pd_logs = asyncio.run(run(url, trial))
    assert health == {"library": "tikv_client 0.0.4", "import_error": None,
                      "pd": ["pd1:2379"], "connected": False}
    # client-rust inside the gateway reached pd1:2379 by its in-cluster name ...
    assert "Connection received" in pd_logs, pd_logs
    # ... where nothing speaks PD's gRPC, so the connect never completed within the op's
    # deadline: a definite failure (the write was never sent), not an unknown outcome
    assert put == (OpOutcome.FAIL, "connect_timeout")
    assert leftovers(LABEL_TRIAL, trial) == []
