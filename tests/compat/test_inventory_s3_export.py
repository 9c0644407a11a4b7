"""Inventory export to an S3-compatible store: a real S3 implementation (moto's server) on loopback, a Steward server
exporting to s3://bucket/prefix, the resource-data-sync layout, incremental writes and removals."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

import boto3
import pytest
from botocore.config import Config

from compat_helpers import free_port

pytest.importorskip("moto.server", reason="moto[server] provides the S3-compatible store for this test")


def wait_http(port, proc, what):
    import http.client
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"{what} exited early"
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz" if what == "steward" else "/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"{what} did not answer")


@pytest.fixture
def s3_world(steward_binaries):
    tmp = tempfile.mkdtemp(prefix="steward-s3-")
    procs = []
    try:
        s3_port = free_port()
        moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                                stdout=open(os.path.join(tmp, "moto.log"), "wb"), stderr=subprocess.STDOUT)
        procs.append(moto)
        wait_http(s3_port, moto, "moto")
        s3_env = {"AWS_ACCESS_KEY_ID": "export-key", "AWS_SECRET_ACCESS_KEY": "export-secret", "AWS_REGION": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3_port}", region_name="us-east-1",
                          aws_access_key_id="export-key", aws_secret_access_key="export-secret")
        s3.create_bucket(Bucket="fleet-reports")

        steward = steward_binaries["steward"]
        data = os.path.join(tmp, "data")
        key = json.loads(subprocess.run([steward, "access-key", "create", "--data-dir", data, "--output", "json"],
                                        capture_output=True, text=True, check=True).stdout)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(s3_env)
        server = subprocess.Popen(
            [steward, "server", "--data-dir", data, "--listen", f"127.0.0.1:{port}",
             "--inventory-export-dir", "s3://fleet-reports/inventory/",
             "--inventory-export-endpoint", f"http://127.0.0.1:{s3_port}"],
            stdout=open(os.path.join(tmp, "server.log"), "wb"), stderr=subprocess.STDOUT, env=env)
        procs.append(server)
        wait_http(port, server, "steward")
        ssm = boto3.client("ssm", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                           aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"],
                           config=Config(retries={"max_attempts": 1}))

        def export():
            cli_env = {**env, "AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                       "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
            done = subprocess.run([steward, "inventory", "export", "--output", "json"], capture_output=True, text=True,
                                  env=cli_env, timeout=60)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        yield ssm, s3, export, steward, data
    finally:
        for p in procs:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def keys(s3):
    listed = s3.list_objects_v2(Bucket="fleet-reports", Prefix="inventory/")
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_export_to_s3_layout_and_increments(s3_world):
    ssm, s3, export, steward, data = s3_world
    # PutInventory needs managed instances: two nodes registered the real way.
    act = ssm.create_activation(IamRole="role", RegistrationLimit=2)
    port = ssm.meta.endpoint_url.rsplit(":", 1)[1]
    ids = []
    for n in range(2):
        state = os.path.join(os.path.dirname(data), f"agent-{n}")
        reg = subprocess.run([steward.replace("/steward", "/steward-agent"), "register", "--server", f"http://127.0.0.1:{port}",
                              "--activation-id", act["ActivationId"], "--activation-code", act["ActivationCode"],
                              "--state-dir", state], capture_output=True, text=True, timeout=60)
        assert reg.returncode == 0, reg.stderr
        ids.append(reg.stdout.strip().splitlines()[-1])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    for i in ids:
        ssm.put_inventory(InstanceId=i, Items=[
            {"TypeName": "AWS:Application", "SchemaVersion": "1.1", "CaptureTime": now,
             "Content": [{"Name": "openssl", "Version": "3.0.11"}, {"Name": "tab\there", "Version": "1"}]},
            {"TypeName": "Custom:Rack", "SchemaVersion": "1.0", "CaptureTime": now, "Content": [{"Row": "A", "Slot": "7"}]}])

    first = export()
    assert first["FilesWritten"] == 4
    expected = sorted(
        f"inventory/{t}/accountid=123456789012/region=us-east-1/resourcetype=ManagedInstanceInventory/{i}.json"
        for t in ("AWS:Application", "Custom:Rack") for i in ids) + ["inventory/.steward-export-manifest.json"]
    assert keys(s3) == sorted(expected)
    first_key = next(k for k in expected if k.endswith(f"{ids[0]}.json") and "AWS:Application" in k)
    body = s3.get_object(Bucket="fleet-reports", Key=first_key)["Body"].read().decode()
    lines = [json.loads(line) for line in body.splitlines()]
    assert {l["Name"] for l in lines} == {"openssl", "tab\there"}
    assert all(l["resourceId"] == ids[0] and l["region"] == "us-east-1" for l in lines)

    # Unchanged: nothing written. Changed: only that file. Deleted type: its files removed.
    assert export()["FilesWritten"] == 0
    ssm.put_inventory(InstanceId=ids[1], Items=[{"TypeName": "Custom:Rack", "SchemaVersion": "1.0", "CaptureTime": now,
                                                 "Content": [{"Row": "B", "Slot": "1"}]}])
    assert export()["FilesWritten"] == 1
    ssm.delete_inventory(TypeName="Custom:Rack", SchemaDeleteOption="DeleteSchema")
    removed = export()
    assert removed["FilesRemoved"] == 2
    assert not [k for k in keys(s3) if "Custom:Rack" in k]
