"""Secrets in the config (a signing key given as PEM text, a tracking URI with a password) stay
out of what a run writes beside its model, logs to MLflow, saves in its checkpoints and prints."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from mlflow import MlflowClient

from stockcast.config.compose import flatten, plain
from stockcast.config.overrides import hydra_quoted
from stockcast.config.task import NO_RUN_LINKS, hide_store_links_with_credentials
from stockcast.errors import ConfigError
from stockcast.redaction import MASK, PRIVATE_KEY_SHOWN, redacted, redacted_text, redacted_uri
from stockcast.registry.connection import RegistryError, cannot_open, open_client
from stockcast.registry.signing import public_half
from stockcast.serving.metadata import TRAINING_CONFIG_FILE
from stockcast.training.resume_settings import settings_differences
from stockcast.training.summary import RESOLVED_CONFIG_FILE, logged_params
from stockcast_store import not_beside_a_store
from tests.conftest import FAST_OVERRIDES, run_train

PASSWORD = "s3cret-Pa55"
DATABASE = f"postgresql://mlflow:{PASSWORD}@db.example:5432/mlflow"
DATABASE_SHOWN = f"postgresql://mlflow:{MASK}@db.example:5432/mlflow"
KEY_VARIABLE = "STOCKCAST_TEST_PRIVATE_KEY"


@pytest.fixture(scope="module")
def private_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def key_body(pem: str) -> str:
    """A line of the key's base64 body: what any copy of its text holds."""
    return pem.splitlines()[1]


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (DATABASE, DATABASE_SHOWN),
        ("mysql+pymysql://me:p@ss@[::1]:3306/db", f"mysql+pymysql://me:{MASK}@[::1]:3306/db"),
        (
            "https://me:pw@host/api?token=abc&page=2",
            f"https://me:{MASK}@host/api?token={MASK}&page=2",
        ),
        ("https://host/mlflow?sig=abc&sv=2024", f"https://host/mlflow?sig={MASK}&sv=2024"),
        # Passwords a database driver reads whole, unescaped.
        ("postgresql://me:pa#ss@db/x", f"postgresql://me:{MASK}@db/x"),
        ("postgresql://me:pa/ss?@db/x?password=y", f"postgresql://me:{MASK}@db/x?password={MASK}"),
        # Nothing secret: unchanged to the character.
        ("https://host/x?a=1;b=2&token=t", f"https://host/x?a=1;b=2&token={MASK}"),
        ("sqlite:////tmp/a:b@c/x?key=1/mlruns.db", None),
        ("postgresql://me@db/mlflow", "postgresql://me@db/mlflow"),
        ("sqlite:////tmp/a store/mlruns.db", "sqlite:////tmp/a store/mlruns.db"),
        ("azureml://eastus.api.azureml.ms/mlflow/v1.0/x?a=1", None),
        ("http://[not-a-host", None),
        ("databricks", None),
    ],
)
def test_a_uri_shows_its_credentials_masked(uri: str, shown: str | None) -> None:
    assert redacted_uri(uri) == (uri if shown is None else shown)


def test_a_private_key_given_as_text_is_never_shown_and_anything_else_is(
    private_pem: str,
) -> None:
    public = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n"
    tree = {
        "registry": {
            "tracking_uri": DATABASE,
            "signing": {"private_key": private_pem, "public_key": public},
        },
        "keys": ["/keys/model-signing.key", 3, None],
    }
    assert redacted(tree) == {
        "registry": {
            "tracking_uri": DATABASE_SHOWN,
            "signing": {"private_key": PRIVATE_KEY_SHOWN, "public_key": public},
        },
        "keys": ["/keys/model-signing.key", 3, None],
    }
    # Inside other text, quoted for Hydra or not.
    quoted = f"registry.tracking_uri={hydra_quoted(DATABASE)}"
    assert redacted_text(quoted) == f"registry.tracking_uri={hydra_quoted(DATABASE_SHOWN)}"
    assert redacted_text(f"at {DATABASE} (refused)") == f"at {DATABASE_SHOWN} (refused)"


