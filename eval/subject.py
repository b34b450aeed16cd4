"""The Subject protocol: a system under test started from a compose file.

A Subject instance belongs to exactly one trial (one compose project). It never
prints, never raises for a misbehaving cluster (that is a `Health` with reasons),
and raises `HarnessError` only when Docker or Compose themselves fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from eval.workload import KVClient

LABEL_CAMPAIGN = "chaos-eval.campaign"
LABEL_TRIAL = "chaos-eval.trial"
LABEL_ROLE = "chaos-eval.role"


@dataclass(frozen=True)
class Endpoint:
    """A port published on 127.0.0.1 for the harness to reach a node."""

    name: str  # "client", "status", ...
    host: str
    port: int
    # How faults observe from outside that the process behind it serves (chaos/probes.py):
    # "http": any HTTP response; "resp": any Redis (RESP) reply to PING.
    protocol: str = "http"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass(frozen=True)
class Node:
    """One member of a cluster, as the harness sees it."""

    name: str  # compose service name, e.g. "etcd1"
    role: str  # "etcd", "pd", "tikv", "primary", ...
    container_id: str
    address: str  # the node's IP on the cluster's private network
    endpoints: tuple[Endpoint, ...] = ()
    peer_ports: tuple[int, ...] = ()  # ports other members dial (used by partition/RTT probes)
    data_volume: str | None = None  # docker volume holding the node's data dir
    data_path: str | None = None  # where that volume is mounted in the node

    def endpoint(self, name: str) -> Endpoint:
        for ep in self.endpoints:
            if ep.name == name:
                return ep
        raise KeyError(f"node {self.name} has no endpoint {name!r}")


@dataclass(frozen=True)
class Health:
    """Whether the cluster is healthy right now; `reasons` say why not."""

    healthy: bool
    leader: str | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ClusterState:
    """A point-in-time capture of consensus state, stored with the trial."""

    members: tuple[str, ...]
    leader: str | None
    term: int | None
    index: int | None
    extra: Mapping[str, str] = field(default_factory=dict)  # subject-specific (region leaders...)


@dataclass(frozen=True)
class TrialContext:
    """Who a subject or fault is working for; everything it creates carries these labels."""

    campaign_id: int
    trial_key: str
    seed: int
    campaign_uid: str = ""  # random per campaign: ids repeat across databases, uids do not

    @property
    def campaign_label(self) -> str:
        """The value of the chaos-eval.campaign label on everything this trial creates."""
        return self.campaign_uid or str(self.campaign_id)

    @property
    def project(self) -> str:
        """The compose project name: unique per trial and per campaign (two campaigns of the
        same spec share trial keys), so parallel trials and campaigns never collide."""
        return f"ce{self.campaign_label[:10]}-{self.trial_key[:12]}"

    def labels(self, role: str) -> dict[str, str]:
        return {
            LABEL_CAMPAIGN: self.campaign_label,
            LABEL_TRIAL: self.trial_key,
            LABEL_ROLE: role,
        }


@runtime_checkable
class Subject(Protocol):
    """A cluster under test, bound to one trial."""

    kind: ClassVar[str]

    async def up(self) -> None:
        """Create and start every container of the cluster in its own compose project.
        Not idempotent; call once. Raises HarnessError if Compose fails. Must not wait
        for health (that is `wait_healthy`)."""

    async def wait_healthy(self, timeout_s: float) -> Health:
        """Poll `health()` until healthy or the deadline passes; return the last Health.
        Never sleeps a fixed time; never raises for an unhealthy cluster."""

    async def nodes(self) -> tuple[Node, ...]:
        """Describe every node (name, role, container, private address, published endpoints).
        Read from Docker state; safe to call at any time while the project exists."""

    async def health(self) -> Health:
        """One health probe: every member healthy, a leader present, and a write followed
        by a linearizable read succeeding. Idempotent apart from the probe key it writes."""

    async def state(self) -> ClusterState:
        """Capture members, leader and raft term/index from whichever members answer.
        Never raises for unreachable members; records what it could see."""

    def client(self, node: Node, timeout_s: float) -> KVClient:
        """A key-value client bound to one node's published endpoint."""

    async def teardown(self) -> None:
        """Remove every container, network and volume of the project. Idempotent; safe after
        a failed `up`. Must not touch anything outside its own compose project."""


@runtime_checkable
class LeaderAware(Protocol):
    """Optional power: name the node currently leading (for `target: leader`)."""

    async def leader(self, role: str | None = None) -> Node | None:
        """The node leading now (for `role`, when the subject has several), or None."""
