"""Cancellation, execution timeout and delivery timeout."""

import os
import time

import pytest

from compat_helpers import (
    get_command,
    invocations,
    poll,
    wait_command,
    wait_invocation,
    wait_ping_status,
)


def _process_gone(pid: int) -> bool:
    """True when ``pid`` no longer exists or is a zombie."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("State:"):
                    return "Z" in line.split()[1]
    except FileNotFoundError:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_cancel_command_stops_a_running_invocation(ssm, instances, tmp_path):
    target = instances[0]
    pid_file = tmp_path / "pid"
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[target],
        Parameters={"commands": [f"echo $$ > {pid_file}", "sleep 60"]},
    )
    cid = resp["Command"]["CommandId"]
    wait_invocation(ssm, cid, target, timeout=30,
                    until=lambda inv: inv["Status"] == "InProgress")
    poll(lambda: pid_file.exists() and pid_file.read_text().strip(), 10, what="script pid file")
    pid = int(pid_file.read_text().strip())

    started = time.monotonic()
    ssm.cancel_command(CommandId=cid)

    inv = wait_invocation(ssm, cid, target, timeout=20,
                          until=lambda inv: inv["Status"] not in ("Pending", "InProgress", "Cancelling"))
    assert inv["Status"] == "Cancelled", inv
    remaining = max(1.0, 20 - (time.monotonic() - started))
    cmd = poll(lambda: (c := get_command(ssm, cid)) and c["Status"] == "Cancelled" and c,
               remaining, what="command status Cancelled")
    assert cmd["Status"] == "Cancelled"
    [listed] = invocations(ssm, cid)
    assert listed["Status"] == "Cancelled"
    # the script was really stopped, not just marked
    poll(lambda: _process_gone(pid), 10, what=f"script process {pid} to exit")


def test_execution_timeout_parameter_times_out_the_script(ssm, instances):
    target = instances[1]
    started = time.monotonic()
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=[target],
        Parameters={"commands": ["sleep 30"], "executionTimeout": ["5"]},
    )
    cid = resp["Command"]["CommandId"]
    inv = wait_invocation(ssm, cid, target, timeout=25)
    assert time.monotonic() - started < 25
    assert inv["Status"] == "TimedOut", inv
    assert inv["StatusDetails"] == "ExecutionTimedOut", inv
    [listed] = invocations(ssm, cid)
    assert listed["Status"] == "TimedOut"
    assert listed["StatusDetails"] == "ExecutionTimedOut"


@pytest.mark.slow
def test_command_for_a_stopped_agent_ends_with_delivery_timeout(ssm, instances, agents):
    agent = agents[2]
    target = agent.instance_id
    assert target == instances.by_role["db"][0]
    agent.stop()
    try:
        wait_ping_status(ssm, target, "ConnectionLost", timeout=30)

        resp = ssm.send_command(
            DocumentName="AWS-RunShellScript",
            InstanceIds=[target],
            TimeoutSeconds=30,
            Parameters={"commands": ["echo should-not-run"]},
        )
        sent = resp["Command"]
        assert sent["TimeoutSeconds"] == 30
        cid = sent["CommandId"]
        sent_at = time.monotonic()

        listed = poll(lambda: invocations(ssm, cid), 5, what="the invocation row to exist")
        [inv] = listed
        assert inv["InstanceId"] == target
        assert inv["Status"] == "Pending", inv

        inv = wait_invocation(ssm, cid, target, timeout=70, interval=1)
        assert inv["Status"] == "TimedOut", inv
        assert inv["StatusDetails"] == "DeliveryTimedOut", inv
        # not before the delivery timeout (allow some clock slack)
        assert time.monotonic() - sent_at >= 25

        cmd = wait_command(ssm, cid, timeout=15)
        assert cmd["Status"] == "TimedOut", cmd
        assert cmd.get("DeliveryTimedOutCount") == 1, cmd
    finally:
        agent.start()
        wait_ping_status(ssm, target, "Online", timeout=30)

    # an expired command is not delivered once the agent is back
    time.sleep(2)
    inv = ssm.get_command_invocation(CommandId=cid, InstanceId=target)
    assert inv["Status"] == "TimedOut"
    assert "should-not-run" not in inv.get("StandardOutputContent", "")
