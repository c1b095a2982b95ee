"""The model folder is trusted only as far as its hash: every file counts, damaged files are one
sentence naming them, a tampered registered version never runs, and registered artifacts carry
no path of the training machine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from stockcast.errors import ArtifactError
from stockcast.evaluation.champion import decide
from stockcast.registry.integrity import folder_contents, model_hash, verified_copy
from stockcast.registry.store import ModelRegistry
from stockcast.registry.verified import expected_files
from stockcast.registry.versions import MANIFEST_TAG, MODEL_HASH_TAG, VersionInfo
from stockcast.serving.metadata import evaluated_model_dir
from stockcast.serving.model import open_model_dir
from tests.conftest import run_cli
from tests.reliability_helpers import (
    MODEL,
    PipelineRun,
    assert_one_sentence_refusal,
    evaluate,
    register_command,
    registry,
    run,
    shared_pipeline_run,
    variant,
)
from tests.test_horizon_change import GATE, candidate, champion_of, naive_folder

pytestmark = pytest.mark.slow

MARKER = "tampering_ran.txt"


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, registered_store: Path) -> PipelineRun:
    return shared_pipeline_run(tmp_path_factory, registered_store)


@pytest.fixture
def model_copy(source: PipelineRun, tmp_path: Path) -> Path:
    return Path(shutil.copytree(source.model_dir, tmp_path / "model"))


@pytest.mark.parametrize(
    "relative",
    [
        "pyfunc_model.py",
        "code/stockcast/models/net.py",
        "artifacts/spec.json",
        "artifacts/weights.safetensors",
        "MLmodel",
        "requirements.txt",
    ],
)
def test_the_hash_covers_every_file_of_the_folder(model_copy: Path, relative: str) -> None:
    before = model_hash(model_copy)
    with (model_copy / relative).open("ab") as file:
        file.write(b"\n")
    assert model_hash(model_copy) != before


def test_python_caches_are_not_part_of_the_hash_nor_of_the_loaded_copy(model_copy: Path) -> None:
    before = model_hash(model_copy)
    cache = model_copy / "code" / "stockcast" / "__pycache__"
    cache.mkdir()
    (cache / "net.cpython-311.pyc").write_bytes(b"stale bytecode")
    assert model_hash(model_copy) == before
    copy, _ = verified_copy(model_copy)
    assert not list(copy.rglob("*.pyc"))


def test_a_link_in_the_folder_is_refused(model_copy: Path) -> None:
    (model_copy / "elsewhere.py").symlink_to("/etc/hostname")
    with pytest.raises(ArtifactError, match=r"elsewhere\.py, which is a link"):
        model_hash(model_copy)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _wrong_shape(path: Path) -> None:
    spec = json.loads(path.read_text())
    spec["network"]["hidden_sizes"] = [7]
    path.write_text(json.dumps(spec))


def _renamed_weight(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(path))
    state["core.renamed"] = state.pop("core.weights.0")
    save_file(state, str(path))


@pytest.mark.parametrize(
    ("relative", "damage", "phrase"),
    [
        ("artifacts/weights.safetensors", _truncate, "weights.safetensors is missing, truncated"),
        # PyTorch's heading line alone was the reason: "Error(s) in loading state_dict for ...".
        (
            "artifacts/weights.safetensors",
            _renamed_weight,
            'Missing key(s) in state_dict: "core.weights.0". Unexpected key(s) in state_dict: '
            '"core.renamed"',
        ),
        ("MLmodel", lambda p: p.write_text("flavors: [\n  a: :"), "MLmodel is not valid YAML"),
        ("artifacts/spec.json", lambda p: p.write_text("{not json"), "spec.json is missing or not"),
        ("artifacts/spec.json", _wrong_shape, "size mismatch for core.weights.0"),
        ("pyfunc_model.py", lambda p: p.unlink(), "no model code file 'pyfunc_model.py'"),
    ],
)
def test_a_damaged_folder_is_one_sentence_naming_the_file(
    model_copy: Path, relative: str, damage, phrase: str
) -> None:
    damage(model_copy / relative)
    with pytest.raises(ArtifactError) as caught:
        open_model_dir(model_copy)
    message = str(caught.value)
    assert phrase in message and str(model_copy) in message and "\n" not in message


def test_a_version_without_a_whole_folder_hash_is_not_loaded(source: PipelineRun) -> None:
    old = VersionInfo(3, (), {MODEL_HASH_TAG: "0123456789abcdef0123"}, None, "")
    with pytest.raises(ArtifactError, match="version 3 carries no hash of its whole folder"):
        expected_files(old, registry(source.root).label(old))


def test_a_champion_registered_without_a_folder_hash_is_replaced(seeded_tmp: Path) -> None:
    """A champion registered by hand (or by an older stockcast) carries no hash to verify its
    files by: predict and serve refuse it, and the register step stopped every later run with
    the same refusal after its training, whose advice (register again) ran into it too."""
    store = ModelRegistry(f"sqlite:///{seeded_tmp}/mlruns.db", MODEL, create=True)
    champion_of(store, naive_folder(seeded_tmp / "hand", 5), 5)
    for tag in (MODEL_HASH_TAG, MANIFEST_TAG):
        store.client().delete_model_version_tag(MODEL, "1", tag)
    decision = decide(GATE, store, candidate(seeded_tmp / "c", 5, 0.1))
    assert decision["promote"] and decision["passed"]
    assert decision["reasons"][0] == (
        "champion version 1's files cannot be verified (no hash of its whole folder was "
        "recorded: registered by hand or by an older stockcast), so the candidate takes its place"
    )


def test_registered_artifacts_carry_no_path_of_the_training_machine(source: PipelineRun) -> None:
    info = registry(source.root).resolve(version=1)
    folder = registry(source.root).download(info, source.root / "download")
    training_config = (folder / "training_config.yaml").read_text()
    metadata = yaml.safe_load((folder / "MLmodel").read_text())["metadata"]
    report = (folder.parent / "report" / "report.json").read_text()
    for text in (training_config, json.dumps(metadata), report):
        assert str(source.root) not in text
        assert str(Path.cwd()) not in text


def tamper(folder: Path, marker: Path) -> None:
    """What an attacker with write access to the store adds: one line that runs on load."""
    with (folder / "pyfunc_model.py").open("a") as file:
        file.write(f"\nopen({str(marker)!r}, 'w').write('ran')\n")


def test_a_tampered_registered_version_is_refused_and_its_code_never_runs(
    source: PipelineRun, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    registered = run(register_command(store, source.model_dir, source.report_dir, tmp_path / "r"))
    assert registered.returncode == 0, registered.stderr[-3000:]
    info = registry(store).resolve(version=1)
    folder = registry(store).download(info, tmp_path / "dl")
    assert folder.is_relative_to(store)  # the store's own copy, not a download
    marker = tmp_path / MARKER
    tamper(folder, marker)

    overrides = [
        f"registry.tracking_uri=sqlite:///{store}/mlruns.db",
        f"paths.log_dir={tmp_path}/logs",
    ]
    predicted = run_cli(["scripts/predict.py", *overrides], tmp_path, check=False)
    assert_one_sentence_refusal(
        predicted, f"{MODEL} version 1 does not match", "changed pyfunc_model.py"
    )
    served = run_cli(["scripts/serve.py", *overrides, "serve.port=1"], tmp_path, check=False)
    assert_one_sentence_refusal(served, "changed pyfunc_model.py")
    # A new candidate is compared with the champion: the tampered champion is refused, too,
    # nothing of it runs, and the candidate takes its place.
    candidate = variant(source, tmp_path / "candidate", 0.1)
    evaluate(source, candidate, tmp_path / "report")
    compared = run(register_command(store, candidate, tmp_path / "report", tmp_path / "r2"))
    assert compared.returncode == 0, compared.stderr[-3000:]
    said = compared.stdout + compared.stderr
    assert (
        "champion version 1's files were changed or lost since it was registered (changed "
        "pyfunc_model.py), so the candidate takes its place" in said
    )
    assert not marker.exists()
    assert registry(store).champion("champion").version == 2


def test_evaluate_and_register_check_the_same_whole_folder_hash(source: PipelineRun) -> None:
    report = json.loads((source.report_dir / "report.json").read_text())
    # Evaluate scored the train step's folder; what register got carries those same bytes (inside
    # it for a refit, as itself when the model was passed on unchanged).
    assert report["model_hash"] == folder_contents(source.model_dir).digest
    scored = evaluated_model_dir(source.candidate_dir)
    assert report["model_hash"] == folder_contents(scored).digest
    registered = folder_contents(source.candidate_dir)
    info = registry(source.root).resolve(version=1)
    assert info.tags[MODEL_HASH_TAG] == registered.digest
    assert info.tags["scored_model_hash"] == report["model_hash"]
    assert json.loads(info.tags["model_files"]) == json.loads(registered.manifest())
