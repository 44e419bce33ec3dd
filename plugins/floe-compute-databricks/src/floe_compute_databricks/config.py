"""The Databricks target's `connection` model (DESIGN section 8).

A target is one SQL warehouse: the workspace host, the warehouse's HTTP path (its id is the last
segment, which the health check uses to read the warehouse's state over the REST API), and the
initial catalog and schema. The token is never here: it is the credential `token`, by reference.
Error messages name the rule a value broke, never the value.
"""

from __future__ import annotations

import ipaddress
import re

from pydantic import ConfigDict, Field, field_validator

from floe_tui.compute import ConnectionConfig

HTTP_PATH = re.compile(r"^/sql/1\.0/(warehouses|endpoints)/[0-9a-f]+$")
_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
#: Unity Catalog names may hold most characters, but not these (nor control characters).
_NAME_FORBIDDEN = frozenset(". /")
DEFAULT_PORT = 443


class DatabricksConnection(ConnectionConfig):
    """A Databricks SQL warehouse, reached with databricks-sql-connector (Thrift over HTTPS)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    #: The workspace host name (or an IP address), as in the warehouse's connection details.
    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)
    #: ``/sql/1.0/warehouses/<id>`` (``/sql/1.0/endpoints/<id>`` is the older spelling).
    http_path: str = Field(min_length=1, max_length=200)
    catalog: str | None = Field(default=None, min_length=1, max_length=255)
    schema_: str | None = Field(default=None, alias="schema", min_length=1, max_length=255)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if "://" in value or "/" in value:
            raise ValueError("give the host name alone, without https:// or a path")
        if value.startswith("[") or value.count(":") > 1:
            try:
                ipaddress.IPv6Address(value.strip("[]"))
            except ValueError:
                raise ValueError("not an IPv6 address") from None
            return value.strip("[]")
        if ":" in value:
            raise ValueError("give the port under `port`, not in the host")
        labels = value.rstrip(".").split(".")
        if not all(_HOST_LABEL.match(label) for label in labels):
            raise ValueError("not a host name (letters, digits, '-' and '.') nor an IP address")
        return value

    @field_validator("http_path")
    @classmethod
    def _http_path(cls, value: str) -> str:
        if not HTTP_PATH.match(value):
            raise ValueError(
                "not a SQL warehouse path; it reads /sql/1.0/warehouses/<id> "
                "(the warehouse's Connection details list it)"
            )
        return value

    @field_validator("catalog", "schema_")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if any(char in _NAME_FORBIDDEN or ord(char) < 32 or ord(char) == 127 for char in value):
            raise ValueError("a catalog or schema name holds no '.', '/', space or control character")
        return value

    @property
    def warehouse_id(self) -> str:
        """The warehouse id: the last segment of `http_path`."""
        return self.http_path.rsplit("/", 1)[1]

    @property
    def workspace_url(self) -> str:
        """The workspace's base URL for REST calls (health), with the port when it is not 443."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}" if self.port == DEFAULT_PORT else f"https://{host}:{self.port}"
