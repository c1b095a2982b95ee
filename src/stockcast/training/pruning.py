"""What the refit fits again of an ensemble: the candidates its validation weights kept
(`pipeline.refit_min_candidate_weight`).

The held-back check and the refit each fit every candidate again, with the evaluated budget. On a
long series the validation windows often give whole candidates next to nothing (taylor: Theta,
`ets` and the ten-value MLP, 0.6% of the weight together), yet fitting them is a third or more of
each of those fits, and they move the registered forecast by less than their weight. Those
candidates are left out of the check and the refit; the kept members' weights are the evaluated
ones renormalised, which are the weights the combination gives the kept members alone (each
member's weight is a power of its own scaled validation error, normalised).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from stockcast.models.kind import model_kind
from stockcast.models.spec import upgrade_spec


@dataclass(frozen=True)
class KeptCandidates:
    """The config the check and the refit fit (`config`), the evaluated combination over its
    members (`combination`: None without weights), and the candidates left out with their summed
    weights (empty: nothing was left out)."""

    config: DictConfig
    combination: dict[str, Any] | None
    left_out: list[dict[str, Any]] = field(default_factory=list)


def kept_candidates(cfg: DictConfig, evaluated_spec: dict[str, Any]) -> KeptCandidates:
    """The ensemble candidates whose members carry at least `pipeline.refit_min_candidate_weight`
    of the evaluated weight together, and the config and weights that fit only those. Everything
    is kept for another kind, a model without weights, a threshold of 0, or a warm start (the
    registered weights it starts from are those of every candidate)."""
    spec = upgrade_spec(evaluated_spec)
    combination = spec.get("combination")
    unchanged = KeptCandidates(cfg, combination)
    least = float(cfg.pipeline.refit_min_candidate_weight)
    if (
        least <= 0
        or not (combination or {}).get("weights")
        or spec["kind"] != "ensemble"
        or cfg.model.get("kind") != "ensemble"
        or OmegaConf.select(cfg, "train.init_from") is not None
    ):
        return unchanged
    candidates = spec["network"]["candidates"]
    weights = [float(w) for w in combination["weights"]]
    if len(cfg.model.candidates) != len(candidates) or len(weights) % len(candidates):
        return unchanged
    per_candidate = len(weights) // len(candidates)
    sums = [
        sum(weights[i * per_candidate : (i + 1) * per_candidate]) for i in range(len(candidates))
    ]
    keep = [total >= least for total in sums]
    if all(keep) or not any(keep):
        return unchanged
    names = model_kind("ensemble").model_names(spec["network"], int(spec["previous_time_window"]))
    members = [keep[i // per_candidate] for i in range(len(weights))]
    kept_total = sum(w for w, kept in zip(weights, members, strict=True) if kept)
    renormalised = [w / kept_total for w, kept in zip(weights, members, strict=True) if kept]
    records = combination.get("members")
    # The candidate's number too: two candidates can read the same values (a null window and
    # the whole window's length).
    left_out = [
        {"candidate": number, "name": name, "weight": total}
        for number, (name, total, kept) in enumerate(zip(names, sums, keep, strict=True))
        if not kept
    ]
    config = copy.deepcopy(cfg)
    with open_dict(config):
        config.model.candidates = [
            candidate for candidate, kept in zip(cfg.model.candidates, keep, strict=True) if kept
        ]
    kept_combination = combination | {
        "weights": renormalised,
        "left_out": {"min_candidate_weight": least, "candidates": left_out},
    }
    if records is not None:
        kept_records = [r for r, kept in zip(records, members, strict=True) if kept]
        kept_combination["members"] = [
            record | {"weight": weight}
            for record, weight in zip(kept_records, renormalised, strict=True)
        ]
    return KeptCandidates(config, kept_combination, left_out)
