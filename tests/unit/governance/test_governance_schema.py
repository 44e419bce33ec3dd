"""Schema diagnostics (E101) and the faults with a more specific code (E305, E401): one fault, one
diagnostic, at the key for an unknown or forbidden key and at the value for a wrong value."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from floe_tui.governance import compile_manifests

Diagnose = Callable[[Path], list[tuple[str, str, int, int]]]
WriteTree = Callable[..., Path]
ENTERPRISE = "enterprise.yaml"
DOMAIN = "domains/sales/manifest.yaml"
PRODUCT = "domains/sales/products/orders/floe.yaml"
PRODUCT_HEAD = """\
apiVersion: floe.dev/v1
kind: FloeSpec
metadata: {name: orders}
platform: {manifest: ../../manifest.yaml}
"""
DOMAIN_TEXT = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: sales, scope: domain}
parent: ../../enterprise.yaml
"""
ENTERPRISE_HEAD = """\
apiVersion: floe.dev/v1
kind: Manifest
metadata: {name: acme, scope: enterprise}
compute:
  approved:
"""


@pytest.mark.parametrize(
    ("product", "line", "column"),
    [
        pytest.param(
            PRODUCT_HEAD
            + "transforms:\n  - {name: stg_orders, comptue: duckdb}\n  - {name: x, compute: duckdb_big}\n",
            6,
            24,
            id="unknown-key-in-a-transform",
        ),
        pytest.param(
            PRODUCT_HEAD + "owner: orders@acme.example\ntransforms:\n  - {name: a, compute: duckdb_big}\n",
            5,
            1,
            id="unknown-top-level-key",
        ),
        pytest.param(
            PRODUCT_HEAD.replace("{name: orders}", "{name: orders, team: x}")
            + "transforms:\n  - {name: a, compute: duckdb_big}\n",
            3,
            26,
            id="unknown-key-in-metadata",
        ),
    ],
)
def test_an_unknown_key_is_e101_at_the_key(
    write_tree: WriteTree, diagnose: Diagnose, product: str, line: int, column: int
) -> None:
    assert diagnose(write_tree({PRODUCT: product})) == [("FLOE-E101", PRODUCT, line, column)]


def test_a_missing_field_is_e101_at_its_parent_key(write_tree: WriteTree, diagnose: Diagnose) -> None:
    product = PRODUCT_HEAD.replace("{name: orders}", "{owner: orders@acme.example}")
    product += "transforms:\n  - {name: a, compute: duckdb_big}\n"
    assert diagnose(write_tree({PRODUCT: product})) == [("FLOE-E101", PRODUCT, 3, 1)]


