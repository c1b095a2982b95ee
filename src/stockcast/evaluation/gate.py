"""The evaluation gate's thresholds: absolute MASE, MASE relative to the naive forecast on the
same windows, and interval coverage. The register step adds the champion comparison; the refit
step asks the same verdict whether there is anything to fit again (`why_not_refit`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from stockcast.evaluation.versus_naive import ratio_vs_naive

# How far apart a coverage and its band's nominal may read from float rounding alone.
COVERAGE_ROUNDING = 1e-9


def coverage_check(
    model_intervals: dict[str, Any], max_gap: float | None
) -> list[tuple[bool, str]]:
    """Gate checks that each level's pooled coverage is within `max_gap` of its nominal (its
    ends included: 0.1 lets an 80% band cover 0.70 to 0.90, which float arithmetic read as
    0.10000000000000009 from 0.8). A model without bands has no coverage to judge: with a gap
    set it is refused, where it had passed unjudged."""
    if max_gap is None:
        return []
    if not model_intervals:
        return [
            (
                False,
                f"the gate's max_coverage_gap {float(max_gap):g} judges the model's bands, and "
                "it gives none (no model.interval_levels, or no pair of model.quantiles); give "
                "some, or set gate.max_coverage_gap=null",
            )
        ]
    checks = []
    for level, scores in model_intervals.items():
        coverage, nominal = scores["pooled"]["coverage"], scores["nominal"]
        ok = bool(abs(coverage - nominal) <= float(max_gap) + COVERAGE_ROUNDING)
        checks.append(
            (
                ok,
                f"{level}% interval coverage {coverage:.3f} is "
                f"{'within' if ok else 'further than'} the gate's max_coverage_gap "
                f"{float(max_gap):g} of {nominal:g}",
            )
        )
    return checks


def gate_threshold(
    test_mase: float,
    naive_mase: float,
    max_mase: float | None,
    max_vs_naive: float | None,
    extra_checks: list[tuple[bool, str]] | None = None,
) -> dict[str, Any]:
    """The threshold half of the gate: absolute MASE and/or MASE relative to the naive forecast
    on the same windows (robust to a test period whose price level differs from train's), plus
    any extra checks (interval coverage)."""
    checks = []
    if max_mase is not None:
        ok = bool(np.isfinite(test_mase) and test_mase < max_mase)
        verb = "is below" if ok else "is not below"
        reason = f"test MASE {test_mase:.4f} {verb} the gate's max_mase {max_mase:g}"
        if not ok and np.isfinite(naive_mase) and naive_mase >= max_mase:
            # Not a broken model, or not only: the limit is below what repeating the last price
            # scores here (a listing flat for most of its train split, a long horizon).
            instead = (
                ", or set it to null and rely on gate.max_mase_vs_naive"
                if max_vs_naive is not None
                else ""
            )
            reason += (
                f" (the naive forecast scores {naive_mase:.4f} on the same windows: MASE grows "
                "with the horizon and with a test period livelier than the train split whose "
                f"one-step changes scale it; raise gate.max_mase{instead})"
            )
        checks.append((ok, reason))
    if max_vs_naive is not None:
        ratio = ratio_vs_naive(test_mase, naive_mase)
        ok = bool(np.isfinite(ratio) and ratio <= max_vs_naive)
        verb = "is within" if ok else "is above"
        checks.append(
            (
                ok,
                f"test MASE is {ratio:.3f}x the naive forecast's ({naive_mase:.4f}), which "
                f"{verb} the gate's max_mase_vs_naive {max_vs_naive:g}",
            )
        )
    checks += extra_checks or []
    failed = [reason for ok, reason in checks if not ok]
    return {
        "passed": not failed,
        "reason": "; ".join(failed or [reason for _, reason in checks] or ["no threshold set"]),
        "test_mase": test_mase,
        "naive_mase": naive_mase,
        "max_mase": max_mase,
        "max_mase_vs_naive": max_vs_naive,
    }


def optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def report_gate(report: Mapping[str, Any], gate: Any) -> dict[str, Any]:
    """The thresholds of `gate` (a config's `gate` section) judged on a report's scores: what
    evaluate records in its report and what the register step judges again with the settings
    it runs with. Read from the report alone, a register step given a stricter gate.max_mase
    than evaluate had registered the model under the looser limit, naming that one."""
    metrics = report["metrics"]
    return gate_threshold(
        _score(metrics["model"]["pooled"]["mase"]),
        _score(metrics["naive"]["pooled"]["mase"]),
        optional_float(gate.max_mase),
        optional_float(gate.max_mase_vs_naive),
        coverage_check((report.get("intervals") or {}).get("model", {}), gate.max_coverage_gap),
    )


def _score(value: float | None) -> float:
    """A score as evaluate computed it: report.json holds an undefined one (NaN) as null."""
    return float("nan") if value is None else float(value)


def why_not_refit(cfg: Any, report: Mapping[str, Any], metrics: Mapping[str, Any]) -> str | None:
    """The reason the refit step passes the evaluated model on as it is, or None to refit it:
    the gate judged here as the register step will judge it."""
    if not cfg.pipeline.refit:
        return "pipeline.refit is false"
    if not report_gate(report, cfg.gate)["passed"]:  # as the register step judges it
        return "the gate refused the evaluated model, so nothing will be registered"
    if metrics.get("fell_back_to_naive"):
        return "the evaluated model repeats the last price, so there is nothing to refit"
    return None
