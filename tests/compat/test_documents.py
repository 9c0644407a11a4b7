"""Custom Command documents: CRUD, versions, YAML, parameters validation."""

import json

import pytest
from botocore.exceptions import ClientError

from compat_helpers import (
    all_document_names,
    error_code,
    sha256_hex,
    unique_name,
    wait_command,
)


def _doc(echo_prefix: str) -> dict:
    return {
        "schemaVersion": "2.2",
        "description": "compat test document",
        "parameters": {
            "greeting": {
                "type": "String",
                "description": "word to print",
                "default": "hi",
                "allowedPattern": "^[a-z-]+$",
            },
            "color": {
                "type": "String",
                "default": "red",
                "allowedValues": ["red", "green"],
            },
        },
        "mainSteps": [{
            "action": "aws:runShellScript",
            "name": "sayHello",
            "inputs": {"runCommand": [f"echo {echo_prefix}{{{{ greeting }}}}-{{{{ color }}}}"]},
        }],
    }


YAML_DOC = """\
schemaVersion: '2.2'
description: compat yaml document
parameters:
  name:
    type: String
    default: world
mainSteps:
  - action: aws:runShellScript
    name: greet
    inputs:
      runCommand:
        - echo "yaml-{{ name }}"
"""


def _assert_invalid_parameters(ssm, name, target, parameters):
    with pytest.raises(ClientError) as exc:
        ssm.send_command(DocumentName=name, InstanceIds=[target], Parameters=parameters)
    assert error_code(exc.value) == "InvalidParameters", exc.value.response


def test_json_document_lifecycle_with_versions_and_parameters(ssm, instances):
    name = unique_name("CompatDoc")
    v1 = json.dumps(_doc("v1 "))
    v2 = json.dumps(_doc("v2 "))

    created = ssm.create_document(Content=v1, Name=name, DocumentType="Command",
                                  DocumentFormat="JSON")["DocumentDescription"]
    try:
        assert created["Name"] == name
        assert created["DocumentType"] == "Command"
        assert created["DocumentFormat"] == "JSON"
        assert created["SchemaVersion"] == "2.2"
        assert created["DocumentVersion"] == "1"
        assert created["LatestVersion"] == "1"
        assert created["DefaultVersion"] == "1"
        assert created["Status"] in ("Creating", "Active")
        assert created["HashType"] == "Sha256"
        assert created["Hash"] == sha256_hex(v1)
        assert "Linux" in created["PlatformTypes"]
        params = {p["Name"]: p for p in created["Parameters"]}
        assert set(params) == {"greeting", "color"}
        assert params["greeting"]["Type"] == "String"
        assert params["greeting"]["DefaultValue"] == "hi"
        assert name in all_document_names(ssm)

        with pytest.raises(ClientError) as exc:
            ssm.create_document(Content=v1, Name=name, DocumentType="Command")
        assert error_code(exc.value) == "DocumentAlreadyExists"

        got = ssm.get_document(Name=name)
        assert got["Name"] == name
        assert got["DocumentVersion"] == "1"
        assert got["DocumentType"] == "Command"
        assert got["DocumentFormat"] == "JSON"
        assert json.loads(got["Content"]) == json.loads(v1)

        desc = ssm.describe_document(Name=name)["Document"]
        assert desc["Name"] == name
        assert desc["DefaultVersion"] == "1"
        assert desc["LatestVersion"] == "1"
        assert desc["Status"] == "Active"

        updated = ssm.update_document(Content=v2, Name=name, DocumentVersion="$LATEST",
                                      DocumentFormat="JSON")["DocumentDescription"]
        assert updated["DocumentVersion"] == "2"
        assert updated["LatestVersion"] == "2"
        assert updated["DefaultVersion"] == "1"

        with pytest.raises(ClientError) as exc:
            ssm.update_document(Content=v2, Name=name, DocumentVersion="$LATEST")
        assert error_code(exc.value) == "DuplicateDocumentContent"

        desc = ssm.describe_document(Name=name)["Document"]
        assert desc["DefaultVersion"] == "1"
        assert desc["LatestVersion"] == "2"
        assert json.loads(ssm.get_document(Name=name)["Content"]) == json.loads(v1)
        assert json.loads(ssm.get_document(Name=name, DocumentVersion="2")["Content"]) == json.loads(v2)
        assert json.loads(ssm.get_document(Name=name, DocumentVersion="$LATEST")["Content"]) == json.loads(v2)
        assert ssm.describe_document(Name=name, DocumentVersion="2")["Document"]["DocumentVersion"] == "2"

        versions = ssm.list_document_versions(Name=name)["DocumentVersions"]
        by_version = {v["DocumentVersion"]: v for v in versions}
        assert set(by_version) == {"1", "2"}
        assert by_version["1"]["IsDefaultVersion"] is True
        assert by_version["2"]["IsDefaultVersion"] is False
        assert all(v["Name"] == name for v in versions)

        default = ssm.update_document_default_version(Name=name, DocumentVersion="2")["Description"]
        assert default["Name"] == name
        assert default["DefaultVersion"] == "2"
        assert ssm.describe_document(Name=name)["Document"]["DefaultVersion"] == "2"
        versions = ssm.list_document_versions(Name=name)["DocumentVersions"]
        assert {v["DocumentVersion"]: v["IsDefaultVersion"] for v in versions} == {"1": False, "2": True}

        # run the default version (2) with explicit parameters
        target = instances[0]
        resp = ssm.send_command(DocumentName=name, InstanceIds=[target],
                                Parameters={"greeting": ["hey"], "color": ["green"]})
        cid = resp["Command"]["CommandId"]
        cmd = wait_command(ssm, cid, timeout=60)
        assert cmd["Status"] == "Success", cmd
        assert cmd["DocumentVersion"] in ("2", "$DEFAULT")
        out = ssm.get_command_invocation(CommandId=cid, InstanceId=target, PluginName="sayHello")
        assert out["Status"] == "Success"
        assert "v2 hey-green" in out["StandardOutputContent"]

        # explicit older version, defaults filled in
        resp = ssm.send_command(DocumentName=name, DocumentVersion="1", InstanceIds=[target])
        cid = resp["Command"]["CommandId"]
        assert wait_command(ssm, cid, timeout=60)["Status"] == "Success"
        out = ssm.get_command_invocation(CommandId=cid, InstanceId=target)
        assert "v1 hi-red" in out["StandardOutputContent"]

        _assert_invalid_parameters(ssm, name, target, {"greeting": ["HEY!"]})   # allowedPattern
        _assert_invalid_parameters(ssm, name, target, {"color": ["blue"]})      # allowedValues
        _assert_invalid_parameters(ssm, name, target, {"nope": ["x"]})          # unknown parameter
    finally:
        ssm.delete_document(Name=name)

    with pytest.raises(ClientError) as exc:
        ssm.describe_document(Name=name)
    assert error_code(exc.value) == "InvalidDocument"
    assert name not in all_document_names(ssm)
    with pytest.raises(ClientError) as exc:
        ssm.send_command(DocumentName=name, InstanceIds=[instances[0]])
    assert error_code(exc.value) == "InvalidDocument"


