"""The Spark target's `connection` model. Imports no pyspark: validating a manifest stays fast.

Two modes, exactly one of them per target:

- ``master``: a classic Spark session driven from this process (``local[N]``, ``spark://host:port``,
  ``yarn``, ``k8s://https://host:port``); the JVM starts on the first ``connect()``.
- ``remote``: a Spark Connect endpoint (``sc://host:port``); its token, if any, is the credential
  ``token`` beside ``connection``, never part of the URL.

Messages name fields and rules, never values: a value may be a secret written in the wrong place.
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from floe_tui.compute import ConnectionConfig

DEFAULT_MASTER = "local[2]"
DEFAULT_CONNECT_PORT = 15002
DEFAULT_UI_PORT = 4040

_LOCAL = re.compile(r"^local(\[(\*|[1-9]\d*)(,\s*[1-9]\d*)?\])?$")
_HOST_PORT = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.\-]*[A-Za-z0-9])?):[1-9]\d{0,4}"
_STANDALONE = re.compile(rf"^spark://{_HOST_PORT}(,{_HOST_PORT})*$")
_K8S = re.compile(rf"^k8s://(https?://)?{_HOST_PORT}$")
_CONF_KEY = re.compile(r"^spark\.[A-Za-z0-9_][A-Za-z0-9_.\-]*$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,99}$")
#: Spark Connect URL parameters a manifest may set; `token` goes under `credentials` instead.
CONNECT_PARAMS = frozenset(
    {
        "use_ssl",
        "user_id",
        "user_agent",
        "grpc_keepalive_enabled",
        "grpc_keepalive_time_ms",
        "grpc_keepalive_timeout_ms",
        "grpc_keepalive_without_calls",
    }
)
#: Set by dedicated fields (or by Spark itself), so a `conf` entry would silently disagree with them.
RESERVED_CONF = frozenset(
    {"spark.master", "spark.remote", "spark.app.name", "spark.api.mode", "spark.submit.deployMode"}
)
_SECRET_WORDS = ("password", "passwd", "secret", "token", "credential", "private.key", "privatekey")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DbtOptions(_Strict):
    """How dbt-spark reaches this target (`generate_dbt_profile`).

    ``session`` (the default) runs Spark inside dbt: with ``master`` dbt starts its own driver on
    the same master; with ``remote`` dbt opens a Spark Connect session (pyspark 4 reads
    ``spark.remote``). ``thrift`` and ``http`` go through a Spark Thrift Server (``http`` is the
    Databricks-style endpoint of dbt-spark) and need ``host``.
    """

    method: Literal["session", "thrift", "http"] = "session"
    schema_: str = Field(default="default", alias="schema", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    host: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]*$", max_length=253)
    port: int | None = Field(default=None, ge=1, le=65535)
    user: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.@\-]+$")
    auth: Literal["NONE", "NOSASL", "LDAP", "KERBEROS", "CUSTOM"] | None = None
    use_ssl: bool = False
    cluster: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.\-]+$")
    organization: str = Field(default="0", pattern=r"^[0-9]+$")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _server_methods_need_a_host(self) -> DbtOptions:
        if self.method != "session" and self.host is None:
            raise ValueError(f"dbt method {self.method} needs `host` (the Spark Thrift Server)")
        if self.method == "http" and self.cluster is None:
            raise ValueError("dbt method http needs `cluster` (dbt-spark builds its endpoint from it)")
        return self


class SparkConnection(ConnectionConfig):
    """The typed form of a Spark target's `connection`."""

    master: str | None = Field(default=None, max_length=2048)
    remote: str | None = Field(default=None, max_length=2048)
    app_name: str = "floe-tui"
    conf: dict[str, str] = Field(default_factory=dict)
    #: Base URL of the driver's web UI (REST API), read by memory_stats(); default: the remote host:4040.
    ui_url: str | None = Field(default=None, pattern=r"^https?://[^\s'\"\\/]+(/[^\s'\"\\]*)?$")
    dbt: DbtOptions = Field(default_factory=DbtOptions)

    @field_validator("master")
    @classmethod
    def _master(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if _LOCAL.match(value) or _STANDALONE.match(value) or _K8S.match(value) or value == "yarn":
            return value
        raise ValueError(
            "not a Spark master URL; use local[N], local[*], spark://host:port, yarn or k8s://https://host:port"
        )

    @field_validator("remote")
    @classmethod
    def _remote(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value.startswith("sc://"):
            raise ValueError("a Spark Connect URL starts with sc:// (sc://host:port)")
        parts = urlsplit("http://" + value[len("sc://") :])
        try:
            port = parts.port
        except ValueError:
            raise ValueError("the Spark Connect port is not a number between 1 and 65535") from None
        if not parts.hostname or parts.username or parts.password or port == 0:
            raise ValueError("a Spark Connect URL is sc://host:port with an optional /;key=value list")
        path = parts.path
        if path not in ("", "/") and not path.startswith("/;"):
            raise ValueError("a Spark Connect URL has no path, only /;key=value parameters")
        for item in filter(None, path[2:].split(";")):
            key = item.split("=", 1)[0]
            if key == "token":
                raise ValueError("the Spark Connect token belongs under `credentials.token`, not in the URL")
            if key not in CONNECT_PARAMS:
                raise ValueError(
                    f"unknown Spark Connect parameter `{key}`; known: {', '.join(sorted(CONNECT_PARAMS))}"
                )
        return value

    @field_validator("app_name")
    @classmethod
    def _app_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use 1-100 letters, digits, spaces, '.', '_' or '-'")
        return value

    @field_validator("conf", mode="before")
    @classmethod
    def _conf(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value  # pydantic reports the wrong type
        normalized: dict[str, str] = {}
        for key, item in value.items():
            if not isinstance(key, str) or not _CONF_KEY.match(key):
                raise ValueError("conf keys are Spark settings named spark.<something>")
            if key in RESERVED_CONF:
                raise ValueError(f"`{key}` is set by its own field (master, remote, app_name), not conf")
            lowered = key.lower()
            if any(word in lowered for word in _SECRET_WORDS):
                raise ValueError(
                    f"`{key}` looks like a secret; a manifest never holds one (use the engine's "
                    "credential providers or environment, or `credentials` for the Connect token)"
                )
            if isinstance(item, bool):
                normalized[key] = "true" if item else "false"
            elif isinstance(item, int | float | str):
                normalized[key] = str(item)
            else:
                raise ValueError(f"`{key}` must be a string, number or boolean")
        return normalized

    @model_validator(mode="after")
    def _one_mode(self) -> SparkConnection:
        if self.master is not None and self.remote is not None:
            raise ValueError("set either `master` (a classic session) or `remote` (Spark Connect), not both")
        return self

    # -- derived ---------------------------------------------------------------------------
    @property
    def mode(self) -> Literal["classic", "connect"]:
        return "connect" if self.remote is not None else "classic"

    @property
    def effective_master(self) -> str:
        return self.master or DEFAULT_MASTER

    @property
    def is_local(self) -> bool:
        return self.mode == "classic" and self.effective_master.startswith("local")

    @property
    def remote_host(self) -> str:
        assert self.remote is not None
        host = urlsplit("http://" + self.remote[len("sc://") :]).hostname
        assert host is not None
        return host

    @property
    def remote_port(self) -> int:
        assert self.remote is not None
        return urlsplit("http://" + self.remote[len("sc://") :]).port or DEFAULT_CONNECT_PORT

    @property
    def remote_params(self) -> dict[str, str]:
        assert self.remote is not None
        path = urlsplit("http://" + self.remote[len("sc://") :]).path
        pairs = (item.split("=", 1) for item in path[2:].split(";") if item)
        return {pair[0]: (pair[1] if len(pair) > 1 else "") for pair in pairs}

    @property
    def remote_endpoint(self) -> str:
        """``sc://host:port`` without parameters (for messages and profiles)."""
        host = self.remote_host
        host = f"[{host}]" if ":" in host else host
        return f"sc://{host}:{self.remote_port}"

    def master_endpoints(self) -> list[tuple[str, int]]:
        """Host and port of every standalone master, or of the Kubernetes API server."""
        master = self.effective_master
        if master.startswith("spark://"):
            items = master[len("spark://") :].split(",")
        elif master.startswith("k8s://"):
            rest = master[len("k8s://") :]
            items = [rest.split("://", 1)[1] if "://" in rest else rest]
        else:
            return []
        endpoints = []
        for item in items:
            host, _, port = item.rpartition(":")
            endpoints.append((host.strip("[]"), int(port)))
        return endpoints

    def default_ui_url(self) -> str | None:
        if self.ui_url is not None:
            return self.ui_url.rstrip("/")
        if self.mode == "connect":
            host = self.remote_host
            host = f"[{host}]" if ":" in host else host
            return f"http://{host}:{DEFAULT_UI_PORT}"
        return None
