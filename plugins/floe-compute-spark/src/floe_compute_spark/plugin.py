"""Apache Spark: a classic session on this machine or a cluster master, or a Spark Connect server.

Importing this module imports no pyspark and starts no JVM: both happen on the first
``connect()`` (registry discovery loads every installed plugin class, and the console must start
fast). See the package README for local and cluster use.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import SecretStr

from floe_compute_spark import __version__
from floe_compute_spark.config import SparkConnection
from floe_compute_spark.connection import SparkSlot
from floe_tui.compute import (
    CatalogConfig,
    ComputeConfig,
    ConfigError,
    ConnectionFailedError,
    ConnectionResult,
    ConnectTimeoutError,
    MemoryStats,
    NotConnectedError,
    PooledComputePlugin,
    ResourcePreset,
    ResourceSize,
    ResourceSpec,
    dbt_env_var,
    resource_preset,
    run_bounded,
)

if TYPE_CHECKING:
    from floe_compute_spark.engine import SparkEngine

#: A Spark driver: JVM heap (spark.driver.memory 1g / 4g / 8g) plus overhead and this Python process.
_RESOURCES: dict[str, ResourcePreset] = {
    "small": ("1", "2", "2Gi", "3Gi"),
    "medium": ("2", "4", "6Gi", "8Gi"),
    "large": ("4", "8", "12Gi", "16Gi"),
}
DRIVER_MEMORY = {"small": "1g", "medium": "4g", "large": "8g"}
PYSPARK_REQUIREMENT = "pyspark[connect]>=4.0,<5"
DBT_REQUIREMENT = "dbt-spark~=1.10.0"
#: What dbt-spark's thrift and http methods import (its PyHive extra, without that extra's thrift pin).
THRIFT_REQUIREMENTS = ["pyhive~=0.7.0", "pure-sasl>=0.6.2", "thrift_sasl>=0.4.3"]
#: Maven coordinates of the Iceberg runtime for Spark 4.0 / Scala 2.13 (not on PyPI).
ICEBERG_RUNTIME = "org.apache.iceberg:iceberg-spark-runtime-4.0_2.13"
ICEBERG_EXTENSIONS = "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions"
_UI_RETRY_S = 10.0


class SparkComputePlugin(PooledComputePlugin[SparkConnection, SparkSlot]):
    """A Spark target: one session (classic or Spark Connect), ``pool.size`` concurrent query slots."""

    name: ClassVar[str] = "spark"
    version: ClassVar[str] = __version__
    description: ClassVar[str] = (
        "Apache Spark: local[N], spark://, yarn or k8s:// masters in this process, or Spark Connect (sc://)"
    )
    is_self_hosted: ClassVar[bool] = True
    config_model: ClassVar[type[SparkConnection]] = SparkConnection
    #: `token`: the Spark Connect token (and dbt's http token); `password`: dbt thrift LDAP/CUSTOM auth.
    credential_names: ClassVar[frozenset[str]] = frozenset({"token", "password"})

    def __init__(self, config: ComputeConfig | None = None) -> None:
        super().__init__(config)
        self._engine: SparkEngine | None = None
        self._engine_lock = threading.Lock()
        self._ui_unreachable_until = 0.0

    # -- engine hooks ----------------------------------------------------------------------
    def _deadline(self) -> float:
        budget = self.config.pool.connect_timeout_s
        # Finish (and clean up) a little before the core gives up on us.
        return time.monotonic() + max(0.5, budget - min(1.0, budget * 0.1))

    def open_engine(self, connection: SparkConnection, secrets: Mapping[str, SecretStr]) -> None:
        engine: SparkEngine
        if connection.mode == "connect":
            from floe_compute_spark.connect import ConnectEngine

            engine = ConnectEngine(self.config.name, connection, secrets.get("token"))
        else:
            from floe_compute_spark.classic import ClassicEngine

            engine = ClassicEngine(self.config.name, connection)
        engine.open(self._deadline())
        with self._engine_lock:
            self._engine = engine

    def close_engine(self) -> None:
        with self._engine_lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.close()

    def open_connection(self) -> SparkSlot:
        engine = self._engine
        if engine is None:
            raise NotConnectedError(f"target {self.config.name!r} is not connected")
        engine.ensure_open(self._deadline())  # reconnects after the JVM or the server came back
        return SparkSlot(engine)

    def close_connection(self, conn: SparkSlot) -> None:
        conn.close()

    def check_connection(self, conn: SparkSlot) -> None:
        reason = conn.engine.failure()
        if reason is not None:
            raise ConnectionFailedError(reason)
        conn.reset()

    def validate_engine(self, connection: SparkConnection) -> list[str]:
        if importlib.util.find_spec("pyspark") is None:
            raise ConfigError("pyspark is not installed", f"pip install '{PYSPARK_REQUIREMENT}'")
        warnings: list[str] = []
        if connection.mode == "classic":
            home = os.environ.get("JAVA_HOME")
            if not (Path(home, "bin", "java").exists() if home else shutil.which("java")):
                raise ConfigError(
                    "no Java runtime found (Spark needs Java 17 or newer)",
                    "run plugins/floe-compute-spark/ensure-java.sh or apt-get install default-jre-headless",
                )
            master = connection.effective_master
            if master == "yarn" and not (
                os.environ.get("HADOOP_CONF_DIR") or os.environ.get("YARN_CONF_DIR")
            ):
                raise ConfigError(
                    "master yarn needs HADOOP_CONF_DIR or YARN_CONF_DIR in the environment",
                    "export HADOOP_CONF_DIR=/etc/hadoop/conf (the cluster's client configuration)",
                )
            if not connection.is_local:
                warnings.append(f"cluster master {master}: reachability is checked when connecting")
        elif connection.ui_url is None:
            warnings.append("memory_stats() reads the server's Spark UI at port 4040 unless ui_url is set")
        return warnings

    def validate_connection(self, config: ComputeConfig) -> ConnectionResult:
        result = super().validate_connection(config)
        if not result.success:
            return result
        connection = self.parse_connection(config)
        extra = []
        if "token" in config.credentials and connection.mode == "classic" and connection.dbt.method != "http":
            extra.append("credential `token` is only used with `remote` (Spark Connect) or dbt method http")
        if "password" in config.credentials and connection.dbt.method != "thrift":
            extra.append("credential `password` is only used by dbt method thrift")
        return result.model_copy(update={"warnings": [*result.warnings, *extra]}) if extra else result

    # -- health and memory -----------------------------------------------------------------
    def engine_failure(self, timeout: float) -> str | None:
        """Why the session's JVM or Spark Connect server is down, asked on a thread bounded by `timeout`."""
        engine = self._engine
        if engine is None:
            return "not connected"
        try:
            reason = run_bounded(timeout, engine.failure, f"{engine.description} did not answer")
        except ConnectTimeoutError:
            reason = f"{engine.description} did not answer within {timeout:g} s"
        return reason

    def memory_stats(self) -> MemoryStats | None:
        """Spark's storage memory of the driver and every executor (used / max), as the Spark UI shows.

        Classic sessions read it from the driver; Spark Connect has no RPC for it, so it comes from
        the server's Spark UI REST API (``ui_url``, default ``http://<remote host>:4040``): None when
        that is not reachable. The JVM heap is not reported (Spark exposes only its peak).
        """
        engine = self._engine
        if engine is None or not self.is_connected:
            return None
        if engine.mode == "connect" and time.monotonic() < self._ui_unreachable_until:
            return None
        try:
            items = engine.memory()
        except Exception:  # the JVM or the UI went away: no figures, not an error
            items = None
        if not items:
            if engine.mode == "connect":
                self._ui_unreachable_until = time.monotonic() + _UI_RETRY_S
            return None
        by_tag = {
            ("driver" if m.executor_id == "driver" else f"executor {m.executor_id}"): m.used_bytes
            for m in items
        }
        limit = sum(m.max_bytes for m in items)
        return MemoryStats(
            used_bytes=sum(m.used_bytes for m in items),
            limit_bytes=limit or None,
            temp_storage_bytes=sum(m.disk_bytes for m in items),
            by_tag=by_tag,
        )

    @property
    def driver_log(self) -> Path | None:
        """The classic driver JVM's log file (Spark's stdout and stderr), while it runs."""
        engine = self._engine
        return getattr(getattr(engine, "runtime", None), "log_path", None)

    # -- dbt, catalogs, resources ----------------------------------------------------------
    def generate_dbt_profile(self, config: ComputeConfig, environment: str) -> dict[str, Any]:
        """A dbt-spark output for `config`.

        - ``method: session`` (default): dbt runs Spark in its own process. With ``master`` it
          starts a driver on the same master (``server_side_parameters`` carry master and conf);
          with ``remote`` pyspark 4 opens a Spark Connect session from ``spark.remote``, whose token
          is an ``env_var`` reference inside that URL.
        - ``method: thrift`` / ``http``: a Spark Thrift Server at ``dbt.host``.

        dbt-spark's ``session`` extra pins pyspark below 4; install dbt-spark without it.
        """
        connection = self.parse_connection(config)
        dbt = connection.dbt
        output: dict[str, Any] = {"type": "spark", "method": dbt.method, "schema": dbt.schema_, "threads": 1}
        if dbt.method == "session":
            output["host"] = "NA"  # required by dbt-spark, unused by the session method
            parameters: dict[str, str] = dict(connection.conf)
            if connection.mode == "connect":
                remote = connection.remote or ""
                if "token" in config.credentials:
                    token = dbt_env_var(config, "token")
                    remote += (";" if "/;" in remote else "/;") + f"token={token}"
                parameters["spark.remote"] = remote
            else:
                parameters["spark.master"] = connection.effective_master
                parameters["spark.app.name"] = f"{connection.app_name}-dbt-{environment}"
            output["server_side_parameters"] = parameters
        elif dbt.method == "thrift":
            output.update(host=dbt.host, port=dbt.port or 10000, user=dbt.user or "floe", use_ssl=dbt.use_ssl)
            if dbt.auth is not None:
                output["auth"] = dbt.auth
            if "password" in config.credentials:
                output["password"] = dbt_env_var(config, "password")
        else:
            if "token" not in config.credentials:
                raise ConfigError(
                    "dbt method http needs credential `token`", "add credentials.token: {env: NAME}"
                )
            output.update(
                host=dbt.host,
                port=dbt.port or 443,
                cluster=dbt.cluster,
                organization=dbt.organization,
                token=dbt_env_var(config, "token"),
            )
        return output

    def get_catalog_attachment_sql(self, catalog: CatalogConfig) -> str | None:
        """None: Spark attaches catalogs through configuration, see :meth:`iceberg_catalog_conf`."""
        return None

    def iceberg_catalog_conf(self, catalog: CatalogConfig, *, include_token: bool = False) -> dict[str, str]:
        """Spark settings that attach an Iceberg REST catalog as `catalog.name`.

        Put them under the target's ``conf`` (catalog settings can change at run time, so each
        classic target and each Connect session gets its own). They need the
        ``iceberg-spark-runtime`` jar on the driver's classpath (``spark.jars``): it is published on
        Maven Central (``ICEBERG_RUNTIME``), not on PyPI, so it cannot be installed with pip and
        ``spark.jars.packages`` needs Maven access. The catalog token is left out unless
        `include_token`, which resolves its reference (never write the result to a manifest).
        """
        prefix = f"spark.sql.catalog.{catalog.name}"
        conf = {
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            f"{prefix}.type": "rest",
            f"{prefix}.uri": catalog.uri,
            "spark.sql.extensions": ICEBERG_EXTENSIONS,
        }
        if catalog.warehouse is not None:
            if any(ord(char) < 32 for char in catalog.warehouse):
                raise ConfigError("the catalog warehouse holds a control character", "remove it")
            conf[f"{prefix}.warehouse"] = catalog.warehouse
        if include_token and catalog.token is not None:
            conf[f"{prefix}.token"] = catalog.token.resolve().get_secret_value()
        return conf

    def get_resource_requirements(self, size: ResourceSize) -> ResourceSpec:
        """Requests and limits for the pod or machine running a Spark driver (and this process).

        Pair them with ``conf: {spark.driver.memory: ...}``: 1g, 4g and 8g (``DRIVER_MEMORY``).
        """
        return resource_preset(_RESOURCES, size)

    def get_required_packages(self) -> list[str]:
        packages = [PYSPARK_REQUIREMENT, "pyarrow>=15"]
        method = "session"
        if self._config is not None:
            method = self.connection_config.dbt.method
        # Never dbt-spark[session]: that extra pins pyspark below 4. Nor [PyHive]: it pins thrift<0.17,
        # which holds databricks-sql-connector back; PyHive's pieces, listed directly, do not.
        packages.append(DBT_REQUIREMENT)
        if method != "session":
            packages += THRIFT_REQUIREMENTS
        return packages
