"""A service-account keyfile, end to end: google-auth signs a JWT with the test's RSA key and
trades it for an access token at the keyfile's token_uri (a loopback stub started here: Google's
token service cannot run on this machine), then the client queries the emulator with it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from floe_compute_bigquery import BigQueryComputePlugin
from floe_tui.compute import ComputeConfig, ConnectionFailedError

Open = Callable[[ComputeConfig], BigQueryComputePlugin]


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_a_keyfile_gets_its_token_from_its_token_uri_and_queries(
    bq_target: Callable[..., ComputeConfig], open_plugin: Open, token_stub: Any, make_keyfile: Any
) -> None:
    keyfile = make_keyfile(token_stub.url)
    plugin = open_plugin(bq_target(credentials={"keyfile": {"file": str(keyfile.path)}}))
    assert plugin.execute("SELECT 'signed' AS s").fetch_all().to_pylist() == [{"s": "signed"}]
    assert len(token_stub.grants) == 1, "one token for the target, fetched at connect"
    grant = token_stub.grants[0]
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    header, claims, signature = grant["assertion"].split(".")
    assert json.loads(_b64(header))["alg"] == "RS256"
    payload = json.loads(_b64(claims))
    # (google-auth names Google's token service as the audience, a claim only: it posted here.)
    assert payload["iss"] == keyfile.client_email and payload["exp"] > payload["iat"]
    assert "https://www.googleapis.com/auth/bigquery" in payload["scope"].split()
    # Signed with the keyfile's private key (raises if not).
    keyfile.public_key.verify(
        _b64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
    )


def test_a_token_service_that_refuses_the_key(
    bq_target: Callable[..., ComputeConfig], token_stub: Any, make_keyfile: Any
) -> None:
    token_stub.refuse = True
    keyfile = make_keyfile(token_stub.url)
    plugin = BigQueryComputePlugin(bq_target(credentials={"keyfile": {"file": str(keyfile.path)}}))
    with pytest.raises(ConnectionFailedError) as caught:
        plugin.connect()
    error = caught.value
    assert error.code == "FLOE-C300" and "access token" in error.message and "invalid_grant" in error.message
    assert "keyfile" in error.hint
    key_body = keyfile.private_key_pem.splitlines()[1]
    assert key_body not in str(error)


def test_a_token_service_that_is_not_there(
    bq_target: Callable[..., ComputeConfig], make_keyfile: Any
) -> None:
    from floe_tui.testing import free_port

    keyfile = make_keyfile(f"http://127.0.0.1:{free_port()}/token")
    plugin = BigQueryComputePlugin(
        bq_target(credentials={"keyfile": {"file": str(keyfile.path)}}, pool={"connect_timeout_s": 10})
    )
    with pytest.raises(ConnectionFailedError) as caught:
        plugin.connect()
    assert "access token" in caught.value.message and caught.value.code == "FLOE-C300"
