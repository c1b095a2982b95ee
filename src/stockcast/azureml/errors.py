"""The one error type the Azure ML executor raises for things a user can fix."""

from stockcast.errors import ConfigError


class AzureMLConfigError(ConfigError):
    """An Azure ML setting is missing or invalid; raised before anything is sent to Azure."""
