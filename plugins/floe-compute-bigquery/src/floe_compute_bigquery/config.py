"""The BigQuery target's `connection` model, its credentials and its service-account keyfile.

Validation messages name the rule a value breaks, never the value (errors must not quote
configuration). Credentials never sit in `connection`: ``keyfile`` (a service-account JSON key by
``{file: PATH}``) or ``token`` (an OAuth access token by ``{env: NAME}``), exactly one of them.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from floe_tui.compute import ComputeConfig, ConfigError, ConnectionConfig, parse_byte_size

#: Credential names the plugin takes (DESIGN section 8).
KEYFILE = "keyfile"
TOKEN = "token"
CREDENTIAL_NAMES = frozenset({KEYFILE, TOKEN})

# Google Cloud project ids: 6 to 30 lower-case letters, digits and hyphens, starting with a letter
# and not ending with a hyphen; older projects may carry a domain prefix ("example.com:proj").
_PROJECT = re.compile(r"^(?:[a-z][a-z0-9.-]{0,62}[a-z0-9]:)?[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_DATASET = re.compile(r"^[A-Za-z0-9_]{1,1024}$")
_LOCATION = re.compile(r"^[A-Za-z]+(?:-[a-z]+[0-9]*)*$")
#: What a service-account key must hold for google-auth to sign with it.
_KEY_FIELDS = ("client_email", "private_key", "token_uri")


class BigQueryConnection(ConnectionConfig):
    """`connection` of a BigQuery target: where jobs run and what they may cost."""

    #: The project that runs (and pays for) the query jobs.
    project: str
    #: Default dataset of unqualified table names; the health check reads its metadata.
    dataset: str | None = None
    #: Where jobs run (US, EU, europe-west1, ...); None: BigQuery's choice from the tables read.
    location: str | None = None
    #: A job that would bill more fails instead of running (an int, or a size such as 10GB).
    maximum_bytes_billed: int | None = Field(default=None, gt=0)
    priority: Literal["interactive", "batch"] = "interactive"
    #: The API's root URL: Private Service Connect, or a local emulator (http on loopback only).
    api_endpoint: str | None = None

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if not _PROJECT.match(value):
            raise ValueError(
                "not a Google Cloud project id (6 to 30 lower-case letters, digits and hyphens, "
                "starting with a letter)"
            )
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str | None) -> str | None:
        if value is not None and not _DATASET.match(value):
            raise ValueError("not a dataset name (letters, digits and underscores)")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is not None and not _LOCATION.match(value):
            raise ValueError("not a BigQuery location such as US, EU or europe-west1")
        return value

    @field_validator("maximum_bytes_billed", mode="before")
    @classmethod
    def _bytes(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return parse_byte_size(value)
            except ValueError:
                raise ValueError("not a size; use a number of bytes or a size such as 10GB") from None
        return value

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError("not a URL such as https://bigquery.example.internal") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL with a host")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not hold a user or password; put credentials under `credentials`")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be the API's root URL, without a path, query or fragment")
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ValueError("plain http is for a local server on a loopback address only; use https")
        if port == 0:
            raise ValueError("port 0 is not a port")
        return value.rstrip("/")

    @property
    def local(self) -> bool:
        """The API is served on this machine (an emulator): there is no Storage Read API."""
        host = urlsplit(self.api_endpoint).hostname if self.api_endpoint else None
        return host is not None and is_loopback(host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def auth_method(config: ComputeConfig) -> Literal["keyfile", "token"]:
    """Which credential the target authenticates with; exactly one must be given."""
    given = sorted(set(config.credentials) & CREDENTIAL_NAMES)
    if len(given) != 1:
        raise ConfigError(
            f"target {config.name!r} needs exactly one BigQuery credential, "
            + ("not both keyfile and token" if given else "keyfile or token"),
            "set credentials.keyfile: {file: PATH} (a service-account key) or credentials.token: {env: NAME}",
        )
    ref = config.credentials[given[0]]
    if given[0] == KEYFILE and ref.file is None:
        raise ConfigError(
            "credential `keyfile` must be a file reference",
            "set credentials.keyfile: {file: PATH} to the service-account JSON key",
        )
    return "keyfile" if given[0] == KEYFILE else "token"


def service_account_info(secret: SecretStr, file_name: str) -> dict[str, Any]:
    """The parsed service-account key; the error names the file, never a byte of its contents."""
    hint = "point credentials.keyfile at a service-account key (JSON, type service_account)"
    try:
        info = json.loads(secret.get_secret_value())
    except ValueError:
        raise ConfigError(f"keyfile {file_name} is not JSON", hint) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError(f"keyfile {file_name} is not a service-account key", hint)
    missing = [name for name in _KEY_FIELDS if not isinstance(info.get(name), str) or not info[name]]
    if missing:
        raise ConfigError(f"keyfile {file_name} has no {missing[0]}", hint)
    return info
