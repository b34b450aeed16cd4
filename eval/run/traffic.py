"""The trial's client traffic: the workload its spec names (unique-key KV or register), built
over one client per node, and for a register workload the history check, run in a worker
thread (the search is CPU-bound) under the spec's budget."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from chaos_eval.analysis.linearizability import CheckResult, check
from chaos_eval.history import dump_history
from chaos_eval.register import RegisterWorkload
from chaos_eval.run.plan import TrialPlan
from chaos_eval.spec.workloads import RegisterWorkloadSpec
from chaos_eval.store.store import Store
from chaos_eval.subject import Node, Subject
from chaos_eval.workload import KVWorkload

Traffic = KVWorkload | RegisterWorkload


def build_workload(
    plan: TrialPlan,
    subject: Subject,
    nodes: tuple[Node, ...],
    attempt: int,
    clock: Callable[[], float],
) -> Traffic:
    spec = plan.workload
    clients = {n.name: subject.client(n, spec.op_timeout_s) for n in nodes}
    prefix = f"chaos-eval/{plan.key[:8]}/{attempt}"
    if isinstance(spec, RegisterWorkloadSpec):
        return RegisterWorkload(
            clients,
            keys=[f"{prefix}/r{i}" for i in range(spec.keys)],
            clients_per_node=spec.clients_per_node,
            rate_per_s=spec.rate_per_s,
            read_fraction=spec.read_fraction,
            cas_fraction=spec.cas_fraction,
            linearizable_reads=spec.read == "linearizable",
            op_timeout_s=spec.op_timeout_s,
            clock=clock,
            seed=plan.seed,
        )
    return KVWorkload(
        clients,
        prefix=prefix,
        rate_per_s=spec.rate_per_s,
        concurrency=spec.concurrency,
        read_fraction=spec.read_fraction,
        clock=clock,
        seed=plan.seed,
    )


async def check_history(
    plan: TrialPlan, workload: Traffic, store: Store, attempt: int
) -> CheckResult | None:
    """For a register workload: store its history (JSON lines) and check it off the event
    loop; None for the KV workload (it has no history to check)."""
    spec = plan.workload
    if not isinstance(workload, RegisterWorkload) or not isinstance(spec, RegisterWorkloadSpec):
        return None
    history = workload.history()
    await store.record_history(plan.trial_id, attempt, dump_history(history))
    return await asyncio.to_thread(
        check, history, max_steps=spec.check_max_steps, deadline_s=spec.check_budget_s
    )
