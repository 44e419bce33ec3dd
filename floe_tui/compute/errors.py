"""The ComputeError tree.

Every error carries a stable ``code`` (part of the public contract, like the governance
diagnostic codes), a one-line ``message`` and a ``hint`` that tells the user what to change.
Messages are built from names and positions only: never from a configuration value, so a
secret can never leak through an error.

``breaks_connection`` is the one place that decides whether an error retires the pooled
connection it happened on (the query path and the pool's lease both ask it).
"""

from __future__ import annotations


class ComputeError(Exception):
    """Base of every error the compute layer raises on purpose."""

    code = "FLOE-C000"
    default_hint = "see the floe-tui README"
    #: True when the connection the error happened on can no longer be trusted.
    breaks_connection: bool = False

    def __init__(
        self, message: str, hint: str | None = None, *, breaks_connection: bool | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint or self.default_hint
        if breaks_connection is not None:
            self.breaks_connection = breaks_connection

    def __str__(self) -> str:
        return f"{self.code}: {self.message} (hint: {self.hint})"


class ConfigError(ComputeError):
    """A compute target's configuration is invalid."""

    code = "FLOE-C100"
    default_hint = "fix the target's configuration in the manifest"


class LiteralSecretError(ConfigError):
    """A secret was written literally where a reference is required."""

    code = "FLOE-C101"
    default_hint = "reference secrets as {env: NAME} or {file: PATH} under `credentials`"


class ExtensionNotInstalledError(ConfigError):
    """An engine extension was asked for but its package is not installed."""

    code = "FLOE-C102"


class SecretResolutionError(ConfigError):
    """A secret reference could not be resolved (variable unset, file unreadable)."""

    code = "FLOE-C103"


class PluginNotInstalledError(ComputeError):
    """No installed plugin provides the requested name."""

    code = "FLOE-C200"


class PluginApiVersionError(ComputeError):
    """A plugin was built for another major version of the plugin API."""

    code = "FLOE-C201"


class RegistryError(ComputeError):
    """An approved list, default or selection is not consistent."""

    code = "FLOE-C210"


class UnknownComputeError(RegistryError):
    """A compute name that is not among the approved targets."""

    code = "FLOE-C211"


class ConnectionFailedError(ComputeError):
    """The engine could not be opened or reached."""

    code = "FLOE-C300"
    default_hint = "check that the engine is running and the connection settings are right"
    breaks_connection = True


class ConnectTimeoutError(ConnectionFailedError):
    """Opening the engine took longer than ``connect_timeout_s``."""

    code = "FLOE-C301"
    default_hint = "raise pool.connect_timeout_s or check that the engine is reachable"


class DatabaseLockedError(ConnectionFailedError):
    """A database file is held by another process."""

    code = "FLOE-C302"
    default_hint = "close the other process, or open the file with read_only: true"


class NotConnectedError(ComputeError):
    """An engine call was made before ``connect()`` or after ``disconnect()``."""

    code = "FLOE-C303"
    default_hint = "call connect() first (or use the plugin as a context manager)"
    breaks_connection = True


class PoolTimeoutError(ComputeError):
    """No pooled connection became free within ``acquire_timeout_s``."""

    code = "FLOE-C310"
    default_hint = "raise pool.size or pool.acquire_timeout_s, or run fewer queries at once"


class QueryError(ComputeError):
    """The engine rejected or failed a query."""

    code = "FLOE-C400"
    default_hint = "check the SQL against the engine's dialect"


class QueryTimeoutError(QueryError):
    """A query ran past its timeout and was cancelled in the engine."""

    code = "FLOE-C401"
    default_hint = "raise the timeout, add a LIMIT or narrow the query"


class QueryCancelledError(QueryError):
    """A query was cancelled by its caller."""

    code = "FLOE-C402"
    default_hint = "run it again if the cancel was not intended"
