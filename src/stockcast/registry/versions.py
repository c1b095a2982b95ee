"""A registered version as the store describes it, and the tags stockcast records on it: what
the registry's modules share without importing the store."""

from __future__ import annotations

from dataclasses import dataclass

MODEL_HASH_TAG = "model_hash"
# The folder's file manifest beside its hash, so a refusal names the files that differ.
MANIFEST_TAG = "model_files"
# "pending" from the version's creation until its alias has moved; then "settled", or
# "declined" where a rerun of an interrupted promotion judged it again and kept the champion.
PROMOTION_TAG = "stockcast.promotion"
PENDING, SETTLED, DECLINED = "pending", "settled", "declined"
# How many values a version forecasts (the register step's `version_tags`).
HORIZON_TAG = "next_time_window"
# The tag a rolled-back version carries: why the monitor took the alias away from it.
ROLLBACK_TAG = "stockcast.rolled_back"
# The tag a champion the monitor flagged carries (the first day and reason), rolled back or not:
# no later rollback restores it.
FLAGGED_TAG = "stockcast.flagged"
# Where a store keeps no aliases (its server has no endpoint to set one: `alias_tags.py`), the
# version holding an alias carries this tag with the alias after it, "true"; the
# store reads it back as that alias.
ALIAS_TAG_PREFIX = "stockcast.alias."
# MLflow's longest alias, and its longest tag key (which holds the prefix and the alias).
MLFLOW_ALIAS_MAX_LENGTH = 255
MLFLOW_TAG_KEY_MAX_LENGTH = 250


@dataclass(frozen=True)
class VersionInfo:
    version: int
    aliases: tuple[str, ...]
    tags: dict[str, str]
    run_id: str | None
    source: str

    @property
    def promotion_pending(self) -> bool:
        return self.tags.get(PROMOTION_TAG) == PENDING

    @property
    def model_hash(self) -> str | None:
        """The hash of the folder registered as this version (None: registered by hand)."""
        return self.tags.get(MODEL_HASH_TAG)
