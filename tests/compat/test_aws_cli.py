"""The stock `aws` CLI (v1) against Steward: send-command, waiter, get-command-invocation."""


def test_aws_cli_send_command_waiter_and_get_command_invocation(aws_cli, instances):
    sent = aws_cli(
        "send-command",
        "--document-name", "AWS-RunShellScript",
        "--targets", "Key=InstanceIds,Values=*",
        "--parameters", "commands=uname -a",
        "--comment", "compat aws cli",
        parse_json=True,
    )
    assert sent.returncode == 0, sent.stderr
    command = sent.json["Command"]
    assert command["DocumentName"] == "AWS-RunShellScript"
    assert command["Parameters"] == {"commands": ["uname -a"]}
    cid = command["CommandId"]
    target = instances[0]

    waited = aws_cli("wait", "command-executed", "--command-id", cid, "--instance-id", target)
    assert waited.returncode == 0, f"waiter failed: {waited.stdout}\n{waited.stderr}"

    got = aws_cli("get-command-invocation", "--command-id", cid, "--instance-id", target,
                  parse_json=True)
    assert got.returncode == 0, got.stderr
    assert got.json["Status"] == "Success", got.json
    assert got.json["InstanceId"] == target
    assert got.json["CommandId"] == cid
    assert "Linux" in got.json["StandardOutputContent"]

    listed = aws_cli("list-command-invocations", "--command-id", cid, "--details", parse_json=True)
    assert listed.returncode == 0, listed.stderr
    assert target in {i["InstanceId"] for i in listed.json["CommandInvocations"]}

    for other in instances[1:]:
        w = aws_cli("wait", "command-executed", "--command-id", cid, "--instance-id", other)
        assert w.returncode == 0, w.stderr


def test_aws_cli_reports_service_errors_with_the_error_code(aws_cli, instances):
    res = aws_cli("get-command-invocation",
                  "--command-id", "00000000-0000-4000-8000-000000000000",
                  "--instance-id", instances[0])
    assert res.returncode != 0
    assert "InvocationDoesNotExist" in res.stderr


def test_aws_cli_state_manager_inventory_and_compliance(aws_cli, instances):
    """create-association, describe/list/update/delete, instance status, compliance and inventory through the stock CLI."""
    target = instances[2]
    created = aws_cli(
        "create-association", "--name", "AWS-RunShellScript", "--association-name", "cli-assoc",
        "--targets", f"Key=InstanceIds,Values={target}", "--parameters", "commands=true",
        "--schedule-expression", "cron(0 3 ? * SUN *)", parse_json=True)
    assert created.returncode == 0, created.stderr
    aid = created.json["AssociationDescription"]["AssociationId"]
    described = aws_cli("describe-association", "--association-id", aid, parse_json=True)
    assert described.json["AssociationDescription"]["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    listed = aws_cli("list-associations", "--association-filter-list", "key=AssociationName,value=cli-assoc", parse_json=True)
    assert [a["AssociationId"] for a in listed.json["Associations"]] == [aid]
    updated = aws_cli("update-association", "--association-id", aid, "--parameters", "commands=echo v2", parse_json=True)
    assert updated.json["AssociationDescription"]["AssociationVersion"] == "2"
    status = aws_cli("describe-instance-associations-status", "--instance-id", target, parse_json=True)
    assert status.returncode == 0 and aid in [s["AssociationId"] for s in status.json["InstanceAssociationStatusInfos"]]
    compliance = aws_cli("list-compliance-summaries", parse_json=True)
    assert compliance.returncode == 0, compliance.stderr
    schema = aws_cli("get-inventory-schema", "--type-name", "AWS:Application", parse_json=True)
    assert schema.json["Schemas"][0]["TypeName"] == "AWS:Application"
    deleted = aws_cli("delete-association", "--association-id", aid)
    assert deleted.returncode == 0, deleted.stderr
    bad = aws_cli("create-association", "--name", "AWS-RunShellScript", "--targets", "Key=InstanceIds,Values=*",
                  "--parameters", "commands=true", "--schedule-expression", "rate(1 minute)")
    assert bad.returncode != 0 and "InvalidSchedule" in bad.stderr
