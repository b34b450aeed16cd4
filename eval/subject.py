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
    from chaos_eval.workload import KVClient

LABEL_CAMPAIGN = "chaos-eval.campaign"
LABEL_TRIAL = "chaos-eval.trial"
LABEL_ROLE = "chaos-eval.role"


@dataclass(frozen=True)
class SubjectShape:
    """What a subject kind is, declared statically so `eval validate` can check a campaign
    against it without starting anything: the node names and roles its clusters have, its
    data volume size (minimum and default, in MB) and which image options it honours. The
    subject class uses the same declaration at run time (one source for both)."""

    node_names: frozenset[str]
    roles: frozenset[str]
    min_data_mb: int
    default_data_mb: int
    takes_image: bool  # `image:` replaces its one image
    takes_version: bool  # `version:` picks its images' tag


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
    # The trial's subject, for a fault that uses one of its optional powers (an isinstance
    # check, e.g. DiskFullAware); None where there is none (a subject's own context, tests).
    # A fault must never bring it up or tear it down.
    subject: Subject | None = field(default=None, compare=False, repr=False)

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


@runtime_checkable
class DiskFullAware(Protocol):
    """Optional power: what is particular to this subject about a full data disk, for the
    `disk_pressure` fault. The fault fills and empties the disk and proves both itself; these
    methods only observe the subject and undo state the subject raised because of the fill.
    Called only with nodes of this subject's cluster."""

    async def disk_fill_baseline(self, targets: tuple[Node, ...]) -> object:
        """Record, before anything is filled, what tells the fill's doing from what was there
        already (etcd: the targets' member ids and the alarms armed). Returns an opaque value
        that is handed back to `after_disk_fill` and `disk_fill_leftovers`. Read-only and
        idempotent; never raises for members that do not answer (it records less)."""

    async def disk_fill_effects(self, node: Node, endpoint: Endpoint) -> dict[str, str]:
        """What `node`'s process says about itself now through `endpoint` (its endpoint as
        published now), for the record: "endpoint" ("answered" or "no answer") and any
        subject-specific fields (etcd: "errors"). Read-only; never raises."""

    async def after_disk_fill(self, baseline: object) -> None:
        """Undo what the subject itself raised because its disk was full (etcd: DEACTIVATE
        the targets' NOSPACE alarms not armed at `baseline`). Idempotent, and a no-op when
        nothing was raised or no member answers. Raises CleanupError when such state cannot
        be undone. Must not touch anything that was already there at `baseline`."""

    async def disk_fill_leftovers(self, baseline: object) -> tuple[str, ...]:
        """What the subject raised because of the fill that is still in force, one sentence
        each (the proof of removal fails while any is listed); empty when none, or when no
        member answers. Read-only."""


@runtime_checkable
class ComposeBacked(Protocol):
    """Optional power: the compose project's effective configuration, for failure bundles."""

    async def effective_config(self) -> str:
        """`docker compose config` of this trial's project (its file with the trial's
        variables filled in, secrets included: they die with the cluster), as YAML text.
        Read-only; raises HarnessError when Compose fails."""
