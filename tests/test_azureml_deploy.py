"""`make deploy` serves the version predict and serve open: the champion alias, read from the
workspace's registry and sent as its number (here a local store stands in for the workspace's,
and a recording client for Azure)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.core.exceptions import ResourceNotFoundError

from stockcast.orchestration.azureml import cli
from tests.conftest import MODEL

# Builds and checks Azure ML objects with the SDK offline: make test runs them, test-fast not.
pytestmark = pytest.mark.azureml


class Operations:
    """What `deploy` calls on the endpoints and deployments of an MLClient, recorded."""

    def __init__(self, sent: list[object], exists: bool) -> None:
        self.sent, self.exists = sent, exists

    def get(self, name: str) -> SimpleNamespace:
        if not self.exists:
            self.exists = True
            raise ResourceNotFoundError(f"no endpoint {name}")
        return SimpleNamespace(scoring_uri=f"https://{name}.example/score")

    def begin_create_or_update(self, entity: object) -> SimpleNamespace:
        self.sent.append(entity)
        return SimpleNamespace(result=lambda: entity)


@pytest.fixture
def workspace_store(
    registered_store: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[object], list[str]]:
    """The workspace is the registered store (version 1, champion) and a recording client;
    returns what was sent and which tracking URIs were asked for."""
    sent: list[object] = []
    asked: list[str] = []
    client = SimpleNamespace(
        online_endpoints=Operations(sent, exists=False),
        online_deployments=Operations(sent, exists=True),
    )
    monkeypatch.setattr(cli, "resolve_workspace", lambda *args, **kwargs: "workspace")
    monkeypatch.setattr(cli, "ml_client", lambda workspace: client)

    def tracking_uri(client: object, workspace: object) -> str:
        asked.append(workspace)
        return f"sqlite:///{registered_store}/mlruns.db"

    monkeypatch.setattr(cli, "mlflow_tracking_uri", tracking_uri)
    return sent, asked


def test_deploy_sends_the_champions_number_read_from_the_registry(
    workspace_store: tuple[list[object], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sent, asked = workspace_store
    cli.main(["deploy", f"registry.model_name={MODEL}"])
    endpoint, deployment, with_traffic = sent
    assert asked == ["workspace"]
    assert deployment.model == f"azureml:{MODEL}:1"
    assert endpoint.traffic == {} and with_traffic.traffic == {"blue": 100}
    out = capsys.readouterr().out
    assert f"azureml.endpoint.model_version=champion: version 1 of {MODEL}" in out
    assert f"deployed azureml:{MODEL}:1 to stockcast-forecast/blue" in out


def test_a_number_or_latest_is_sent_as_given_without_reading_the_registry(
    workspace_store: tuple[list[object], list[str]],
) -> None:
    sent, asked = workspace_store
    for version, model in (("3", f"azureml:{MODEL}:3"), ("latest", f"azureml:{MODEL}@latest")):
        cli.main(
            ["deploy", f"registry.model_name={MODEL}", f"azureml.endpoint.model_version={version}"]
        )
        assert sent[-2].model == model
    assert asked == []


def test_an_alias_no_version_holds_is_one_sentence_and_sends_nothing(
    workspace_store: tuple[list[object], list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    sent, _ = workspace_store
    # Unless named itself, the alias deployed is the one the pipeline's gate moves.
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["deploy", f"registry.model_name={MODEL}", "registry.champion_alias=staging"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: no version of {MODEL} in the workspace's registry holds the alias 'staging' "
        f"('{MODEL}' has version(s) 1 (champion)); deploy one of them by number, e.g. "
        'ARGS="azureml.endpoint.model_version=2".'
    )
    assert sent == []


def test_a_registry_that_fails_after_opening_is_one_sentence(
    workspace_store: tuple[list[object], list[str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from mlflow.exceptions import MlflowException

    from stockcast.registry.store import ModelRegistry

    def refused(self: ModelRegistry) -> list[object]:
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: permission denied")

    monkeypatch.setattr(ModelRegistry, "versions", refused)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["deploy", f"registry.model_name={MODEL}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"error: the workspace's model registry did not list the versions of {MODEL} "
        "(RESOURCE_DOES_NOT_EXIST: permission denied); check that your account may read the "
        "workspace's models, then retry."
    )
    assert workspace_store[0] == []


def test_a_dry_run_of_an_alias_asks_for_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    """A dry run reads no registry, so it cannot know the champion's number: it says so rather
    than write `latest`, which may be a version the gate never promoted."""
    with pytest.raises(SystemExit):
        cli.main(["deploy", "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: azureml.endpoint.model_version=champion names the version holding that alias "
        "in the workspace's registry, which a dry run does not read; dry-run a version number "
        'or latest instead, e.g. ARGS="azureml.endpoint.model_version=2".'
    )
