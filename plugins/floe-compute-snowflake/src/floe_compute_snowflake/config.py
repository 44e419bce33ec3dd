"""The typed form of a Snowflake target's `connection` (DESIGN section 8) and its credential rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, field_validator

from floe_tui.compute import ComputeConfig, ConfigError, ConnectionConfig, LiteralSecretError

#: What a target's `credentials` may name: a password, or a PEM private key (+ its passphrase).
CREDENTIAL_NAMES = frozenset({"password", "private_key", "private_key_passphrase"})
#: Secrets of Snowflake's own that the core's list of secret key names does not hold.
SNOWFLAKE_SECRET_KEYS = frozenset(
    {"private_key_passphrase", "passphrase", "private_key_file_pwd", "passcode", "oauth_client_secret"}
)
#: A Snowflake object name as given (unquoted or quoted), without control characters.
_NAME = r"^[^\x00-\x1f\x7f]{1,255}$"


class SnowflakeConnection(ConnectionConfig):
    """`connection` of a `snowflake` target; `account` and `user` are required, the rest optional.

    `host`, `port` and `protocol` default to Snowflake's own for the account; set them for
    PrivateLink or a local server (the tests' fakesnow runs on ``http://127.0.0.1``).
    """

    account: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")
    user: str = Field(pattern=_NAME)
    warehouse: str | None = Field(default=None, pattern=_NAME)
    database: str | None = Field(default=None, pattern=_NAME)
    # `schema` would shadow BaseModel.schema: the field has another name and takes the key by alias.
    schema_: str | None = Field(default=None, alias="schema", pattern=_NAME)
    role: str | None = Field(default=None, pattern=_NAME)
    query_tag: str | None = Field(default=None, max_length=2000, pattern=r"^[^\x00-\x1f\x7f]*$")
    host: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:\[\]-]{1,253}$")
    port: int | None = Field(default=None, ge=1, le=65535)
    protocol: Literal["https", "http"] | None = None
    #: The connector's keep-alive thread heartbeats every hour; it is known to block interpreter
    #: exit (connector #836), so it is off unless a target asks for it.
    client_session_keep_alive: bool = False
    #: Every network request but login and queries gives up after this (the connector's default is
    #: to retry forever); queries are bounded by their own timeout.
    network_timeout_s: int = Field(default=60, ge=1, le=3600)

    @field_validator("host")
    @classmethod
    def _no_scheme(cls, host: str | None) -> str | None:
        if host is not None and "//" in host:
            raise ValueError("give the host name alone, without a scheme; set `protocol` instead")
        return host


def reject_literal_secrets(connection: Mapping[str, object]) -> None:
    """Snowflake's secret keys written in `connection` (the core knows the common ones)."""
    for key in connection:
        if str(key).lower() in SNOWFLAKE_SECRET_KEYS:
            raise LiteralSecretError(f"`connection.{key}` holds a literal secret")


def check_credentials(config: ComputeConfig) -> None:
    """`password` or `private_key` (not both, not neither); a passphrase only with a key."""
    names = set(config.credentials)
    if "password" in names and "private_key" in names:
        raise ConfigError(
            f"target {config.name!r} has both a password and a private key",
            "keep one of credentials.password or credentials.private_key",
        )
    if "private_key_passphrase" in names and "private_key" not in names:
        raise ConfigError(
            f"target {config.name!r} has a private key passphrase but no private key",
            "add credentials.private_key (a PEM file, {file: PATH}) or remove the passphrase",
        )
    if not names & {"password", "private_key"}:
        raise ConfigError(
            f"target {config.name!r} has no Snowflake credential",
            "add credentials.password or credentials.private_key, as {env: NAME} or {file: PATH}",
        )
