"""The schema of the `model` config keys every kind shares; a kind's `settings` subclasses it with
its own keys and `kind: Literal["<name>"]`."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, field_validator

from stockcast.fields import AsWhole, Number, Section
from stockcast.forecasting.quantiles import QUANTILE_DIGITS

ANCHORS = ("last", "none")
LOSS_NAMES = ("mse", "mae", "huber")
COMBINATIONS = ("mean", "inverse_mse")


def _paired_quantiles(quantiles: list[float]) -> list[float]:
    """The median, and pairs q, 1 - q that each give a whole-percent band: bands are keyed by
    whole levels everywhere (coverage, outputs, reports), so a 92.5% pair would be reported as
    92 and two pairs rounding to one level would overwrite each other."""
    if not quantiles:
        return quantiles
    if 0.5 not in quantiles:
        raise ValueError(f"is {quantiles}; it must include 0.5 (the point forecast) or be []")
    rounded = [round(q, QUANTILE_DIGITS) for q in quantiles]
    if len(set(rounded)) != len(rounded):
        raise ValueError(f"is {quantiles}; list each quantile once")
    for q in sorted(quantiles):
        partner = round(1.0 - q, QUANTILE_DIGITS)
        if partner not in rounded:
            raise ValueError(
                f"is {quantiles}; {q:g} has no partner {partner:g}, so it gives no band: add "
                f"{partner:g} or leave {q:g} out"
            )
        level = 100.0 * abs(1.0 - 2.0 * q)
        if abs(level - round(level)) > 10.0**-QUANTILE_DIGITS:
            low, high = sorted((q, partner))
            raise ValueError(
                f"is {quantiles}; {low:g} and {high:g} give a {level:g}% band, and band levels "
                "are whole percentages: a level L takes (100 - L) / 200 and (100 + L) / 200, "
                "e.g. 0.025 and 0.975 for 95"
            )
    return quantiles


Quantiles = Annotated[
    list[Annotated[Number, Field(gt=0, lt=1)]],
    Field(description="a list of quantiles in (0, 1), e.g. [0.1, 0.5, 0.9]"),
    AfterValidator(_paired_quantiles),
]


def _distinct_levels(levels: list[int]) -> list[int]:
    """Each band once: a repeated level was calibrated twice and kept the second."""
    if len(set(levels)) != len(levels):
        raise ValueError(f"is {levels}; name each level once")
    return levels


class ModelSettings(Section):
    """Loss, anchor, member combination and bands: the same for every kind."""

    kind: str
    loss: Literal[LOSS_NAMES]  # type: ignore[valid-type]
    huber_delta: Annotated[Number, Field(gt=0, allow_inf_nan=False, description="a number above 0")]
    window_scale_power: Annotated[Number, Field(ge=0, le=1, description="in [0, 1]")]
    combination: Literal[COMBINATIONS]  # type: ignore[valid-type]
    combination_power: Annotated[Number, Field(gt=0, le=8, description="above 0 and at most 8")]
    anchor: Literal[ANCHORS]  # type: ignore[valid-type]
    interval_levels: Annotated[
        list[Annotated[int, Field(strict=True, gt=0, lt=100), AsWhole]],
        Field(description="a list of whole percentages between 0 and 100, e.g. [80, 95]"),
        AfterValidator(_distinct_levels),
    ]
    interval_scale_values: Annotated[
        int, Field(strict=True, ge=2, description="a whole number, at least 2"), AsWhole
    ]
    quantiles: Quantiles


class MethodSettings(ModelSettings):
    """A statistical method's settings (es, theta): the method forecasts the change from the last
    price, so `anchor` is `last`, and its bands are conformal only, so `quantiles` is []."""

    @classmethod
    def _kind_name(cls) -> str:
        return str(get_args(cls.model_fields["kind"].annotation)[0])

    @field_validator("anchor")
    @classmethod
    def _anchored(cls, anchor: str) -> str:
        if anchor != "last":
            raise ValueError(
                f"is {anchor!r}; the {cls._kind_name()} kind forecasts the change from the last "
                "price: use last"
            )
        return anchor

    @field_validator("quantiles")
    @classmethod
    def _no_quantiles(cls, quantiles: list[float]) -> list[float]:
        if quantiles:
            raise ValueError(
                f"is {quantiles}; the {cls._kind_name()} kind has conformal bands only: use []"
            )
        return quantiles
