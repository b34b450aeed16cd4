"""HTTP clients for talking to cluster nodes through their published ports (httpx).

One mechanism for every subject, probe and workload client: `http_client` builds an
`httpx.AsyncClient` that ignores the environment (no proxy variables: the harness talks
only to 127.0.0.1) and shares ONE verifying TLS context per process. httpx builds a fresh
context for every client otherwise, loading the CA bundle each time: ~10-40 ms of CPU that
blocked the event loop on every health poll and every workload client, about a seventh of
the harness's own CPU in a profiled campaign. The nodes speak plain HTTP today; the context
is there, verifying, for a subject that does not.
"""

from __future__ import annotations

import ssl
from functools import cache

import httpx


@cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, made once per process."""
    return httpx.create_ssl_context(trust_env=False)


def http_client(timeout_s: float) -> httpx.AsyncClient:
    """A client with `timeout_s` for every phase of a request."""
    return httpx.AsyncClient(timeout=timeout_s, trust_env=False, verify=tls_context())
