"""TikvKVClient: eval.workload.KVClient over TiKV's raw KV API, with the `tikv-client`
package (PyPI; Rust client-rust under pyo3; `pip install 'chaos-eval[tikv]'`).

Evaluated for this project: tikv-client 0.0.4 ships a cp311 manylinux wheel, imports and
speaks the asynchronous API used here (`tikv_client.asynchronous.RawClient.connect(pd
endpoints)`, `put(key: bytes, value: bytes)`, `get(key) -> bytes | None`). Every failure is
a bare `Exception` whose text comes from client-rust, so outcomes are decided from that text
(classify_error, pure and unit-tested). It is optional: without it every operation FAILs
with `no_client` and the subject's health says how to install it.

Addressing caveat: the client is given PD's port published on 127.0.0.1, but then follows
the addresses PD hands out (the PD leader's client URL, each store's advertised address),
which are the in-cluster names pd1..3 / tikv1..3. They must resolve and be reachable from
where the harness runs, or operations FAIL with a connect error (see README, TiKV).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

from eval.outcomes import OpOutcome
from eval.workload import ReadResult

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
INSTALL_HINT = "pip install 'chaos-eval[tikv]' (the tikv-client package)"

# (substring of client-rust's error text, short class, definite?) in match order. Definite:
# TiKV or PD refused the request before applying it (region errors are answered before the
# write is proposed), so a write did not happen. Not definite: it may have been applied.
_ERRORS: tuple[tuple[str, str, bool], ...] = (
    ("deadline", "timeout", False),
    ("timed out", "timeout", False),
    ("timeout", "timeout", False),
    ("not leader", "not_leader", True),
    ("notleader", "not_leader", True),
    ("epoch not match", "epoch_not_match", True),
    ("epochnotmatch", "epoch_not_match", True),
    ("region not found", "region_not_found", True),
    ("regionnotfound", "region_not_found", True),
    ("key not in region", "key_not_in_region", True),
    ("server is busy", "server_busy", True),
    ("serverisbusy", "server_busy", True),
    ("store not match", "store_not_match", True),
    ("disk full", "disk_full", True),
    ("diskfull", "disk_full", True),
    ("pd cluster failed to respond", "pd_unavailable", True),
    ("leader is unavailable", "no_leader", True),
    ("reset", "reset", False),  # "connection reset by peer": before "connect"
    ("broken pipe", "reset", False),
    ("connect", "connect", True),  # "failed to connect", "connection refused" (never sent)
    ("unavailable", "unavailable", False),
)


def classify_error(text: str, *, write: bool) -> tuple[OpOutcome, str]:
    """Outcome and short class of a client-rust error. A failed read is always FAIL; a write
    is FAIL only when the text proves it was not applied, else UNKNOWN."""
    lowered = text.lower()
    match = next((m for m in _ERRORS if m[0] in lowered), None)
    cls, definite = (match[1], match[2]) if match else ("error", False)
    if not write or definite:
        return OpOutcome.FAIL, cls
    return OpOutcome.UNKNOWN, cls


def _load_library() -> Any | None:
    try:
        return importlib.import_module("tikv_client.asynchronous")
    except ImportError:
        return None


class TikvKVClient:
    """A KVClient talking to the cluster through PD at `pd_endpoints` ("127.0.0.1:port").
    Connects on first use (and again after a failed connect). Never raises for a failed op."""

    def __init__(self, pd_endpoints: list[str], timeout_s: float) -> None:
        self._endpoints = pd_endpoints
        self._timeout_s = timeout_s
        self._raw: Any | None = None
        self._lock = asyncio.Lock()

    async def _client(self) -> tuple[Any | None, str]:
        async with self._lock:
            if self._raw is not None:
                return self._raw, ""
            lib = _load_library()
            if lib is None:
                return None, "no_client"
            if not self._endpoints:
                return None, "refused"  # no PD publishes a port right now
            try:
                self._raw = await asyncio.wait_for(  # an operation's own deadline bounds it
                    lib.RawClient.connect(list(self._endpoints)),
                    min(CONNECT_TIMEOUT_S, self._timeout_s))
            except TimeoutError:
                return None, "connect_timeout"
            except Exception as e:  # client-rust raises bare Exception
                log.debug("tikv connect %s: %s", self._endpoints, e)
                return None, classify_error(str(e), write=False)[1]
            return self._raw, ""

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        raw, why = await self._client()
        if raw is None:
            return OpOutcome.FAIL, why
        try:
            await asyncio.wait_for(raw.put(key.encode(), value.encode()), self._timeout_s)
        except TimeoutError:
            return OpOutcome.UNKNOWN, "timeout"
        except Exception as e:
            return classify_error(str(e), write=True)
        return OpOutcome.OK, ""

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        """Raw KV reads are served by the region leader (read index/lease): linearizable."""
        raw, why = await self._client()
        if raw is None:
            return ReadResult(OpOutcome.FAIL, None, why)
        try:
            value = await asyncio.wait_for(raw.get(key.encode()), self._timeout_s)
        except TimeoutError:
            return ReadResult(OpOutcome.FAIL, None, "timeout")
        except Exception as e:
            outcome, cls = classify_error(str(e), write=False)
            return ReadResult(outcome, None, cls)
        if value is None:
            return ReadResult(OpOutcome.OK, None)
        return ReadResult(OpOutcome.OK, bytes(value).decode("utf-8", "replace"))

    async def aclose(self) -> None:
        self._raw = None  # client-rust closes its channels when the object is dropped
