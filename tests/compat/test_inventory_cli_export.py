"""`steward inventory` (query, reports, saved reports, csv) and the export in the resource-data-sync layout."""

import csv
import io
import json
import os
import subprocess
import uuid
from datetime import datetime, timezone

import pytest

from conftest import _binary
from compat_helpers import REGION


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def steward(server):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": server.key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": server.key["SecretAccessKey"],
                "AWS_REGION": REGION, "AWS_ENDPOINT_URL": server.url, "HOME": server.extra["tmp_dir"]})

    def run(*args):
        return subprocess.run([_binary("steward"), *args], capture_output=True, text=True, timeout=120, env=env)
    return run


@pytest.fixture(scope="module")
def tiers(ssm, instances):
    kind = f"Custom:Tier{uuid.uuid4().hex[:6]}"
    for i, tier in zip(instances, ["web", "web", "db"]):
        ssm.put_inventory(InstanceId=i, Items=[{"TypeName": kind, "SchemaVersion": "1.0", "CaptureTime": now(),
                                                "Content": [{"Tier": tier, "Version": "2.10"}]}])
    yield kind
    ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")


def test_query_table_json_csv(steward, instances, tiers):
    res = steward("inventory", "query", f"{tiers}.Tier = web")
    assert res.returncode == 0, res.stderr
    assert instances[0] in res.stdout and instances[1] in res.stdout and instances[2] not in res.stdout
    assert "2 nodes" in res.stdout
    counted = steward("inventory", "query", f"count by {tiers}.Tier", "--output", "csv")
    assert counted.returncode == 0, counted.stderr
    rows = list(csv.reader(io.StringIO(counted.stdout)))
    assert rows[0] == ["TIER", "NODES"] and sorted(rows[1:]) == [["db", "1"], ["web", "2"]]
    as_json = steward("inventory", "query", f"{tiers}.Version > 2.9", "--output", "json")
    assert {e["Id"] for e in json.loads(as_json.stdout)} == set(instances)  # 2.10 > 2.9 as versions
    bad = steward("inventory", "query", f"{tiers}.Tier ~ web")
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1 and "operator" in bad.stderr


def test_saved_and_predefined_reports(steward, instances, tiers):
    listed = steward("inventory", "reports")
    assert listed.returncode == 0 and "os-releases" in listed.stdout and "package-below" in listed.stdout
    name = f"db-tier-{uuid.uuid4().hex[:6]}"
    assert steward("inventory", "save", name, f"{tiers}.Tier = db", "--description", "database nodes").returncode == 0
    assert name in steward("inventory", "reports").stdout
    ran = steward("inventory", "report", name, "--output", "json")
    assert [e["Id"] for e in json.loads(ran.stdout)] == [instances[2]]
    missing = steward("inventory", "report", "package-below", "--param", "package=openssl")
    assert missing.returncode != 0 and "version" in missing.stderr
    assert steward("inventory", "forget", name).returncode == 0
    assert name not in steward("inventory", "reports").stdout


def test_export_layout_consistent_and_incremental(server, ssm, steward, instances, tiers):
    first = steward("inventory", "export", "--output", "json")
    assert first.returncode == 0, first.stderr
    root = server.extra["export_dir"]
    path = os.path.join(root, tiers, "accountid=123456789012", f"region={REGION}", "resourcetype=ManagedInstanceInventory",
                        f"{instances[0]}.json")
    lines = [json.loads(line) for line in open(path).read().splitlines()]
    assert lines == [{"Tier": "web", "Version": "2.10", "resourceId": instances[0], "resourceType": "ManagedInstanceInventory",
                      "captureTime": lines[0]["captureTime"], "schemaVersion": "1.0", "accountId": "123456789012",
                      "region": REGION}]
    again = json.loads(steward("inventory", "export", "--output", "json").stdout)
    assert again["FilesWritten"] == 0 and again["FilesUnchanged"] >= 3
    ssm.put_inventory(InstanceId=instances[0], Items=[{"TypeName": tiers, "SchemaVersion": "1.0", "CaptureTime": now(),
                                                       "Content": [{"Tier": "api", "Version": "3"}]}])
    third = json.loads(steward("inventory", "export", "--output", "json").stdout)
    assert third["FilesWritten"] == 1
    assert json.loads(open(path).read().splitlines()[0])["Tier"] == "api"
    assert not [f for f in os.listdir(os.path.dirname(path)) if f.endswith(".tmp")]
