"""{{ssm:...}} and {{ssm-secure:...}} are resolved when the server builds each sealed message."""

import uuid

from compat_helpers import assert_secret_absent, run_shell


def test_secure_reference_reaches_the_node_and_nothing_else(ssm, instances, server, tmp_path):
    name = f"/compat-{uuid.uuid4().hex[:8]}/db/password"
    secret = "pw-" + uuid.uuid4().hex
    ssm.put_parameter(Name=name, Value=secret, Type="SecureString")
    plain = f"/compat-{uuid.uuid4().hex[:8]}/db/host"
    ssm.put_parameter(Name=plain, Value="db.internal", Type="String")
    out_file = tmp_path / "received"
    cmd, invs = run_shell(ssm, [instances[0]], [
        f"printf '%s' '{{{{ssm-secure:{name}}}}}' > {out_file}",
        f"echo host={{{{ssm:{plain}}}}} secret={{{{ ssm-secure:{name} }}}}",
    ])
    assert cmd["Status"] == "Success", invs
    assert out_file.read_text() == secret
    inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=instances[0])
    assert inv["StandardOutputContent"] == "host=db.internal secret=****\n"
    listed = ssm.list_commands(CommandId=cmd["CommandId"])["Commands"][0]
    assert f"{{{{ssm-secure:{name}}}}}" in str(listed["Parameters"])
    assert secret not in str(listed) and secret not in str(invs)
    assert_secret_absent(server, secret)


def test_a_missing_parameter_fails_the_invocation_with_a_clear_message(ssm, instances):
    missing = f"/compat-{uuid.uuid4().hex[:8]}/nothing"
    cmd, invs = run_shell(ssm, [instances[0]], [f"echo {{{{ssm:{missing}}}}}"])
    assert cmd["Status"] == "Failed"
    inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=instances[0])
    assert inv["Status"] == "Failed"
    assert missing in inv["StandardErrorContent"] and "not found" in inv["StandardErrorContent"]


def test_a_secure_string_through_ssm_prefix_is_refused(ssm, instances):
    name = f"/compat-{uuid.uuid4().hex[:8]}/s"
    ssm.put_parameter(Name=name, Value="hidden-value", Type="SecureString")
    cmd, _ = run_shell(ssm, [instances[0]], [f"echo {{{{ssm:{name}}}}}"])
    inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=instances[0])
    assert inv["Status"] == "Failed" and "ssm-secure" in inv["StandardErrorContent"]
    assert "hidden-value" not in inv["StandardOutputContent"]


def test_env_var_interpolation_cannot_inject_shell(ssm, instances, tmp_path):
    import json
    name = f"EnvVar-{uuid.uuid4().hex[:8]}"
    marker = tmp_path / "injected"
    doc = {
        "schemaVersion": "2.2", "description": "ENV_VAR",
        "parameters": {"msg": {"type": "String", "interpolationType": "ENV_VAR", "allowedPattern": "^[^\"]*$"}},
        "mainSteps": [{"action": "aws:runShellScript", "name": "say", "inputs": {"runCommand": ["printf '%s' \"$SSM_msg\""]}}],
    }
    ssm.create_document(Name=name, Content=json.dumps(doc), DocumentType="Command")
    value = f"$(touch {marker}); `touch {marker}`"
    cid = ssm.send_command(DocumentName=name, InstanceIds=[instances[0]], Parameters={"msg": [value]})["Command"]["CommandId"]
    from compat_helpers import wait_command
    wait_command(ssm, cid)
    inv = ssm.get_command_invocation(CommandId=cid, InstanceId=instances[0])
    assert inv["Status"] == "Success"
    assert inv["StandardOutputContent"] == value
    assert not marker.exists()
