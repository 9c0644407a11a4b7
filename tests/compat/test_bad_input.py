"""Malformed or invalid requests are rejected with AWS error codes and change nothing."""

import json

import pytest
from botocore.exceptions import ClientError

from compat_helpers import (
    all_command_ids,
    all_document_names,
    error_code,
    error_message,
    unique_name,
)


def _valid_doc(**overrides) -> dict:
    doc = {
        "schemaVersion": "2.2",
        "description": "bad input test",
        "mainSteps": [{
            "action": "aws:runShellScript",
            "name": "run",
            "inputs": {"runCommand": ["echo ok"]},
        }],
    }
    doc.update(overrides)
    return doc


def _snapshot(ssm):
    return sorted(all_document_names(ssm)), sorted(all_command_ids(ssm))


def test_malformed_json_body_is_serialization_exception(ssm, server):
    before = _snapshot(ssm)
    resp = server.raw("SendCommand", b"{not json")
    assert resp.status == 400, resp
    assert resp.error_type == "SerializationException", resp
    assert resp.headers.get("content-type", "").startswith("application/x-amz-json-1.1")
    assert _snapshot(ssm) == before


def test_unknown_operation_is_unknown_operation_exception(ssm, server):
    before = _snapshot(ssm)
    resp = server.raw("FrobnicateTheWidgets", {})
    assert resp.status == 400, resp
    assert resp.error_type == "UnknownOperationException", resp
    assert _snapshot(ssm) == before


def test_document_step_without_action_is_invalid_document_content_naming_the_field(ssm):
    before = _snapshot(ssm)
    doc = _valid_doc(mainSteps=[{"name": "run", "inputs": {"runCommand": ["echo ok"]}}])
    name = unique_name("CompatBadDoc")
    with pytest.raises(ClientError) as exc:
        ssm.create_document(Content=json.dumps(doc), Name=name, DocumentType="Command")
    assert error_code(exc.value) == "InvalidDocumentContent", exc.value.response
    assert "action" in error_message(exc.value)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert _snapshot(ssm) == before


def test_send_command_to_unknown_instance_is_invalid_instance_id(ssm, instances):
    before = _snapshot(ssm)
    with pytest.raises(ClientError) as exc:
        ssm.send_command(
            DocumentName="AWS-RunShellScript",
            InstanceIds=["mi-" + "0" * 17],
            Parameters={"commands": ["echo nope"]},
        )
    assert error_code(exc.value) == "InvalidInstanceId", exc.value.response
    # one bad id among good ones rejects the whole request
    with pytest.raises(ClientError) as exc:
        ssm.send_command(
            DocumentName="AWS-RunShellScript",
            InstanceIds=[instances[0], "mi-" + "0" * 17],
            Parameters={"commands": ["echo nope"]},
        )
    assert error_code(exc.value) == "InvalidInstanceId", exc.value.response
    assert _snapshot(ssm) == before


def test_send_command_with_unknown_document_is_invalid_document(ssm, instances):
    before = _snapshot(ssm)
    with pytest.raises(ClientError) as exc:
        ssm.send_command(DocumentName=unique_name("NoSuchDoc"), InstanceIds=[instances[0]])
    assert error_code(exc.value) == "InvalidDocument", exc.value.response
    assert _snapshot(ssm) == before


def test_document_over_64_kb_is_max_document_size_exceeded(ssm):
    before = _snapshot(ssm)
    lines = [f"echo {n:04d} " + "x" * 100 for n in range(700)]
    content = json.dumps(_valid_doc(mainSteps=[{
        "action": "aws:runShellScript", "name": "run", "inputs": {"runCommand": lines}}]))
    assert len(content.encode()) > 64 * 1024
    name = unique_name("CompatHugeDoc")
    with pytest.raises(ClientError) as exc:
        ssm.create_document(Content=content, Name=name, DocumentType="Command")
    assert error_code(exc.value) == "MaxDocumentSizeExceeded", exc.value.response
    assert _snapshot(ssm) == before