def test_a_missing_top_level_field_is_e101_at_the_start_of_the_file(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    root = write_tree(
        {PRODUCT: PRODUCT_HEAD, ENTERPRISE: ENTERPRISE_HEAD + "    - {name: duckdb}\n  default: duckdb\n"}
    )
    plan = compile_manifests(root)
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [("FLOE-E101", PRODUCT, 1, 1)]
    assert "transforms" in plan.diagnostics[0].message


def test_an_empty_transform_list_is_e101_at_the_list(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree(
        {
            PRODUCT: PRODUCT_HEAD + "transforms: []\n",
            ENTERPRISE: ENTERPRISE_HEAD + "    - {name: duckdb}\n  default: duckdb\n",
        }
    )
    assert diagnose(root) == [("FLOE-E101", PRODUCT, 5, 13)]


@pytest.mark.parametrize(
    ("transforms", "line", "column"),
    [
        pytest.param("transforms: {stg_orders: duckdb}\n", 5, 13, id="mapping-for-a-list"),
        pytest.param("transforms:\n  - {name: a, compute: [duckdb_big]}\n", 6, 24, id="list-for-a-name"),
        pytest.param("transforms:\n  - {name: a, compute: 7}\n", 6, 24, id="int-for-a-name"),
        pytest.param("transforms:\n  - duckdb_big\n", 6, 5, id="text-for-a-mapping"),
        pytest.param(
            "transforms:\n  - {name: a, compute: duckdb_big, description: {x: 1}}\n", 6, 49, id="map-for-text"
        ),
    ],
)
def test_a_wrong_type_is_e101_at_the_value(
    write_tree: WriteTree, diagnose: Diagnose, transforms: str, line: int, column: int
) -> None:
    root = write_tree(
        {
            PRODUCT: PRODUCT_HEAD + transforms,
            ENTERPRISE: ENTERPRISE_HEAD.replace(
                "approved:\n", "approved: [{name: duckdb_big, plugin: duckdb}]\n  default: duckdb_big\n"
            ),
        }
    )
    assert diagnose(root) == [("FLOE-E101", PRODUCT, line, column)]


@pytest.mark.parametrize(
    ("file", "text", "line", "column"),
    [
        pytest.param(
            PRODUCT,
            PRODUCT_HEAD.replace("{name: orders}", "{name: Orders}")
            + "transforms:\n  - {name: a, compute: duckdb_big}\n",
            3,
            18,
            id="product-name-with-capitals",
        ),
        pytest.param(
            PRODUCT,
            PRODUCT_HEAD + "transforms:\n  - {name: fct-orders, compute: duckdb_big}\n  - {name: b}\n",
            6,
            12,
            id="transform-name-with-a-dash",
        ),
        pytest.param(
            ENTERPRISE,
            ENTERPRISE_HEAD
            + "    - {name: duckdb}\n    - {name: Duck Big, plugin: duckdb}\n  default: duckdb\n",
            7,
            14,
            id="target-name-with-a-space",
        ),
        pytest.param(
            DOMAIN,
            DOMAIN_TEXT.replace("{name: sales", "{name: _sales"),
            3,
            18,
            id="domain-name-starting-with-underscore",
        ),
    ],
)
def test_a_bad_name_is_e101_at_the_name(
    write_tree: WriteTree, diagnose: Diagnose, file: str, text: str, line: int, column: int
) -> None:
    plan = compile_manifests(write_tree({file: text}))
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E101", file, line, column)
    ]
    assert "not a valid name" in plan.diagnostics[0].message


def test_a_duplicate_key_is_e101_at_the_repeat(write_tree: WriteTree, diagnose: Diagnose) -> None:
    product = (
        PRODUCT_HEAD
        + "transforms:\n  - {name: a}\n  - {name: b, compute: duckdb_big}\nplatform: {manifest: x}\n"
    )
    assert diagnose(write_tree({PRODUCT: product})) == [("FLOE-E101", PRODUCT, 8, 1)]


@pytest.mark.parametrize(
    ("head", "line", "column", "words"),
    [
        ("apiVersion: floe.dev/v2\nkind: FloeSpec\n", 1, 13, "apiVersion"),
        ("apiVersion: floe.dev/v1\nkind: Floespec\n", 2, 7, "kind"),
        ("apiVersion: floe.dev/v1\n", 1, 1, "kind"),
    ],
)
def test_an_unsupported_api_version_or_kind_is_e101(
    write_tree: WriteTree, head: str, line: int, column: int, words: str
) -> None:
    root = write_tree({DOMAIN: head + "metadata: {name: sales, scope: domain}\n"})
    plan = compile_manifests(root)
    # The products below the broken domain are not linked: nothing else is reported.
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E101", DOMAIN, line, column)
    ]
    assert words in plan.diagnostics[0].message


def test_a_bad_scope_is_e101_at_the_scope(write_tree: WriteTree, diagnose: Diagnose) -> None:
    domain = DOMAIN_TEXT.replace("scope: domain", "scope: team")
    assert diagnose(write_tree({DOMAIN: domain})) == [("FLOE-E101", DOMAIN, 3, 32)]


