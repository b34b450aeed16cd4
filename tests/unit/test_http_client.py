"""eval/http_client.py: one verifying TLS context per process, however many clients."""

from __future__ import annotations

import ssl

import httpx
import pytest

from chaos_eval import http_client as module
from chaos_eval.http_client import http_client, tls_context


async def test_clients_share_one_verifying_context(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[ssl.SSLContext] = []
    real = httpx.create_ssl_context

    def counting(*args: object, **kw: object) -> ssl.SSLContext:
        ctx = real(*args, **kw)  # type: ignore[arg-type]
        made.append(ctx)
        return ctx

    monkeypatch.setattr(module.httpx, "create_ssl_context", counting)
    tls_context.cache_clear()
    try:
        clients = [http_client(t) for t in (0.5, 1.0, 2.0)]
        assert len(made) == 1  # not one per client
        ctx = tls_context()
        assert ctx is made[0]
        assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
        for c, t in zip(clients, (0.5, 1.0, 2.0), strict=True):
            assert c.timeout == httpx.Timeout(t)
            assert c.trust_env is False  # no proxy variables: nodes are on 127.0.0.1
            await c.aclose()
    finally:
        tls_context.cache_clear()
