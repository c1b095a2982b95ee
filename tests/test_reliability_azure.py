"""Azure failures (credentials, network, a missing workspace, a missing plugin) are one sentence
each that names what failed and what to do; nothing here can reach, or wait for, the network."""

from __future__ import annotations

import io
import json
import os
import socket
import time
from pathlib import Path

import pytest
import requests
import urllib3
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.identity import (
    ChainedTokenCredential,
    ClientSecretCredential,
    CredentialUnavailableError,
    EnvironmentCredential,
)

from stockcast.azure_failures import describe_azure_failure
from stockcast.orchestration.azureml import cli
from stockcast.paths import PROJECT_ROOT
from stockcast.registry.connection import RegistryError
from stockcast.registry.store import ModelRegistry
from tests.prewarmed import run_forked
from tests.reliability_helpers import assert_one_sentence_refusal

# Builds and checks Azure ML objects with the SDK offline: make test runs them, test-fast not.
pytestmark = pytest.mark.azureml

FAKE_WORKSPACE = {
    "AZUREML_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000000",
    "AZUREML_RESOURCE_GROUP": "rg",
    "AZUREML_WORKSPACE_NAME": "ws",
}

FAILURES = [
    (
        CredentialUnavailableError("DefaultAzureCredential failed to retrieve a token.\nAttempted"),
        ("Azure found no credentials", "az login", "AZURE_CLIENT_SECRET"),
    ),
    (
        ClientAuthenticationError("AADSTS7000215: Invalid client secret"),
        ("Azure refused the credentials (AADSTS7000215", "az login"),
    ),
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

    found = importlib.util.find_spec

    def missing(name: str, *args):
        # Only the plugin is missing: MLflow's own imports still find their modules.
        if not name.startswith("azureml"):
            return found(name, *args)
        raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")

    monkeypatch.setattr(importlib.util, "find_spec", missing)
    registry = ModelRegistry("azureml://westeurope.api.azureml.ms/mlflow/v1.0/x", "m")
    with pytest.raises(RegistryError, match=r"pip install -e '\.\[azure\]'"):
        registry.client()


@pytest.mark.slow
def test_a_real_offline_submit_with_a_service_principal_is_one_sentence(tmp_path: Path) -> None:
    """The real SDK and credential chain, no network: refused quickly, in one line (the
    command is a fork of the prewarmed interpreter, which holds nothing of Azure's)."""
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
    result = run_forked(["scripts/submit.py", "tracking-uri"], PROJECT_ROOT, env, timeout=180)
    line = assert_one_sentence_refusal(result, "tracking-uri failed: ")
    # Offline the sign-in is a network failure; where Azure answers, it refuses the fake secret.
    assert "cannot reach Azure to sign in" in line or "Azure refused the credentials" in line
    assert "no credentials" not in line
    assert time.monotonic() - started < 180


# -- the real credential classes, offline: which of the three failures a sign-in met ----------

FAKE_PRINCIPAL = {
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001",
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-000000000002",
    "AZURE_CLIENT_SECRET": "not-a-secret",
}
SCOPE = "https://management.azure.com/.default"


class EntraRefuses(requests.adapters.BaseAdapter):
    """Microsoft Entra ID as seen by a wrong client secret: its tenant's OpenID configuration,
    then HTTP 401 `invalid_client` from the token endpoint."""

    def send(self, request, **kwargs) -> requests.Response:
        tenant = request.url.split("/v2.0/")[0].split("/oauth2/")[0]
        if "openid-configuration" in request.url:
            status, body = (
                200,
                {
                    "token_endpoint": f"{tenant}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{tenant}/oauth2/v2.0/authorize",
                    "issuer": f"{tenant}/v2.0",
                },
            )
        else:
            status, body = (
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                },
            )
        data = json.dumps(body).encode()
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url, request
        response.headers["Content-Type"] = "application/json"
        response.raw = urllib3.HTTPResponse(
            body=io.BytesIO(data), status=status, headers=response.headers, preload_content=False
        )
        response._content = data
        return response

    def close(self) -> None:
        pass


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def service_principal(**kwargs) -> ClientSecretCredential:
    """The fake principal, asking only the authority given (no discovery, no retries)."""
    ids = FAKE_PRINCIPAL
    return ClientSecretCredential(
        ids["AZURE_TENANT_ID"],
        ids["AZURE_CLIENT_ID"],
        ids["AZURE_CLIENT_SECRET"],
        disable_instance_discovery=True,
        retry_total=0,
        **kwargs,
    )


def offline() -> ClientSecretCredential:
    return service_principal(authority=f"https://127.0.0.1:{closed_port()}")


def refused() -> ClientSecretCredential:
    session = requests.Session()
    session.mount("https://", EntraRefuses())
    return service_principal(
        authority="https://login.test", transport=RequestsTransport(session=session)
    )


def sign_in_error(credential) -> BaseException:
    """What DefaultAzureCredential raises: a chain's one ClientAuthenticationError."""
    with pytest.raises(ClientAuthenticationError) as raised:
        ChainedTokenCredential(credential).get_token(SCOPE)
    return raised.value


def test_a_service_principal_without_network_is_a_network_failure() -> None:
    sentence = describe_azure_failure(sign_in_error(offline()))
    assert sentence.startswith("cannot reach Azure to sign in (ClientSecretCredential: ")
    assert "Connection refused" in sentence and "check the network connection" in sentence
    assert "no credentials" not in sentence and "AZURE_CLIENT_ID" not in sentence
    assert "\n" not in sentence


def test_a_refused_secret_is_named_refused() -> None:
    sentence = describe_azure_failure(sign_in_error(refused()))
    assert sentence == (
        "Azure refused the credentials (ClientSecretCredential: Authentication failed: "
        "AADSTS7000215: Invalid client secret provided); check AZURE_CLIENT_ID, AZURE_TENANT_ID "
        "and AZURE_CLIENT_SECRET, or run `az login` again."
    )


def test_no_credentials_at_all_is_named_missing(monkeypatch) -> None:
    for name in FAKE_PRINCIPAL:
        monkeypatch.delenv(name, raising=False)
    sentence = describe_azure_failure(sign_in_error(EnvironmentCredential()))
    assert sentence.startswith("Azure found no credentials (") and sentence.endswith(
        "set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a service principal."
    )


@pytest.mark.parametrize(
    ("credential", "phrase"),
    [(offline, "cannot reach Azure to sign in"), (refused, "Azure refused the credentials")],
)
def test_submit_names_the_sign_in_failure(credential, phrase, monkeypatch, capsys) -> None:
    """The command's own client (MLClient over the chain DefaultAzureCredential would build)."""
    import azure.identity

    for name, value in (FAKE_WORKSPACE | FAKE_PRINCIPAL).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DRY_RUN", raising=False)
    monkeypatch.setattr(
        azure.identity, "DefaultAzureCredential", lambda: ChainedTokenCredential(credential())
    )
    with pytest.raises(SystemExit) as exited:
        cli.main(["tracking-uri"])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith(f"error: tracking-uri failed: {phrase} (")