def test_an_enterprise_without_compute_is_e101(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = "apiVersion: floe.dev/v1\nkind: Manifest\nmetadata: {name: acme, scope: enterprise}\n"
    assert diagnose(write_tree({ENTERPRISE: enterprise})) == [("FLOE-E101", ENTERPRISE, 3, 1)]


def test_an_enterprise_with_an_empty_approved_list_is_e101(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = ENTERPRISE_HEAD.replace("approved:\n", "approved: []\n  default: duckdb\n")
    assert diagnose(write_tree({ENTERPRISE: enterprise})) == [("FLOE-E101", ENTERPRISE, 5, 13)]


def test_files_of_other_tools_are_ignored(write_tree: WriteTree, diagnose: Diagnose) -> None:
    root = write_tree(
        {
            ".github/workflows/ci.yaml": "on: [push]\njobs: {}\n",
            "dbt_project.yml": "name: orders\nversion: '1.0'\n",
            "k8s.yaml": "apiVersion: apps/v1\nkind: Deployment\n",
            "empty.yaml": "",
            "list.yaml": "- 1\n- 2\n",
        }
    )
    assert diagnose(root) == []


# -- E305: literal secrets -------------------------------------------------------------------------
SECRET = "hunter2-Sup3r-S3cret"


@pytest.mark.parametrize(
    ("target", "line", "column"),
    [
        pytest.param(
            f"    - name: duckdb\n      connection: {{path: x.duckdb, password: {SECRET}}}\n",
            7,
            36,
            id="secret-named-key-in-connection",
        ),
        pytest.param(
            f"    - name: duckdb\n      connection:\n        API_KEY: {SECRET}\n",
            8,
            9,
            id="key-names-ignore-case",
        ),
        pytest.param(
            f"    - name: duckdb\n      credentials: {{s3_key_id: {{env: K}}, s3_secret: {SECRET}}}\n",
            7,
            53,
            id="literal-credential",
        ),
        pytest.param(
            "    - name: duckdb\n      environments:\n"
            f"        prod: {{credentials: {{s3_secret: '{SECRET}'}}}}\n",
            8,
            41,
            id="literal-credential-in-an-override",
        ),
        pytest.param(
            "    - name: duckdb\n      environments:\n"
            f"        prod:\n          connection: {{token: {SECRET}}}\n",
            9,
            24,
            id="secret-in-an-override-connection",
        ),
    ],
)
def test_a_literal_secret_is_e305_only_and_never_quoted(
    write_tree: WriteTree, target: str, line: int, column: int
) -> None:
    enterprise = ENTERPRISE_HEAD + target + "    - {name: duckdb_big, plugin: duckdb}\n  default: duckdb\n"
    plan = compile_manifests(write_tree({ENTERPRISE: enterprise}))
    assert [(d.code, d.file, d.line, d.column) for d in plan.diagnostics] == [
        ("FLOE-E305", ENTERPRISE, line, column)
    ]
    assert all(SECRET not in d.model_dump_json() for d in plan.diagnostics)


def test_a_reference_is_not_a_literal_secret(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = ENTERPRISE_HEAD + (
        "    - name: duckdb\n"
        "      credentials: {s3_key_id: {env: ACME_KEY_ID}, s3_secret: {file: /run/secrets/s3}}\n"
        "    - {name: duckdb_big, plugin: duckdb}\n"
        "  default: duckdb\n"
    )
    assert diagnose(write_tree({ENTERPRISE: enterprise})) == []


def test_a_reference_naming_both_env_and_file_is_e101(write_tree: WriteTree, diagnose: Diagnose) -> None:
    enterprise = ENTERPRISE_HEAD + (
        "    - name: duckdb\n"
        "      credentials: {s3_secret: {env: S3, file: /run/s3}}\n"
        "    - {name: duckdb_big, plugin: duckdb}\n"
        "  default: duckdb\n"
    )
    assert diagnose(write_tree({ENTERPRISE: enterprise})) == [("FLOE-E101", ENTERPRISE, 7, 32)]


# -- E401: an override changes a plugin ----------------------------------------------------------
def test_a_plugin_in_an_override_is_e401_at_the_key_and_not_also_e101(
    write_tree: WriteTree, diagnose: Diagnose
) -> None:
    enterprise = ENTERPRISE_HEAD + (
        "    - name: duckdb\n"
        "      environments:\n"
        "        staging: {plugin: duckdb}\n"
        "        prod:\n"
        "          connection: {threads: 8}\n"
        "          plugin: spark\n"
        "    - {name: duckdb_big, plugin: duckdb}\n"
        "  default: duckdb\n"
    )
    assert diagnose(write_tree({ENTERPRISE: enterprise})) == [
        ("FLOE-E401", ENTERPRISE, 8, 19),
        ("FLOE-E401", ENTERPRISE, 11, 11),
    ]
