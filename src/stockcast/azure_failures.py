"""Azure SDK failures as one sentence: which of credentials, network, refusal or a missing
workspace stopped the call, judged by exception class names and the SDK's text, so nothing
Azure is imported to ask."""

LOGIN_HINT = (
    "run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET for a "
    "service principal"
)
NETWORK_HINT = "check the network connection or proxy and retry"
# A sign-in that never reached Microsoft Entra ID: the exception classes on the way...
NETWORK_ERRORS = {"ServiceRequestError", "ServiceResponseError", "ConnectionError", "TimeoutError"}
# ...and, where a credential chain folded them into its message, the words they leave there.
NETWORK_WORDS = (
    "failed to resolve",
    "name or service not known",
    "name resolution",
    "failed to establish a new connection",
    "connection refused",
    "connection reset",
    "connection aborted",
    "network is unreachable",
    "timed out",
    "max retries exceeded",
)
# Entra ID answered and said no: its error codes, or the token endpoint's HTTP status.
REFUSAL_WORDS = ("aadsts", "invalid_client", "unauthorized_client", "invalid_grant")
REFUSAL_STATUS = {400, 401}
NO_CREDENTIALS, REFUSED, NO_NETWORK = "no credentials", "refused", "no network"
# How azure.identity's credential chains list their attempts, one per line.
CHAIN_SEPARATOR = "\n\t"


def _chain(err: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and current not in found:
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _status(err: BaseException) -> int | None:
    response = getattr(err, "response", None)
    return getattr(err, "status_code", None) or getattr(response, "status_code", None)


def sign_in_failure(err: BaseException) -> str:
    """Why a credential got no token: NO_CREDENTIALS (none configured), REFUSED (Entra ID said
    no) or NO_NETWORK (never got an answer). DefaultAzureCredential raises one
    ClientAuthenticationError for all three, with the cause only in its text."""
    chain = _chain(err)
    names = {cls.__name__ for cls in type(err).__mro__}
    if "CredentialUnavailableError" in names:
        return NO_CREDENTIALS
    if any({cls.__name__ for cls in type(e).__mro__} & NETWORK_ERRORS for e in chain):
        return NO_NETWORK
    if any(_status(e) in REFUSAL_STATUS for e in chain):
        return REFUSED
    # A chain stops at the first credential that failed, so only its last attempt can say why.
    text = str(err).lower().split(CHAIN_SEPARATOR)[-1]
    if any(word in text for word in REFUSAL_WORDS):
        return REFUSED
    if any(word in text for word in NETWORK_WORDS):
        return NO_NETWORK
    # A chain whose every credential was unavailable names no failed attempt.
    return REFUSED if "authentication failed" in text else NO_CREDENTIALS


def _cause(err: BaseException, words: tuple[str, ...] = ()) -> str:
    """The line of the SDK's message that says most: one naming the failure when there is one
    (a credential chain lists every credential it tried), else the first."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    telling = [line for line in lines if any(word in line.lower() for word in words)]
    line = (telling or lines or [type(err).__name__])[0]
    return line[:200].rstrip(".")


def describe_sign_in_failure(err: BaseException) -> str:
    kind = sign_in_failure(err)
    if kind == NO_NETWORK:
        cause = _cause(err, NETWORK_WORDS)
        return f"cannot reach Azure to sign in ({cause}); {NETWORK_HINT}."
    if kind == REFUSED:
        cause = _cause(err, (*REFUSAL_WORDS, "authentication failed"))
        return (
            f"Azure refused the credentials ({cause}); check AZURE_CLIENT_ID, AZURE_TENANT_ID "
            "and AZURE_CLIENT_SECRET, or run `az login` again."
        )
    return f"Azure found no credentials ({_cause(err)}); {LOGIN_HINT}."


def describe_azure_failure(err: BaseException) -> str | None:
    """One sentence for an Azure SDK failure (credentials, network, missing workspace), or None
    when `err` is not one. Judged by class names, so nothing Azure is imported to ask."""
    names = {cls.__name__ for cls in type(err).__mro__}
    if "AzureError" not in names:
        return None
    cause = _cause(err)
    if "ClientAuthenticationError" in names:
        return describe_sign_in_failure(err)
    if names & {"ServiceRequestError", "ServiceResponseError"}:
        return f"cannot reach Azure ({cause}); {NETWORK_HINT}."
    if "ResourceNotFoundError" in names:
        return (
            f"Azure has no such workspace or resource ({cause}); check AZUREML_SUBSCRIPTION_ID, "
            "AZUREML_RESOURCE_GROUP and AZUREML_WORKSPACE_NAME (or configs/local/azureml.yaml)."
        )
    return f"Azure refused the request ({cause}); check that your account may use the workspace."
