"""Champions the register step cannot open with the keys: damaged, unloadable or hand-registered
ones are replaced by the candidate whatever their signature; one refused only for its key stays
champion."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockcast.config.compose import compose_config
from stockcast.errors import ArtifactError, DamagedVersion
from stockcast.evaluation.champion_score import Candidate, compare_with_champion
from stockcast.registry.keys import PUBLIC_KEY_FILE
from stockcast.registry.signing import SigningKeys
from stockcast.registry.store import ModelRegistry
from stockcast.registry.versions import MANIFEST_TAG, MODEL_HASH_TAG
from stockcast.serving.model import open_model
from tests.conftest import MODEL, isolated_overrides
from tests.signing_helpers import (
    key_overrides,
    keys_fixture,  # noqa: F401 (fixture)
    model_folder_fixture,  # noqa: F401 (fixture)
    other_keys_fixture,  # noqa: F401 (fixture)
    predict_cfg,
    refusal,
    register,
    register_step,
    signing,
    store_fixture,  # noqa: F401 (fixture)
    store_registry,
)


def test_a_damaged_champion_is_registered_again_as_a_new_version_that_replaces_it(
    registered_store: Path, store: Path, keys: Path, tmp_path: Path
) -> None:
    """Registering the original folder found the damaged version by the hash in its tags and
    registered nothing; the champion comparison of every later registration then failed."""
    first = register_step(registered_store, store, tmp_path / "first", *key_overrides(keys))
    assert first["version"] == 1 and first["decision"]["promote"]
    registry = store_registry(store, signing(keys))
    folder = registry.download(registry.resolve(version=1), tmp_path / "unused")
    (folder / "pyfunc_model.py").write_text("# lost\n")
    again = register_step(registered_store, store, tmp_path / "again", *key_overrides(keys))
    assert again["registered"] and again["version"] == 2
    assert again["decision"]["promote"]
    assert again["decision"]["reasons"][0] == (
        "champion version 1's files were changed or lost since it was registered (changed "
        "pyfunc_model.py), so the candidate takes its place"
    )
    cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    assert open_model(cfg, tmp_path / "open").version == 2
    # A damaged champion is no refusal before a pipeline's first step: register replaces it.
    from stockcast.orchestration.preflight import check_champion_opens

    pipeline_cfg = compose_config("pipeline", [*isolated_overrides(store), *key_overrides(keys)])
    folder = registry.download(registry.resolve(version=2), tmp_path / "unused2")
    (folder / "pyfunc_model.py").write_text("# lost\n")
    check_champion_opens(pipeline_cfg, tmp_path / "check")


@pytest.mark.parametrize("signed", ["unsigned", "with another pair"])
def test_a_champion_changed_since_it_was_registered_is_replaced_whatever_its_signature(
    registered_store: Path,
    store: Path,
    keys: Path,
    other_keys: Path,
    tmp_path: Path,
    signed: str,
) -> None:
    """A champion registered unsigned or with a replaced pair, whose files then changed, was
    refused for its signature: registering its original folder again (the advice) passed it
    over as changed and was refused by the champion comparison in the same words, every time."""
    first_keys = key_overrides(other_keys) if signed == "with another pair" else []
    first = register_step(registered_store, store, tmp_path / "first", *first_keys)
    assert first["version"] == 1 and first["decision"]["promote"]
    registry = store_registry(store, SigningKeys())
    folder = registry.download(registry.resolve(version=1), tmp_path / "unused")
    (folder / "pyfunc_model.py").write_text("# lost\n")
    cfg = predict_cfg(store, "model.version=1", *key_overrides(keys))
    assert "(changed pyfunc_model.py)" in refusal(cfg, tmp_path / "refused")
    again = register_step(registered_store, store, tmp_path / "again", *key_overrides(keys))
    assert again["registered"] and again["version"] == 2
    assert again["decision"]["reasons"][0] == (
        "champion version 1's files were changed or lost since it was registered (changed "
        "pyfunc_model.py), so the candidate takes its place"
    )
    champion_cfg = predict_cfg(store, f"registry.signing.public_key={keys / PUBLIC_KEY_FILE}")
    assert open_model(champion_cfg, tmp_path / "open").version == 2


def test_a_champion_refused_for_its_key_stays_champion(
    registered_store: Path, store: Path, keys: Path, other_keys: Path, tmp_path: Path
) -> None:
    """A champion signed with another pair (or unsigned, before the keys) has its files: a
    setting, or registering it again, makes it usable, so no candidate replaces it unseen."""
    first = register_step(registered_store, store, tmp_path / "first", *key_overrides(other_keys))
    assert first["version"] == 1
    registry = store_registry(store, signing(keys, private=False))
    candidate = Candidate(tmp_path, tmp_path, {}, tmp_path / "work")
    with pytest.raises(ArtifactError, match="signature was made with another key") as caught:
        compare_with_champion(registry, registry.resolve(version=1), candidate)
    assert not isinstance(caught.value, DamagedVersion)
    # So a pipeline is refused before its first step, not at register after training again
    # every day; with the pair that signed it, it opens.
    from stockcast.orchestration.preflight import check_before_first_step

    def preflight(pair: Path) -> None:
        cfg = compose_config("pipeline", [*isolated_overrides(store), *key_overrides(pair)])
        check_before_first_step(cfg, tmp_path / "run")

    with pytest.raises(ArtifactError, match="signature was made with another key"):
        preflight(keys)
    preflight(other_keys)


def test_a_champion_registered_with_truncated_weights_hands_its_place_over(
    store: Path, model_folder: Path, tmp_path: Path
) -> None:
    """Registered as it was, signed and matching its hash, it cannot be loaded: no key or
    package fixes that. The next registration's comparison used to fail on it, so every later
    registration failed too; the candidate now takes its place, saying why."""
    import shutil

    from stockcast.errors import UnloadableVersion

    broken = tmp_path / "broken"
    shutil.copytree(model_folder, broken)
    weights = broken / "artifacts" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    registry = register(store, broken, SigningKeys())
    candidate = Candidate(tmp_path, tmp_path, {}, tmp_path / "work")
    compared = compare_with_champion(registry, registry.resolve(version=1), candidate)
    assert compared.damaged_how == UnloadableVersion.how
    assert "weights.safetensors of pipeline_stock_predictor version 1 is missing" in str(
        compared.damaged
    )
    cfg = predict_cfg(store)
    with pytest.raises(ArtifactError, match=r"weights\.safetensors of pipeline_stock_predictor"):
        open_model(cfg, tmp_path / "open")


def test_a_champion_registered_by_hand_is_replaced_with_a_public_key_set(
    seeded_tmp: Path, keys: Path
) -> None:
    """Registered by hand, a champion carries neither a folder hash nor a signature. With a
    public key set (the local default once keys/ exists) the missing signature was refused
    first, as a refusal that keeps the champion: every registration's comparison failed on
    it, and registering again (its advice) made a new version that failed the same way."""
    from stockcast.errors import UnverifiableVersion
    from stockcast.evaluation.champion import decide
    from tests.test_horizon_change import GATE, candidate, champion_of, naive_folder

    by_hand = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    champion_of(by_hand, naive_folder(seeded_tmp / "hand", 5), 5)
    for tag in (MODEL_HASH_TAG, MANIFEST_TAG):
        by_hand.client().delete_model_version_tag(MODEL, "1", tag)
    registry = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, keys=signing(keys))
    decision = decide(GATE, registry, candidate(seeded_tmp / "c", 5, 0.1))
    assert decision["promote"] and decision["passed"]
    assert decision["reasons"][0].startswith(
        f"champion version 1's files {UnverifiableVersion.how} (no hash of its whole folder"
    )