def test_logged_params_and_resume_settings_hold_no_secret(
    make_cfg, private_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What MLflow logs, and what a checkpoint keeps to check a resume against: a resume under
    the same secrets finds no difference."""
    monkeypatch.setenv(KEY_VARIABLE, private_pem)
    cfg = make_cfg(
        f"registry.tracking_uri={DATABASE}",
        f"registry.signing.private_key=${{oc.env:{KEY_VARIABLE}}}",
        # A setting a resume holds to (the registry's are free to change).
        "data=csv",
        f"data.path=https://reader:{PASSWORD}@data.example/prices.csv",
    )
    params = logged_params(cfg)
    assert params["registry.signing.private_key"] == PRIVATE_KEY_SHOWN
    assert params["registry.tracking_uri"] == DATABASE_SHOWN
    assert params["logger.mlflow.tracking_uri"] == DATABASE_SHOWN
    assert PASSWORD not in json.dumps(params) and key_body(private_pem) not in json.dumps(params)
    assert settings_differences(flatten(redacted(plain(cfg))), cfg) == []


def test_a_registry_that_cannot_be_reached_is_named_without_its_password() -> None:
    """Nor does MLflow's own error, which quotes the URI, say it."""
    said = cannot_open(DATABASE, ConnectionRefusedError(f"{DATABASE} refused the connection"))
    assert said == (
        f"cannot reach the model registry at {DATABASE_SHOWN} (ConnectionRefusedError: "
        f"{DATABASE_SHOWN} refused the connection); check registry.tracking_uri and the network."
    )
    unknown = f"foo://me:{PASSWORD}@host/x"
    with pytest.raises(RegistryError) as refused:
        open_client(unknown, unknown, create=False)
    assert PASSWORD not in str(refused.value) and "foo://me:***@host/x" in str(refused.value)
    beside = not_beside_a_store("stockcast-store:mlartifacts", DATABASE)
    assert PASSWORD not in beside and "postgresql://db.example:5432/mlflow" in beside


def test_a_private_key_that_is_neither_a_file_nor_pem_text_is_not_repeated(
    private_pem: str,
) -> None:
    """A key's text that lost its header (quoted in a .env file, say) reads as a path."""
    for damaged in (f'"{private_pem}"', "\n".join(private_pem.splitlines()[1:-1])):
        with pytest.raises(ConfigError) as refused:
            public_half(damaged)
        assert str(refused.value) == (
            "registry.signing.private_key is neither a file nor PEM text (which starts with "
            "-----BEGIN); give the path of a PEM key (`make` creates keys/model-signing.key and "
            ".pub) or the PEM text itself."
        )


def test_mlflow_prints_no_run_link_to_a_store_with_a_password(
    make_cfg, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(NO_RUN_LINKS, raising=False)
    hide_store_links_with_credentials(make_cfg())
    assert NO_RUN_LINKS not in os.environ
    hide_store_links_with_credentials(make_cfg(f"registry.tracking_uri={DATABASE}"))
    assert os.environ[NO_RUN_LINKS] == "true"


def test_a_training_run_writes_no_private_key_text(
    seeded_tmp: Path, private_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key as text (registry=azureml reads STOCKCAST_SIGNING_PRIVATE_KEY) was written into
    the config beside the model, which is registered with it, into the run's resolved config,
    into every checkpoint and into the MLflow run's params."""
    monkeypatch.setenv(KEY_VARIABLE, private_pem)
    # A copy of the empty store (scanned with the rest): its creation is not the point here.
    run_dir = seeded_tmp / "run"
    run_train(
        seeded_tmp,
        run_dir,
        *FAST_OVERRIDES,
        f"registry.signing.private_key=${{oc.env:{KEY_VARIABLE}}}",
    )
    written = [path for path in seeded_tmp.rglob("*") if path.is_file()]
    assert any(path.suffix == ".ckpt" for path in written)
    holding = [path for path in written if key_body(private_pem).encode() in path.read_bytes()]
    assert holding == []
    for config in (run_dir / "model" / TRAINING_CONFIG_FILE, run_dir / RESOLVED_CONFIG_FILE):
        assert f"private_key: {PRIVATE_KEY_SHOWN}" in config.read_text()
    client = MlflowClient(f"sqlite:///{seeded_tmp}/mlruns.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(experiments)
    assert run.data.params["registry.signing.private_key"] == PRIVATE_KEY_SHOWN


def test_the_rerun_command_masks_a_password_and_says_so(tmp_path: Path) -> None:
    from stockcast.orchestration.monitor_rerun import monitor_command_hint
    from stockcast.orchestration.steps.run_folders import port_folder
    from stockcast.orchestration.steps.table import DECISION, DECISION_FILE, STEPS

    decision = port_folder(tmp_path, DECISION) / DECISION_FILE
    decision.parent.mkdir(parents=True)
    decision.write_text(json.dumps({"registered": True, "version": 2, "decision": {}}))
    pins = [f"registry.tracking_uri={hydra_quoted(DATABASE)}"]
    said = monitor_command_hint(tmp_path, STEPS, ["seed=3", *pins], {"seed", "registry", "monitor"})
    assert PASSWORD not in said
    _, caveat = said.split(" on this run's folders ", 1)
    told, command = caveat.split("): ", 1)
    assert told == f"(it shows each password as {MASK}: put them back before running it"
    shown = f"registry.tracking_uri={hydra_quoted(DATABASE_SHOWN)}"
    assert shlex.split(command)[3:5] == ["seed=3", shown]


def test_a_sweep_shows_and_a_study_records_no_password_typed_on_the_command_line(
    tmp_path: Path,
) -> None:
    """A sweep's summary (printed, and written beside its jobs) and an Optuna study's record of
    its overrides held a tracking URI's password given as an override."""
    import yaml

    from hydra_plugins.stockcast_optuna_sweeper.study import compared_overrides
    from stockcast.orchestration.sweeps.jobs import OVERRIDES_FILE, read_job
    from stockcast.orchestration.sweeps.summary import summarize, to_markdown

    typed = [f"registry.tracking_uri={hydra_quoted(DATABASE)}", "optim.lr=0.001"]
    job_dir = tmp_path / "0"
    (job_dir / OVERRIDES_FILE).parent.mkdir(parents=True)
    (job_dir / OVERRIDES_FILE).write_text(yaml.safe_dump(typed))
    job = read_job(job_dir)
    assert job is not None
    assert job.overrides["registry.tracking_uri"] == hydra_quoted(DATABASE_SHOWN)
    shown = to_markdown(summarize([job], "val/mase"))
    assert PASSWORD not in shown and DATABASE_SHOWN in shown
    recorded = compared_overrides(typed)
    assert PASSWORD not in " ".join(recorded)
    assert recorded[1] == f"registry.tracking_uri={hydra_quoted(DATABASE_SHOWN)}"
