"""Steward.CreateGrant: grants for direct tasks, signed by the server, with AWS-style errors for bad input."""

import base64
import json
import time

import pytest

# An Ed25519 public key is any 32 bytes as far as the API is concerned; the agent checks possession later.
OPERATOR_KEY = base64.b64encode(bytes(range(32))).decode()


def create(server, **body):
    return server.raw("Steward.CreateGrant", body)


def payload(resp) -> dict:
    return json.loads(base64.b64decode(resp.json["Grant"]["payload"]))


def test_a_grant_names_the_operator_the_nodes_with_their_keys_and_what_it_allows(server, instances, ssm):
    node = instances[0]
    before = time.time()
    resp = create(server, OperatorPublicKey=OPERATOR_KEY, InstanceIds=[node], DocumentNames=["AWS-RunShellScript"],
                  Commands=["uptime"], TtlSeconds=600)
    assert resp.status == 200, resp
    assert resp.json["GrantId"].startswith("grant-")
    assert resp.json["Issuer"].startswith("SHA256:")
    assert resp.json["NodeCount"] == 1
    assert before + 590 < resp.json["ExpiresAt"] < time.time() + 610
    grant = payload(resp)
    assert grant["operatorKey"] == OPERATOR_KEY
    assert grant["instanceIds"] == [node]
    assert grant["commands"] == ["uptime"]
    assert grant["documents"] == [{"name": "AWS-RunShellScript"}]
    info = ssm.describe_instance_information(Filters=[{"Key": "InstanceIds", "Values": [node]}])
    assert node in grant["nodeKeys"] and info["InstanceInformationList"]
    assert resp.json["Grant"]["signature"]


def test_sessions_are_allowed_only_when_asked_for(server, instances):
    node = instances[0]
    shell = create(server, OperatorPublicKey=OPERATOR_KEY, InstanceIds=[node], Sessions=True)
    assert shell.status == 200, shell
    assert payload(shell)["sessions"] is True
    assert payload(shell)["documents"] == [] and payload(shell)["commands"] == []
    commands = create(server, OperatorPublicKey=OPERATOR_KEY, InstanceIds=[node], DocumentNames=["AWS-RunShellScript"])
    assert "sessions" not in payload(commands)
    wrong = create(server, OperatorPublicKey=OPERATOR_KEY, InstanceIds=[node], Sessions="yes")
    assert wrong.status == 400 and wrong.error_type == "SerializationException", wrong


def test_a_tag_target_carries_the_keys_of_the_nodes_that_match_now(server, instances):
    resp = create(server, OperatorPublicKey=OPERATOR_KEY, Targets=[{"Key": "InstanceIds", "Values": ["*"]}],
                  Commands=["uptime"])
    assert resp.status == 200, resp
    assert set(instances) <= set(payload(resp)["nodeKeys"])


def test_a_stored_document_is_pinned_by_the_hash_of_its_content(server, ssm):
    name = f"direct-doc-{int(time.time() * 1000)}"
    content = json.dumps({"schemaVersion": "2.2", "description": "d", "mainSteps": [
        {"action": "aws:runShellScript", "name": "s", "inputs": {"runCommand": ["true"]}}]})
    created = ssm.create_document(Name=name, Content=content, DocumentType="Command")
    resp = create(server, OperatorPublicKey=OPERATOR_KEY, Targets=[{"Key": "tag-key", "Values": ["nobody-has-this"]}],
                  DocumentNames=[name])
    assert resp.status == 200, resp
    assert payload(resp)["documents"] == [{"name": name, "sha256": created["DocumentDescription"]["Hash"]}]


@pytest.mark.parametrize("body, code", [
    ({"InstanceIds": ["mi-00000000000000000"], "Commands": ["x"]}, "ValidationException"),
    ({"OperatorPublicKey": "bm90IGEga2V5", "InstanceIds": ["mi-00000000000000000"], "Commands": ["x"]}, "ValidationException"),
    ({"OperatorPublicKey": OPERATOR_KEY, "Commands": ["x"]}, "ValidationException"),
    ({"OperatorPublicKey": OPERATOR_KEY, "InstanceIds": ["mi-00000000000000000"]}, "ValidationException"),
    ({"OperatorPublicKey": OPERATOR_KEY, "InstanceIds": ["mi-00000000000000000"], "Commands": ["x"], "TtlSeconds": 43201},
     "ValidationException"),
    ({"OperatorPublicKey": OPERATOR_KEY, "InstanceIds": ["mi-00000000000000000"], "Commands": ["x"], "TtlSeconds": 0},
     "ValidationException"),
    ({"OperatorPublicKey": OPERATOR_KEY, "InstanceIds": ["mi-00000000000000000"], "Commands": ["x"]}, "InvalidInstanceId"),
    ({"OperatorPublicKey": OPERATOR_KEY, "InstanceIds": ["not-an-id"], "Commands": ["x"]}, "InvalidInstanceId"),
    ({"OperatorPublicKey": OPERATOR_KEY, "Targets": [{"Key": "bogus", "Values": ["x"]}], "Commands": ["x"]}, "InvalidTarget"),
])
def test_bad_requests_get_aws_errors(server, body, code):
    resp = create(server, **body)
    assert resp.status == 400, resp
    assert resp.error_type == code, resp
    assert resp.json.get("message"), resp


def test_an_unknown_document_is_refused(server, instances):
    resp = create(server, OperatorPublicKey=OPERATOR_KEY, InstanceIds=[instances[0]], DocumentNames=["no-such-document"])
    assert resp.status == 400 and resp.error_type == "InvalidDocument", resp


def test_grants_need_a_signed_request(server):
    resp = server.raw("Steward.CreateGrant", {"OperatorPublicKey": OPERATOR_KEY}, sign=False)
    assert resp.error_type == "MissingAuthenticationTokenException", resp


def test_list_commands_stays_valid_for_boto3_with_the_origin_member(ssm, instances):
    sent = ssm.send_command(InstanceIds=[instances[0]], DocumentName="AWS-RunShellScript",
                            Parameters={"commands": ["true"]})
    listed = ssm.list_commands(CommandId=sent["Command"]["CommandId"])["Commands"]
    assert listed and listed[0]["DocumentName"] == "AWS-RunShellScript"
