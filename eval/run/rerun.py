"""Re-running one recorded trial (the command line that does it is eval/commands.py).

`chaos-eval rerun CAMPAIGN TRIAL` re-creates one trial of a recorded campaign from what the db
holds, not from its YAML file (which may have changed or gone): the campaign's spec JSON gives
the same subject, fault, parameters, target and timing; the spec hash and the trial's
coordinates give the same trial key; the campaign seed and that key give the same seed (so the
same nodes are picked). It runs as a NEW campaign of that one trial in the same db, whose
`rerun_of` names the original; the original's records are never touched, and `run campaign
FILE` never continues a rerun. What differs is the harness: a rerun runs today's code, so
`provenance_note` says when its version or git SHA is not the original's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos_eval import __version__
from chaos_eval.errors import StoreError, TrialNotFound
from chaos_eval.run.provenance import git_sha
from chaos_eval.spec.config import CampaignConfig, SubjectSpec
from chaos_eval.spec.matrix import PlannedTrial, expand, recorded_config, spec_hash
from chaos_eval.store.records import CampaignRow, TrialRow, trial_label

if TYPE_CHECKING:
    from chaos_eval.store.store import Store

MIN_PREFIX = 4  # shortest key prefix accepted for a trial (JUnit names show 8)


def find_trial(trials: Sequence[TrialRow], ref: str, where: str) -> TrialRow:
    """The trial whose key is `ref`, or the only one whose key starts with it (at least
    MIN_PREFIX characters). TrialNotFound says which of the two went wrong."""
    ref = ref.strip().lower()
    for t in trials:
        if t.key == ref:
            return t
    hits = [t for t in trials if len(ref) >= MIN_PREFIX and t.key.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        shown = ", ".join(t.key for t in hits[:4]) + (", ..." if len(hits) > 4 else "")
        raise TrialNotFound(
            f"{where}: key prefix {ref!r} matches {len(hits)} trials ({shown}); give more of it"
        )
    short = (
        f" (a trial key has 20 hex characters; give it, or at least its first {MIN_PREFIX})"
        if len(ref) < MIN_PREFIX
        else ""
    )
    raise TrialNotFound(f"{where} has no trial with key {ref!r}{short}")


@dataclass(frozen=True)
class RerunPlan:
    """One recorded trial, planned again from its campaign's recorded spec."""

    original: CampaignRow
    trial: TrialRow  # as recorded in the original campaign
    cfg: CampaignConfig  # the original's recorded config
    planned: PlannedTrial  # the same key, coordinates, ordinal and seed

    @property
    def subjects(self) -> list[SubjectSpec]:
        """The subject the trial runs on: the only one whose images it needs."""
        return [s for s in self.cfg.subjects if s.label == self.trial.subject]

    def describe(self) -> str:
        t = self.trial
        return (
            f"re-running trial {t.id} of campaign {self.original.id}: {trial_label(t)}, "
            f"key {t.key}, seed {t.seed}"
        )


async def plan_rerun(store: Store, campaign_id: int, trial_ref: str) -> RerunPlan:
    """Find the trial and plan it again. Reads only. Raises CampaignNotFound, TrialNotFound,
    ConfigError (the recorded spec no longer validates) or StoreError (it validates, but no
    longer yields that trial: this harness would not re-run the same thing)."""
    original = await store.campaign(campaign_id)
    where = f"campaign {campaign_id} ({original.name}) in {store.path}"
    trial = find_trial(await store.trials(campaign_id), trial_ref, where)
    cfg = recorded_config(original.spec_json, f"{store.path} (campaign {campaign_id})")
    then = f"chaos-eval {original.harness_version} at git {original.git_sha[:12]}"
    if spec_hash(cfg) != original.spec_hash:
        raise StoreError(
            f"{where}: its recorded spec reads differently under chaos-eval {__version__} than "
            f"under {then}, which ran it, so trial {trial.key} cannot be re-created exactly; "
            "re-run it with that version"
        )
    planned = next((p for p, _ in expand(cfg) if p.key == trial.key), None)
    if planned is None or planned.seed != trial.seed:
        raise StoreError(
            f"{where}: trial {trial.key} is not in the matrix of its recorded spec with the "
            f"same seed under chaos-eval {__version__}; re-run it with {then}"
        )
    return RerunPlan(original, trial, cfg, planned)


async def create_rerun(store: Store, plan: RerunPlan, argv: Sequence[str]) -> CampaignRow:
    """The new one-trial campaign (pending), with the original's name, spec and seed and this
    run's provenance."""
    o = plan.original
    cid = await store.create_campaign(
        name=o.name,
        spec_hash=o.spec_hash,
        spec_json=o.spec_json,
        config_path=o.config_path,
        seed=o.seed,
        harness_version=__version__,
        git_sha=git_sha(),
        argv=argv,
        trials=[plan.planned],
        rerun_of=o.id,
    )
    return await store.campaign(cid)


def provenance_note(original: CampaignRow, rerun: CampaignRow) -> str:
    """'' when the rerun runs the harness the original ran; else what differs."""
    then = (original.harness_version, original.git_sha)
    now = (rerun.harness_version, rerun.git_sha)
    if then == now:
        return ""
    return (
        f"campaign {original.id} ran chaos-eval {then[0]} at git {then[1][:12]}; this re-run "
        f"runs {now[0]} at git {now[1][:12]}: a different outcome may come from the harness"
    )
