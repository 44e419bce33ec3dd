"""The diagnostic contract: stable codes and severities, one-line format, and secret masking in
the source excerpts the console shows."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe_tui.governance import CATALOGUE, Diagnostic, Severity
from floe_tui.governance.diagnostics import excerpt, mask_secrets, mask_source

#: DESIGN section 3: a stable public contract.
CODES = {
    "FLOE-E100", "FLOE-E101", "FLOE-E102", "FLOE-E200", "FLOE-E201", "FLOE-E202", "FLOE-E203",
    "FLOE-E300", "FLOE-E301", "FLOE-E302", "FLOE-E303", "FLOE-E304", "FLOE-E305",
    "FLOE-E400", "FLOE-E401", "FLOE-E402", "FLOE-W500",
}  # fmt: skip


def test_the_catalogue_holds_exactly_the_documented_codes() -> None:
    assert set(CATALOGUE) == CODES
    for code, (severity, meaning) in CATALOGUE.items():
        assert severity is (Severity.WARNING if code.startswith("FLOE-W") else Severity.ERROR)
        assert meaning


def test_a_diagnostic_takes_its_severity_from_the_catalogue_and_formats_on_one_line() -> None:
    diagnostic = Diagnostic.make("FLOE-W500", "approved compute `x` is unused", "a/b.yaml", (3, 7), "use it")
    assert diagnostic.severity is Severity.WARNING and not diagnostic.is_error
    assert (
        diagnostic.format()
        == "a/b.yaml:3:7: FLOE-W500 warning: approved compute `x` is unused (hint: use it)"
    )
    assert Diagnostic.make("FLOE-E100", "m", "f", (1, 1), "h").is_error
    assert set(diagnostic.model_dump()) == {"code", "severity", "message", "file", "line", "column", "hint"}


def test_an_unknown_code_cannot_be_made() -> None:
    with pytest.raises(KeyError):
        Diagnostic.make("FLOE-E999", "m", "f", (1, 1), "h")


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("password: hunter2", "password: ****"),
        ("  Token: 'abc def'  # rotate monthly", "  Token: ****"),
        ('  "api_key": abc', '  "api_key": ****'),
        ("    - private_key: abc", "    - private_key: ****"),
        (
            "connection: {path: x.duckdb, password: hunter2, threads: 2}",
            "connection: {path: x.duckdb, password: ****",
        ),
        ('connection: {password: "a,b}c", threads: 2}', "connection: {password: ****"),
        ("- {name: x, credentials: {token: abc}}", "- {name: x, credentials: ****"),
        ("credentials: {s3_key_id: {env: K}, s3_secret: abc}", "credentials: ****"),
        ("path: lake.duckdb", "path: lake.duckdb"),
        ("s3_secret_env: S3", "s3_secret_env: S3"),  # a name that merely contains "secret"
        ("# the password lives in the vault", "# the password lives in the vault"),
    ],
)
def test_a_secret_on_one_line_is_masked(line: str, shown: str) -> None:
    assert mask_secrets(line) == shown


def test_multi_line_secrets_and_credential_blocks_are_masked() -> None:
    source = [
        "    - name: duckdb",
        "      credentials:",
        "        s3_key_id: {env: ACME_KEY}",
        "        # a comment stays",
        "        s3_secret: verysecret1",
        "        session:",
        "          env: ACME_SESSION",
        "        note: |",
        "          verysecret2",
        "      password: >-",
        "        verysecret3",
        "        verysecret4",
        "      token: 'verysecret5",
        "        verysecret6'",
        "      pool: {size: 2}",
    ]
    assert mask_source(source) == [
        "    - name: duckdb",
        "      credentials:",
        "        s3_key_id: {env: ACME_KEY}",
        "        # a comment stays",
        "        s3_secret: ****",
        "        session:",
        "          env: ACME_SESSION",
        "        note: ****",
        "          ****",
        "      password: ****",
        "        ****",
        "        ****",
        "      token: ****",
        "        ****",
        "      pool: {size: 2}",
    ]


def test_an_excerpt_is_numbered_masked_and_clipped_to_the_file(tmp_path: Path) -> None:
    path = tmp_path / "enterprise.yaml"
    path.write_text("a: 1\ncredentials:\n  pat: ghp_verysecret\nb: 2\n", encoding="utf-8")
    assert excerpt(path, 1) == [(1, "a: 1"), (2, "credentials:"), (3, "  pat: ****")]
    assert excerpt(path, 4, context=1) == [(3, "  pat: ****"), (4, "b: 2")]
    assert excerpt(tmp_path / "gone.yaml", 1) == []
