"""Azure failures (credentials, network, a missing workspace, a missing plugin) are one sentence
each that names what failed and what to do; nothing here can reach, or wait for, the network."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.identity import CredentialUnavailableError

from stockcast.errors import describe_azure_failure
from stockcast.orchestration.azureml import cli
from stockcast.registry.connection import RegistryError
from stockcast.registry.store import ModelRegistry
from tests.reliability_helpers import assert_one_sentence_refusal

FAKE_WORKSPACE = {
    "AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "AZUREML_RESOURCE_GROUP": "rg",
    "AZUREML_WORKSPACE_NAME": "ws",
}

FAILURES = [
    (
        CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token.\nAttempted"),
        ("refused or found no credentials", "az login", "AZURE_CLIENT_SECRET"),
    ),
    (ClientAuthenticationError("AADSTS7000215: Invalid client secret"), ("az login",)),
    (
        ServiceRequestError("Failed to resolve 'management.azure.com'"),
        ("cannot reach Azure", "network"),
    ),
    (
        ResourceNotFoundError("Workspace ws not found"),
        ("no such workspace", "AZUREML_WORKSPACE_NAME"),
    ),
    (HttpResponseError("(AuthorizationFailed) no access"), ("refused the request",)),
]


@pytest.mark.parametrize(("error", "phrases"), FAILURES)
def test_azure_failures_are_one_sentence_with_the_fix(error: Exception, phrases) -> None:
    sentence = describe_azure_failure(error)
    assert sentence is not None and "\n" not in sentence
    for phrase in phrases:
        assert phrase in sentence


def test_other_errors_are_not_mistaken_for_azure_ones() -> None:
    assert describe_azure_failure(ConnectionError("refused")) is None
    assert describe_azure_failure(ValueError("bad")) is None


class FailingClient:
    """An MLClient whose first call to Azure fails the way an offline laptop does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __getattr__(self, name: str):
        raise self.error


@pytest.mark.parametrize(("error", "phrases"), FAILURES)
def test_submit_commands_end_in_one_line_not_a_traceback(
    error: Exception, phrases, monkeypatch, capsys
) -> None:
    for name, value in FAKE_WORKSPACE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DRY_RUN", raising=False)
    monkeypatch.setattr(cli, "ml_client", lambda workspace: FailingClient(error))
    with pytest.raises(SystemExit) as exited:
        cli.main(["schedule-status"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: schedule-status failed: ") and "\n" not in err
    for phrase in phrases:
        assert phrase in err


def test_the_azure_registry_without_its_plugin_says_which_extra_to_install(monkeypatch) -> None:
    import importlib.util

    def missing(name: str):
        raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")

    monkeypatch.setattr(importlib.util, "find_spec", missing)
    registry = ModelRegistry("azureml://westeurope.api.azureml.ms/mlflow/v1.0/x", "m")
    with pytest.raises(RegistryError, match=r"pip install -e '\.\[azure\]'"):
        registry.client()


@pytest.mark.slow
def test_a_real_offline_submit_with_a_service_principal_is_one_sentence(tmp_path: Path) -> None:
    """The real SDK and credential chain, no network: refused quickly, in one line."""
    import os
    import subprocess

    env = (
        os.environ
        | FAKE_WORKSPACE
        | {
            "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
            "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000002",
            "AZURE_CLIENT_SECRET": "not-a-secret",
            "DRY_RUN": "0",
        }
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "scripts/submit.py", "tracking-uri"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert_one_sentence_refusal(result, "tracking-uri failed: ")
    assert "az login" in result.stderr or "cannot reach Azure" in result.stderr
    assert time.monotonic() - started < 180
