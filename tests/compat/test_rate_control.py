"""MaxConcurrency / MaxErrors rate control."""

from compat_helpers import invocations, wait_command


def test_max_errors_zero_with_concurrency_one_stops_after_the_first_failure(ssm, instances):
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=list(instances),
        MaxConcurrency="1",
        MaxErrors="0",
        Parameters={"commands": ["exit 1"]},
    )
    sent = resp["Command"]
    assert sent["MaxConcurrency"] == "1"
    assert sent["MaxErrors"] == "0"
    cid = sent["CommandId"]

    cmd = wait_command(ssm, cid, timeout=60)
    assert cmd["Status"] == "Failed", cmd
    assert cmd["TargetCount"] == 3
    assert cmd["ErrorCount"] == 1

    invs = invocations(ssm, cid)
    assert sorted(i["InstanceId"] for i in invs) == sorted(instances), invs
    failed = [i for i in invs if i["Status"] == "Failed" and i.get("StatusDetails") == "Failed"]
    terminated = [i for i in invs if i.get("StatusDetails") == "Terminated"]
    assert len(failed) == 1, invs
    assert len(terminated) == 2, invs
