"""Run Command basics: targeting, output, exit codes, working directory."""

import os
import re
import uuid

import pytest
from botocore.exceptions import ClientError

from compat_helpers import (
    all_instance_information,
    error_code,
    invocation_by_instance,
    invocations,
    wait_command,
)

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_send_command_by_tag_reaches_exactly_the_tagged_instances(ssm, instances):
    web = instances.by_role["web"]
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        Targets=[{"Key": "tag:Role", "Values": ["web"]}],
        Parameters={"commands": ["echo hello-$(hostname)"]},
        Comment="compat: send by tag",
    )
    sent = resp["Command"]
    cid = sent["CommandId"]
    assert UUID_RE.match(cid), cid
    assert sent["DocumentName"] == "AWS-RunShellScript"
    assert sent["Targets"] == [{"Key": "tag:Role", "Values": ["web"]}]
    assert sent["Parameters"] == {"commands": ["echo hello-$(hostname)"]}
    assert sent["Comment"] == "compat: send by tag"

    cmd = wait_command(ssm, cid, timeout=60)
    assert cmd["Status"] == "Success", cmd
    assert cmd["TargetCount"] == 2
    assert cmd["CompletedCount"] == 2
    assert cmd["ErrorCount"] == 0

    invs = invocations(ssm, cid)
    assert sorted(i["InstanceId"] for i in invs) == sorted(web)
    for inv in invs:
        assert inv["Status"] == "Success", inv
        plugins = inv.get("CommandPlugins", [])
        assert len(plugins) == 1, inv
        assert plugins[0]["Status"] == "Success"
        assert plugins[0]["ResponseCode"] == 0
        assert "hello-" in plugins[0].get("Output", "")

        got = ssm.get_command_invocation(CommandId=cid, InstanceId=inv["InstanceId"])
        assert got["Status"] == "Success"
        assert got["ResponseCode"] == 0
        assert "hello-" in got["StandardOutputContent"]


def test_targets_with_two_tag_keys_match_instances_having_both(ssm, instances):
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        Targets=[
            {"Key": "tag:Role", "Values": ["db"]},
            {"Key": "tag:Env", "Values": ["test"]},
        ],
        Parameters={"commands": ["echo both-keys"]},
    )
    cid = resp["Command"]["CommandId"]
    cmd = wait_command(ssm, cid, timeout=60)
    assert cmd["Status"] == "Success", cmd
    assert cmd["TargetCount"] == 1
    assert [i["InstanceId"] for i in invocations(ssm, cid)] == instances.by_role["db"]


def test_wildcard_instance_ids_target_and_tag_key_target_reach_all_instances(ssm, instances):
    registered = {i["InstanceId"] for i in all_instance_information(ssm)}
    assert set(instances) <= registered
    # on a fresh data dir the fleet is exactly the three fixture agents
    if not os.environ.get("STEWARD_TEST_DATABASE_URL"):
        assert registered == set(instances)

    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        Targets=[{"Key": "InstanceIds", "Values": ["*"]}],
        Parameters={"commands": ["echo star"]},
    )
    cid = resp["Command"]["CommandId"]
    cmd = wait_command(ssm, cid, timeout=60)
    assert cmd["Status"] == "Success", cmd
    assert cmd["TargetCount"] == len(registered)
    assert cmd["CompletedCount"] == len(registered)
    by_instance = invocation_by_instance(ssm, cid)
    assert set(by_instance) == registered
    assert all(inv["Status"] == "Success" for inv in by_instance.values()), by_instance

    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        Targets=[{"Key": "tag-key", "Values": ["Role"]}],
        Parameters={"commands": ["echo tag-key"]},
    )
    cid = resp["Command"]["CommandId"]
    cmd = wait_command(ssm, cid, timeout=60)
    assert cmd["Status"] == "Success", cmd
    assert cmd["TargetCount"] == 3
    by_instance = invocation_by_instance(ssm, cid)
    assert set(by_instance) == set(instances)
    assert all(inv["Status"] == "Success" for inv in by_instance.values()), by_instance


def test_multi_line_commands_run_as_one_script_and_exit_code_is_reported(ssm, instances):
    target = instances[0]
    commands = [
        "echo first-line",
        "echo to-stderr >&2",
        "for i in 1 2 3; do",
        "  echo n$i",
        "done",
        "exit 3",
        "echo never-printed",
    ]
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[target],
        Parameters={"commands": commands},
    )
    cid = resp["Command"]["CommandId"]
    cmd = wait_command(ssm, cid, timeout=60)
    assert cmd["Status"] == "Failed", cmd
    assert cmd["ErrorCount"] == 1

    [inv] = invocations(ssm, cid)
    assert inv["InstanceId"] == target
    assert inv["Status"] == "Failed"
    [plugin] = inv["CommandPlugins"]
    assert plugin["Name"] == "aws:runShellScript"
    assert plugin["Status"] == "Failed"
    assert plugin["ResponseCode"] == 3

    got = ssm.get_command_invocation(CommandId=cid, InstanceId=target)
    assert got["Status"] == "Failed"
    assert got["ResponseCode"] == 3
    out = got["StandardOutputContent"]
    err = got["StandardErrorContent"]
    assert "first-line" in out
    assert "n1\nn2\nn3" in out
    assert "never-printed" not in out
    assert "to-stderr" in err
    assert "to-stderr" not in out

    same = ssm.get_command_invocation(CommandId=cid, InstanceId=target, PluginName="aws:runShellScript")
    assert same["ResponseCode"] == 3


def test_working_directory_parameter_is_honoured(ssm, instances, tmp_path):
    workdir = os.path.realpath(str(tmp_path))
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[instances[1]],
        Parameters={"commands": ["pwd"], "workingDirectory": [workdir]},
    )
    cid = resp["Command"]["CommandId"]
    cmd = wait_command(ssm, cid, timeout=60)
    assert cmd["Status"] == "Success", cmd
    got = ssm.get_command_invocation(CommandId=cid, InstanceId=instances[1])
    assert got["ResponseCode"] == 0
    assert os.path.realpath(got["StandardOutputContent"].strip()) == workdir


def test_get_command_invocation_for_unknown_command_is_invocation_does_not_exist(ssm, instances):
    with pytest.raises(ClientError) as exc:
        ssm.get_command_invocation(CommandId=str(uuid.uuid4()), InstanceId=instances[0])
    assert error_code(exc.value) == "InvocationDoesNotExist"

    # a real command, but asked about an instance it was not sent to
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[instances[0]],
        Parameters={"commands": ["true"]},
    )
    cid = resp["Command"]["CommandId"]
    wait_command(ssm, cid, timeout=60)
    with pytest.raises(ClientError) as exc:
        ssm.get_command_invocation(CommandId=cid, InstanceId=instances[2])
    assert error_code(exc.value) == "InvocationDoesNotExist"
