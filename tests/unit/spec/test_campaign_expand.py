"""Matrix expansion: counts, order, and deterministic keys and seeds."""

from __future__ import annotations

from chaos_eval.spec.config import parse_campaign
from chaos_eval.spec.matrix import expand, spec_hash

DOC = {
    "name": "m",
    "seed": 7,
    "subjects": ["etcd", {"type": "etcd", "name": "etcd-small", "data_mb": 256}],
    "chaos_types": [
        {"type": "node_kill"},
        {"type": "latency", "params": {"delay_ms": [50, 200, 1000]}},
    ],
    "trials_per_combination": 3,
}


def test_counts_and_baselines_first() -> None:
    planned = expand(parse_campaign(DOC, "mem"))
    # 2 subjects x (1 + 3 grid points) x 3 reps + 2 baselines
    assert len(planned) == 2 * 4 * 3 + 2
    assert [p.fault for p, _ in planned[:2]] == ["baseline", "baseline"]
    assert {p.subject for p, _ in planned} == {"etcd", "etcd-small"}
    cells = {(p.subject, p.fault, p.params) for p, _ in planned}
    assert len(cells) == 2 * 4 + 2
    assert [p.ordinal for p, _ in planned] == list(range(len(planned)))


def test_keys_are_deterministic_and_unique() -> None:
    a = expand(parse_campaign(DOC, "mem"))
    b = expand(parse_campaign(DOC, "other-name-for-same-file"))
    assert [p.key for p, _ in a] == [p.key for p, _ in b]
    assert [p.seed for p, _ in a] == [p.seed for p, _ in b]
    assert len({p.key for p, _ in a}) == len(a)


def test_any_spec_change_changes_every_key() -> None:
    a = expand(parse_campaign(DOC, "mem"))
    changed = dict(DOC, trials_per_combination=3, cooldown_seconds=1)
    b = expand(parse_campaign(changed, "mem"))
    assert spec_hash(parse_campaign(DOC, "m")) != spec_hash(parse_campaign(changed, "m"))
    assert not {p.key for p, _ in a} & {p.key for p, _ in b}


def test_no_baseline_option() -> None:
    planned = expand(parse_campaign(dict(DOC, include_baseline=False), "mem"))
    assert all(p.fault != "baseline" for p, _ in planned)


def test_expansion_keys_are_trial_key_of_each_trials_coordinates() -> None:
    """expand computes what repetitions of a cell share once; every key and params JSON must
    still be exactly what trial_key and the coordinates give, trial by trial."""
    import json

    from chaos_eval.spec.matrix import trial_key

    doc = dict(DOC, chaos_types=[*DOC["chaos_types"], {"type": "pause"}, {"type": "node_kill"}])
    cfg = parse_campaign(doc, "mem")
    shash = spec_hash(cfg)
    for p, c in expand(cfg):
        assert p.key == trial_key(shash, c)
        assert p.params == json.dumps(c.params, sort_keys=True)