def test_yaml_document_is_stored_runs_and_converts_to_json(ssm, instances):
    name = unique_name("CompatYaml")
    created = ssm.create_document(Content=YAML_DOC, Name=name, DocumentType="Command",
                                  DocumentFormat="YAML")["DocumentDescription"]
    try:
        assert created["DocumentFormat"] == "YAML"
        assert created["SchemaVersion"] == "2.2"
        assert [p["Name"] for p in created["Parameters"]] == ["name"]

        got = ssm.get_document(Name=name)
        assert got["DocumentFormat"] == "YAML"
        assert got["Content"] == YAML_DOC

        as_json = ssm.get_document(Name=name, DocumentFormat="JSON")
        assert as_json["DocumentFormat"] == "JSON"
        parsed = json.loads(as_json["Content"])
        assert parsed["schemaVersion"] == "2.2"
        assert parsed["mainSteps"][0]["action"] == "aws:runShellScript"
        assert parsed["mainSteps"][0]["inputs"]["runCommand"] == ['echo "yaml-{{ name }}"']

        target = instances[1]
        resp = ssm.send_command(DocumentName=name, InstanceIds=[target],
                                Parameters={"name": ["compat"]})
        cid = resp["Command"]["CommandId"]
        assert wait_command(ssm, cid, timeout=60)["Status"] == "Success"
        out = ssm.get_command_invocation(CommandId=cid, InstanceId=target)
        assert "yaml-compat" in out["StandardOutputContent"]
    finally:
        ssm.delete_document(Name=name)


def test_builtin_run_shell_script_document_is_listed_and_described(ssm):
    desc = ssm.describe_document(Name="AWS-RunShellScript")["Document"]
    assert desc["Name"] == "AWS-RunShellScript"
    assert desc["DocumentType"] == "Command"
    assert desc["Owner"] == "Amazon"
    assert {"commands", "workingDirectory", "executionTimeout"} <= {p["Name"] for p in desc["Parameters"]}
    content = json.loads(ssm.get_document(Name="AWS-RunShellScript", DocumentFormat="JSON")["Content"])
    assert content["schemaVersion"] == "1.2"
    assert "aws:runShellScript" in content["runtimeConfig"]
