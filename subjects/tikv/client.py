"""TikvKVClient: chaos_eval.workload.KVClient over TiKV's raw KV API, through chaos-eval's client
gateway (subjects/tikv/gateway.py) running on the trial's compose network.

Why a gateway: raw KV is gRPC only and a client follows the addresses PD hands out (`pdN:2379`,
`tikvN:20160`), which resolve only on the cluster network. The real client (`tikv-client`
0.0.4 from PyPI: client-rust under pyo3, a cp311 wheel) therefore runs in the `client`
container (image `chaos-eval/tikv-client:local`, built like every other image), and this
class speaks to it over HTTP on its port published on 127.0.0.1.

Outcomes: the gateway returns client-rust's error text (every failure there is a bare
`Exception`), and `classify_error` (pure, unit-tested) decides from it. A failure in the
gateway's connect stage, or a gateway that refuses the HTTP connection, means the operation
was never sent: FAIL. A timeout or a reset after a write was sent: UNKNOWN.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from chaos_eval.http_client import http_client
from chaos_eval.outcomes import OpOutcome
from chaos_eval.workload import ReadResult

log = logging.getLogger(__name__)

HTTP_MARGIN_S = 1.0  # the gateway answers a timed-out op itself; this covers the hop

# (substring of client-rust's error text, short class, definite?) in match order. Definite:
# TiKV or PD refused the request before applying it (region errors are answered before the
# write is proposed), so a write did not happen. Not definite: it may have been applied.
_ERRORS: tuple[tuple[str, str, bool], ...] = (
    ("not importable", "no_client", True),  # the gateway's own: its image lacks the library
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


def _failure(answer: dict[str, Any], *, write: bool) -> tuple[OpOutcome, str]:
    """Outcome of a gateway's {"ok": false, ...} answer."""
    text = str(answer.get("error", ""))
    if answer.get("stage") == "connect":  # never sent
        return OpOutcome.FAIL, "connect_timeout" if answer.get("timeout") else \
            classify_error(text, write=False)[1]
    if answer.get("timeout"):
        return (OpOutcome.UNKNOWN if write else OpOutcome.FAIL), "timeout"
    return classify_error(text, write=write)


class TikvKVClient:
    """A KVClient through the gateway at `base_url` ("http://127.0.0.1:port"; "" while the
    gateway publishes no port). Never raises for a failed operation."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._base = base_url
        self._timeout_s = timeout_s
        self._http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = http_client(self._timeout_s + HTTP_MARGIN_S)
        return self._http

    async def _call(self, op: str, body: dict[str, Any], *, write: bool
                    ) -> tuple[dict[str, Any] | None, OpOutcome, str]:
        """(the gateway's answer, -, -) or (None, outcome, error class) when none came."""
        if not self._base:
            return None, OpOutcome.FAIL, "no_gateway"
        try:
            resp = await self._client().post(f"{self._base}/raw/{op}",
                                             json={**body, "timeout_s": self._timeout_s})
        except httpx.ConnectError:
            return None, OpOutcome.FAIL, "gateway_refused"  # never reached the gateway
        except httpx.TimeoutException:
            return None, (OpOutcome.UNKNOWN if write else OpOutcome.FAIL), "timeout"
        except httpx.HTTPError as e:
            log.debug("tikv gateway %s: %s", op, e)
            return None, (OpOutcome.UNKNOWN if write else OpOutcome.FAIL), "gateway_reset"
        try:
            answer = resp.json()
        except ValueError:
            answer = None
        if resp.status_code != 200 or not isinstance(answer, dict):
            return None, OpOutcome.FAIL, f"gateway_http_{resp.status_code}"  # refused it
        return answer, OpOutcome.OK, ""

    async def put(self, key: str, value: str) -> tuple[OpOutcome, str]:
        answer, outcome, why = await self._call("put", {"key": key, "value": value},
                                                write=True)
        if answer is None:
            return outcome, why
        return (OpOutcome.OK, "") if answer.get("ok") is True else _failure(answer, write=True)

    async def get(self, key: str, *, linearizable: bool = True) -> ReadResult:
        """Raw KV reads are served by the region leader (read index/lease): linearizable."""
        answer, outcome, why = await self._call("get", {"key": key}, write=False)
        if answer is None:
            return ReadResult(outcome, None, why)
        if answer.get("ok") is not True:
            failed, cls = _failure(answer, write=False)
            return ReadResult(failed, None, cls)
        value = answer.get("value")
        return ReadResult(OpOutcome.OK, value if isinstance(value, str) else None)

    async def aclose(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.aclose()
