"""User-facing errors: one sentence that says what is wrong and what to do."""

import sys
from typing import NoReturn


class StockcastError(Exception):
    """A problem the user can fix; entry points print it as one line and exit non-zero."""


class DataError(StockcastError, ValueError):
    """The data or the data config cannot give valid windows."""


class ConfigError(StockcastError, ValueError):
    """A config value is out of range or inconsistent."""


class ArtifactError(StockcastError):
    """A folder is missing or is not the kind of folder a step expects."""


def exit_with_error(message: str) -> NoReturn:
    """One line on stderr and exit status 2: how every command reports a user's error."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


LOGIN_HINT = (
    "run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a "
    "service principal"
)


def describe_azure_failure(err: BaseException) -> str | None:
    """One sentence for an Azure SDK failure (credentials, network, missing workspace), or None
    when `err` is not one. Judged by class names, so nothing Azure is imported to ask."""
    names = {cls.__name__ for cls in type(err).__mro__}
    if "AzureError" not in names:
        return None
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    cause = (lines[0] if lines else type(err).__name__)[:200].rstrip(".")
    if "ClientAuthenticationError" in names:
        return f"Azure refused or found no credentials ({cause}); {LOGIN_HINT}."
    if names & {"ServiceRequestError", "ServiceResponseError"}:
        return f"cannot reach Azure ({cause}); check the network connection or proxy and retry."
    if "ResourceNotFoundError" in names:
        return (
            f"Azure has no such workspace or resource ({cause}); check AZUREML_SUBSCRIPTION_ID, "
            "AZUREML_RESOURCE_GROUP and AZUREML_WORKSPACE_NAME (or configs/local/azureml.yaml)."
        )
    return f"Azure refused the request ({cause}); check that your account may use the workspace."
