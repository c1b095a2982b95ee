"""Config sections whose entries the user names (a datastore folder, a step's own environment or
cluster), with the keys each entry takes (None: the entry is one value). A new entry is a key
the composed config lacks, which Hydra adds only with a '+'."""

from __future__ import annotations

ENVIRONMENT_KEYS = ("conda_file", "build_context")
# Keyed by their place in the azureml group.
AZUREML_NAMED_ENTRIES: dict[str, tuple[str, ...] | None] = {
    "datastore_folders": ("key", "path"),
    "environments.steps": ENVIRONMENT_KEYS,
    "compute.steps": None,
}


def named_section(key: str) -> str | None:
    """The user-named section `key` adds an entry to (`azureml.environments.steps.train` ->
    `azureml.environments.steps`), or None."""
    for section in AZUREML_NAMED_ENTRIES:
        full = f"azureml.{section}"
        if key.startswith(f"{full}.") and "." not in key.removeprefix(f"{full}."):
            return full
    return None
