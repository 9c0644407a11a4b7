"""Inventory gathered by real agents on this machine: AWS:Application is exactly what dpkg-query says, AWS:Network
is what `ip -j addr` says, a custom JSON file becomes a Custom type, and an unchanged type goes as its hash only."""

import json
import os
import shutil
import subprocess
import uuid

import pytest

from compat_helpers import wait_invocation, wait_ping_status

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="needs a dpkg-based host")


def collect(ssm, instance_id, **parameters):
    params = {k: [v] for k, v in parameters.items()}
    cmd = ssm.send_command(InstanceIds=[instance_id], DocumentName="AWS-GatherSoftwareInventory", Parameters=params)
    inv = wait_invocation(ssm, cmd["Command"]["CommandId"], instance_id, timeout=120)
    assert inv["StatusDetails"] == "Success", inv
    return inv["StandardOutputContent"]


def entries(ssm, instance_id, type_name):
    out, token = [], None
    while True:
        kw = {"InstanceId": instance_id, "TypeName": type_name, "MaxResults": 50}
        if token:
            kw["NextToken"] = token
        page = ssm.list_inventory_entries(**kw)
        out += page["Entries"]
        token = page.get("NextToken")
        if not token:
            return out


@pytest.fixture(scope="module")
def gathered(ssm, agents):
    """Agent 0 restarted on a copy of the dpkg database (so the test may change the package list), with a custom file."""
    agent = agents[0]
    admin = os.path.join(agent.state_dir, "dpkg-admin")
    if not os.path.exists(admin):
        shutil.copytree("/var/lib/dpkg", admin, symlinks=True, ignore=shutil.ignore_patterns("lock*", "triggers"))
        os.makedirs(os.path.join(admin, "updates"), exist_ok=True)
    agent.stop()
    agent.start(env={"DPKG_ADMINDIR": admin})
    wait_ping_status(ssm, [agent.instance_id], "Online", 30)
    os.makedirs(agent.custom_inventory_dir, exist_ok=True)
    kind = f"Custom:Rack{uuid.uuid4().hex[:6]}"
    with open(os.path.join(agent.custom_inventory_dir, "rack.json"), "w") as f:
        json.dump({"SchemaVersion": "1.0", "TypeName": kind, "Content": {"Location": "DC1", "Row": 7}}, f)
    first = collect(ssm, agent.instance_id)
    yield {"agent": agent, "admin": admin, "kind": kind, "first": first}
    agent.stop()
    agent.start()
    wait_ping_status(ssm, [agent.instance_id], "Online", 30)


def test_applications_match_dpkg_query(ssm, gathered):
    agent = gathered["agent"]
    listed = subprocess.run(["dpkg-query", "--admindir", gathered["admin"], "-W", "-f", "${Package}\t${Version}\n"],
                            capture_output=True, text=True, check=True).stdout
    expected = sorted(tuple(line.split("\t")) for line in listed.splitlines() if line)
    got = sorted((e["Name"], e["Version"]) for e in entries(ssm, agent.instance_id, "AWS:Application"))
    assert got == expected
    assert "AWS:Application: sent" in gathered["first"]


def test_network_matches_ip_addr(ssm, gathered):
    agent = gathered["agent"]
    links = json.loads(subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout)
    expected = {}
    for link in links:
        if link["ifname"] == "lo":
            continue
        v4 = sorted(a["local"] for a in link.get("addr_info", []) if a["family"] == "inet")
        expected[link["ifname"]] = v4
    got = {e["Name"]: sorted(x for x in e.get("IPV4", "").split(",") if x)
           for e in entries(ssm, agent.instance_id, "AWS:Network")}
    assert got == expected


def test_custom_file_becomes_a_custom_type(ssm, gathered):
    agent, kind = gathered["agent"], gathered["kind"]
    assert entries(ssm, agent.instance_id, kind) == [{"Location": "DC1", "Row": "7"}]
    info = entries(ssm, agent.instance_id, "AWS:InstanceInformation")
    assert info[0]["InstanceId"] == agent.instance_id and info[0]["AgentType"]
    found = ssm.get_inventory(Filters=[{"Key": f"{kind}.Location", "Values": ["DC1"], "Type": "Equal"}])
    assert [e["Id"] for e in found["Entities"]] == [agent.instance_id]


def test_unchanged_types_go_as_hash_changed_ones_in_full(ssm, gathered):
    agent, admin, kind = gathered["agent"], gathered["admin"], gathered["kind"]
    second = collect(ssm, agent.instance_id)
    assert "AWS:Application: unchanged (hash only)" in second
    assert f"{kind}: unchanged (hash only)" in second
    # Change the package list (drop one package from the copied database) and the custom file.
    status_path = os.path.join(admin, "status")
    stanzas = open(status_path).read().split("\n\n")
    victim = next(s for s in stanzas if s.startswith("Package: ") and "install ok installed" in s)
    name = victim.splitlines()[0].split(": ", 1)[1]
    with open(status_path, "w") as f:
        f.write("\n\n".join(s for s in stanzas if s is not victim))
    with open(os.path.join(agent.custom_inventory_dir, "rack.json"), "w") as f:
        json.dump({"SchemaVersion": "1.0", "TypeName": kind, "Content": {"Location": "DC2", "Row": 7}}, f)
    third = collect(ssm, agent.instance_id)
    assert "AWS:Application: sent" in third and f"{kind}: sent" in third
    assert "AWS:Network: unchanged (hash only)" in third
    assert name not in {e["Name"] for e in entries(ssm, agent.instance_id, "AWS:Application")}
    assert entries(ssm, agent.instance_id, kind) == [{"Location": "DC2", "Row": "7"}]
    # If the server loses content the agent thinks it holds, the agent sends it again in full.
    ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")
    fourth = collect(ssm, agent.instance_id)
    assert f"{kind}: sent again in full" in fourth
    assert entries(ssm, agent.instance_id, kind) == [{"Location": "DC2", "Row": "7"}]
    ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")


def test_gathering_policy_by_association(ssm, instances, tmp_path):
    """An association with AWS-GatherSoftwareInventory and its parameters sets what a node gathers."""
    node = instances[1]
    watched = tmp_path / "watched"
    watched.mkdir()
    (watched / "app.conf").write_text("x=1\n")
    (watched / "notes.txt").write_text("skip\n")
    files = json.dumps([{"Path": str(watched), "Pattern": ["*.conf"], "Recursive": False}])
    aid = ssm.create_association(
        Name="AWS-GatherSoftwareInventory", Targets=[{"Key": "InstanceIds", "Values": [node]}],
        Parameters={"applications": ["Disabled"], "services": ["Disabled"], "files": [files]},
        ScheduleExpression="rate(30 minutes)")["AssociationDescription"]["AssociationId"]
    try:
        def done():
            infos = ssm.describe_instance_associations_status(InstanceId=node)["InstanceAssociationStatusInfos"]
            mine = [i for i in infos if i["AssociationId"] == aid and i["Status"] in ("Success", "Failed")]
            return mine[0] if mine else None
        from compat_helpers import poll
        status = poll(done, 60, 0.3, "the inventory association")
        assert status["Status"] == "Success", status
        found = entries(ssm, node, "AWS:File")
        assert [(e["Name"], e["InstalledDir"]) for e in found] == [("app.conf", str(watched))]
        assert entries(ssm, node, "AWS:InstanceInformation")[0]["InstanceId"] == node
    finally:
        ssm.delete_association(AssociationId=aid)
