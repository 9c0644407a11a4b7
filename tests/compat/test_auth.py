"""SigV4 authentication failures use the AWS front-door error codes."""

import secrets
import string
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

from compat_helpers import error_code, utcnow


def _random_access_key_id() -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))


def test_correctly_signed_raw_request_succeeds(server):
    resp = server.raw("ListDocuments", {})
    assert resp.status == 200, resp
    assert resp.headers.get("content-type", "").startswith("application/x-amz-json-1.1")
    assert isinstance(resp.json, dict) and "DocumentIdentifiers" in resp.json, resp


def test_unsigned_request_is_missing_authentication_token(server):
    resp = server.raw("ListDocuments", {}, sign=False)
    assert resp.status in (400, 403), resp
    assert resp.error_type == "MissingAuthenticationTokenException", resp


def test_wrong_secret_key_is_invalid_signature(server, ssm_client_factory):
    client = ssm_client_factory(secret_key="wrong-" + server.key["SecretAccessKey"])
    with pytest.raises(ClientError) as exc:
        client.list_documents()
    assert error_code(exc.value) == "InvalidSignatureException", exc.value.response
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] in (400, 403)

    resp = server.raw("ListDocuments", {}, secret_key="not-the-secret")
    assert resp.status in (400, 403), resp
    assert resp.error_type == "InvalidSignatureException", resp


def test_body_changed_after_signing_is_invalid_signature(server):
    resp = server.raw("ListDocuments", {"MaxResults": 5}, send_body=b'{"MaxResults": 6}')
    assert resp.status in (400, 403), resp
    assert resp.error_type == "InvalidSignatureException", resp


def test_unknown_access_key_is_unrecognized_client(ssm_client_factory):
    client = ssm_client_factory(access_key=_random_access_key_id(), secret_key=secrets.token_hex(20))
    with pytest.raises(ClientError) as exc:
        client.list_documents()
    assert error_code(exc.value) == "UnrecognizedClientException", exc.value.response


def test_request_signed_ten_minutes_ago_is_rejected_as_signature_expired(server):
    resp = server.raw("ListDocuments", {}, signed_at=utcnow() - timedelta(minutes=10))
    assert resp.status in (400, 403), resp
    assert resp.error_type == "InvalidSignatureException", resp
    assert "Signature expired" in resp.message, resp


def test_request_signed_ten_minutes_in_the_future_is_rejected(server):
    resp = server.raw("ListDocuments", {}, signed_at=utcnow() + timedelta(minutes=10))
    assert resp.status in (400, 403), resp
    assert resp.error_type == "InvalidSignatureException", resp


def test_request_signed_a_minute_ago_is_accepted(server):
    resp = server.raw("ListDocuments", {}, signed_at=utcnow() - timedelta(minutes=1))
    assert resp.status == 200, resp
