"""A message sealed for another key is refused by the agent, and the reason reaches the server."""

import base64
import os
import sqlite3
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


@pytest.mark.skipif(bool(os.environ.get("STEWARD_TEST_DATABASE_URL")), reason="edits the SQLite file directly")
def test_a_message_sealed_to_another_key_is_refused_and_reported(ssm, instances, server):
    target = instances[2]
    db = sqlite3.connect(os.path.join(server.data_dir, "steward.db"), timeout=10)
    (original,) = db.execute("SELECT encryption_key FROM instances WHERE instance_id = ?", (target,)).fetchone()
    stranger = base64.b64encode(X25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    db.execute("UPDATE instances SET encryption_key = ? WHERE instance_id = ?", (stranger, target))
    db.commit()
    try:
        cid = ssm.send_command(DocumentName="AWS-RunShellScript", InstanceIds=[target],
                               Parameters={"commands": ["echo never"]})["Command"]["CommandId"]
        deadline = time.time() + 20
        reported = False
        while time.time() < deadline and not reported:
            with open(server.log_path) as f:
                reported = any("agent refused a message" in line and target in line and "decrypt" in line for line in f)
            time.sleep(0.2)
        assert reported, "the server log shows no refusal from the agent"
        inv = ssm.get_command_invocation(CommandId=cid, InstanceId=target)
        assert inv["Status"] in ("Pending", "Delayed", "InProgress") and inv["StandardOutputContent"] == ""
        ssm.cancel_command(CommandId=cid)
        # Never accepted by the agent, so it is cancelled at once rather than waiting for the node.
        from compat_helpers import wait_command
        assert wait_command(ssm, cid, timeout=10)["Status"] == "Cancelled"
    finally:
        db.execute("UPDATE instances SET encryption_key = ? WHERE instance_id = ?", (original, target))
        db.commit()
        db.close()
