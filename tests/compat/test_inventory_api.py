"""Inventory with boto3: PutInventory (with the content-hash protocol), GetInventory filters and aggregators,
ListInventoryEntries, GetInventorySchema, DeleteInventory, and each error AWS names."""

import uuid
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from compat_helpers import error_code


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def info(instance_id, platform, version, agent="1.0.0"):
    return {
        "TypeName": "AWS:InstanceInformation", "SchemaVersion": "1.0", "CaptureTime": now(),
        "Content": [{"InstanceId": instance_id, "PlatformName": platform, "PlatformVersion": version,
                     "PlatformType": "Linux", "AgentVersion": agent, "ComputerName": f"host-{instance_id[-4:]}"}],
    }


def apps(pairs):
    return {
        "TypeName": "AWS:Application", "SchemaVersion": "1.1", "CaptureTime": now(),
        "Content": [{"Name": n, "Version": v, "Architecture": "amd64"} for n, v in pairs],
    }


@pytest.fixture(scope="module")
def fleet_inventory(ssm, instances):
    """Three instances: two Debian nodes (openssl 3.0.9 and 3.0.15), one Amazon Linux node (rpm order)."""
    a, b, c = instances[0], instances[1], instances[2]
    ssm.put_inventory(InstanceId=a, Items=[info(a, "Debian GNU/Linux", "12"),
                                           apps([("openssl", "3.0.9-1"), ("nginx", "1.22.1-9"), ("curl", "7.88.1")])])
    ssm.put_inventory(InstanceId=b, Items=[info(b, "Debian GNU/Linux", "12"),
                                           apps([("openssl", "3.0.15-1~deb12u1"), ("curl", "7.88.1")])])
    ssm.put_inventory(InstanceId=c, Items=[info(c, "Amazon Linux", "2023"),
                                           apps([("openssl", "1:3.0.8-1.amzn2023"), ("nginx", "1.24.0")])])
    return a, b, c


def entity_ids(resp, within):
    """The entities among this run's instances (a shared PostgreSQL may hold other runs' nodes)."""
    return sorted(e["Id"] for e in resp["Entities"] if e["Id"] in within)


def test_get_inventory_filters_are_version_aware(ssm, fleet_inventory):
    a, b, c = fleet_inventory
    resp = ssm.get_inventory(Filters=[
        {"Key": "AWS:Application.Name", "Values": ["openssl"], "Type": "Equal"},
        {"Key": "AWS:Application.Version", "Values": ["3.0.13"], "Type": "LessThan"},
    ], ResultAttributes=[{"TypeName": "AWS:Application"}])
    # 3.0.9 < 3.0.13 in dpkg order (string order would say otherwise); 1:3.0.8 has epoch 1, so it is newer.
    assert entity_ids(resp, {a, b, c}) == [a]
    content = next(e for e in resp["Entities"] if e["Id"] == a)["Data"]["AWS:Application"]["Content"]
    assert content == [{"Name": "openssl", "Version": "3.0.9-1", "Architecture": "amd64"}]
    newer = ssm.get_inventory(Filters=[
        {"Key": "AWS:Application.Name", "Values": ["openssl"], "Type": "Equal"},
        {"Key": "AWS:Application.Version", "Values": ["3.0.13"], "Type": "GreaterThan"},
    ])
    assert entity_ids(newer, {a, b, c}) == sorted([b, c])


def test_get_inventory_not_equal_begin_with_exists(ssm, fleet_inventory):
    a, b, c = fleet_inventory
    lacking = ssm.get_inventory(Filters=[{"Key": "AWS:Application.Name", "Values": ["nginx"], "Type": "NotEqual"}])
    assert entity_ids(lacking, {a, b, c}) == [b]
    debian = ssm.get_inventory(Filters=[{"Key": "AWS:InstanceInformation.PlatformName", "Values": ["Debian"], "Type": "BeginWith"}])
    assert entity_ids(debian, {a, b, c}) == sorted([a, b])
    data = next(e for e in debian["Entities"] if e["Id"] == a)["Data"]["AWS:InstanceInformation"]
    assert data["TypeName"] == "AWS:InstanceInformation" and data["SchemaVersion"] == "1.0" and data["CaptureTime"]
    exists = ssm.get_inventory(Filters=[{"Key": "AWS:Application.Name", "Values": ["x"], "Type": "Exists"}])
    assert entity_ids(exists, {a, b, c}) == sorted([a, b, c])


def test_get_inventory_aggregators(ssm, fleet_inventory):
    a, b, c = fleet_inventory
    resp = ssm.get_inventory(Aggregators=[{"Expression": "AWS:InstanceInformation.PlatformName"}],
                             Filters=[{"Key": "AWS:InstanceInformation.InstanceId", "Values": [a, b, c], "Type": "Equal"}])
    content = resp["Entities"][0]["Data"]["AWS:InstanceInformation"]["Content"]
    assert {(x["PlatformName"], x["Count"]) for x in content} == {("Debian GNU/Linux", "2"), ("Amazon Linux", "1")}
    nested = ssm.get_inventory(Aggregators=[{"Expression": "AWS:InstanceInformation.PlatformName",
                                             "Aggregators": [{"Expression": "AWS:InstanceInformation.PlatformVersion"}]}],
                               Filters=[{"Key": "AWS:InstanceInformation.InstanceId", "Values": [a, b, c], "Type": "Equal"}])
    rows = nested["Entities"][0]["Data"]["AWS:InstanceInformation"]["Content"]
    assert {"PlatformName": "Amazon Linux", "PlatformVersion": "2023", "Count": "1"} in rows
    groups = ssm.get_inventory(Aggregators=[{"Expression": "AWS:Application", "Groups": [
        {"Name": "WithNginx", "Filters": [{"Key": "AWS:Application.Name", "Values": ["nginx"], "Type": "Equal"}]},
        {"Name": "WithCurl", "Filters": [{"Key": "AWS:Application.Name", "Values": ["curl"], "Type": "Equal"}]},
    ]}], Filters=[{"Key": "AWS:InstanceInformation.InstanceId", "Values": [a, b, c], "Type": "Equal"}])
    counted = {g["Name"]: g["Count"] for g in groups["Entities"][0]["Data"]["AWS:Application"]["Content"]}
    assert counted == {"WithNginx": "2", "WithCurl": "2"}


def test_list_inventory_entries_and_paging(ssm, fleet_inventory):
    a, _, _ = fleet_inventory
    resp = ssm.list_inventory_entries(InstanceId=a, TypeName="AWS:Application", MaxResults=2)
    assert resp["TypeName"] == "AWS:Application" and resp["InstanceId"] == a and resp["SchemaVersion"] == "1.1"
    assert [e["Name"] for e in resp["Entries"]] == ["openssl", "nginx"]
    rest = ssm.list_inventory_entries(InstanceId=a, TypeName="AWS:Application", MaxResults=2, NextToken=resp["NextToken"])
    assert [e["Name"] for e in rest["Entries"]] == ["curl"] and "NextToken" not in rest
    filtered = ssm.list_inventory_entries(InstanceId=a, TypeName="AWS:Application",
                                          Filters=[{"Key": "Name", "Values": ["curl"], "Type": "Equal"}])
    assert [e["Name"] for e in filtered["Entries"]] == ["curl"]
    with pytest.raises(ClientError) as e:
        ssm.list_inventory_entries(InstanceId="mi-00000000000000000", TypeName="AWS:Application")
    assert error_code(e.value) == "InvalidInstanceId"


def test_content_hash_protocol(ssm, instances):
    a = instances[0]
    kind = f"Custom:Hash{uuid.uuid4().hex[:8]}"
    item = {"TypeName": kind, "SchemaVersion": "1.0", "CaptureTime": now(), "ContentHash": "h-1",
            "Content": [{"Rack": "R1"}]}
    ssm.put_inventory(InstanceId=a, Items=[item])
    # The same hash without content: accepted, nothing changes.
    ssm.put_inventory(InstanceId=a, Items=[{"TypeName": kind, "SchemaVersion": "1.0", "CaptureTime": now(), "ContentHash": "h-1"}])
    assert ssm.list_inventory_entries(InstanceId=a, TypeName=kind)["Entries"] == [{"Rack": "R1"}]
    # A hash the server does not hold: the agent must send the content.
    with pytest.raises(ClientError) as e:
        ssm.put_inventory(InstanceId=a, Items=[{"TypeName": kind, "SchemaVersion": "1.0", "CaptureTime": now(), "ContentHash": "h-2"}])
    assert error_code(e.value) == "ItemContentMismatchException"
    ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")


def test_schema_and_delete_inventory(ssm, instances):
    a, b = instances[0], instances[1]
    kind = f"Custom:Rack{uuid.uuid4().hex[:8]}"
    for i in (a, b):
        ssm.put_inventory(InstanceId=i, Items=[{"TypeName": kind, "SchemaVersion": "1.0", "CaptureTime": now(),
                                                "Content": [{"Location": "DC1", "Row": "7"}]}])
    schema = ssm.get_inventory_schema(TypeName=kind)["Schemas"]
    assert schema[0]["TypeName"] == kind and {x["Name"] for x in schema[0]["Attributes"]} == {"Location", "Row"}
    builtin = {s["TypeName"] for s in ssm.get_inventory_schema()["Schemas"]}
    assert {"AWS:Application", "AWS:InstanceInformation", "AWS:Network", "AWS:File", "AWS:Service",
            "AWS:InstanceDetailedInformation", kind} <= builtin
    agg = {s["TypeName"] for s in ssm.get_inventory_schema(Aggregator=True)["Schemas"]}
    assert "AWS:InstanceInformation" in agg and kind not in agg
    dry = ssm.delete_inventory(TypeName=kind, DryRun=True)
    assert dry["DeletionSummary"]["TotalCount"] == 2 and dry["DeletionSummary"]["RemainingCount"] == 2
    done = ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DisableSchema")
    assert done["TypeName"] == kind and done["DeletionSummary"]["RemainingCount"] == 0
    assert done["DeletionSummary"]["SummaryItems"] == [{"Version": "1.0", "Count": 2, "RemainingCount": 0}]
    assert ssm.list_inventory_entries(InstanceId=a, TypeName=kind)["Entries"] == []
    deletions = ssm.describe_inventory_deletions(DeletionId=done["DeletionId"])["InventoryDeletions"]
    assert deletions[0]["LastStatus"] == "Complete"
    with pytest.raises(ClientError) as e:  # a disabled schema takes no new data
        ssm.put_inventory(InstanceId=a, Items=[{"TypeName": kind, "SchemaVersion": "1.0", "CaptureTime": now(), "Content": []}])
    assert error_code(e.value) == "InvalidTypeNameException"
    with pytest.raises(ClientError) as e:
        ssm.delete_inventory(TypeName="AWS:Application")
    assert error_code(e.value) == "InvalidTypeNameException"


@pytest.mark.parametrize("item,code", [
    ({"TypeName": "Bogus:X", "SchemaVersion": "1.0", "CaptureTime": "2026-01-01T00:00:00Z"}, "InvalidTypeNameException"),
    ({"TypeName": "AWS:NotAType", "SchemaVersion": "1.0", "CaptureTime": "2026-01-01T00:00:00Z"}, "InvalidTypeNameException"),
    ({"TypeName": "AWS:Application", "SchemaVersion": "9.0", "CaptureTime": "2026-01-01T00:00:00Z"},
     "UnsupportedInventorySchemaVersionException"),
    ({"TypeName": "AWS:Application", "SchemaVersion": "1.1", "CaptureTime": "2026-01-01T00:00:00Z",
      "Content": [{"Colour": "blue"}]}, "InvalidItemContentException"),
    ({"TypeName": "Custom:Wide", "SchemaVersion": "1.0", "CaptureTime": "2026-01-01T00:00:00Z",
      "Content": [{f"a{i}": "x" for i in range(51)}]}, "InvalidItemContentException"),
    ({"TypeName": "Custom:Ctx", "SchemaVersion": "1.0", "CaptureTime": "2026-01-01T00:00:00Z",
      "Context": {"Colour": "blue"}}, "UnsupportedInventoryItemContextException"),
])
def test_put_inventory_errors(ssm, instances, item, code):
    with pytest.raises(ClientError) as e:
        ssm.put_inventory(InstanceId=instances[0], Items=[item])
    assert error_code(e.value) == code


def test_put_inventory_unknown_instance_and_custom_type_limit(ssm, instances):
    with pytest.raises(ClientError) as e:
        ssm.put_inventory(InstanceId="mi-00000000000000000", Items=[info("mi-00000000000000000", "x", "1")])
    assert error_code(e.value) == "InvalidInstanceId"
    existing = [s["TypeName"] for s in ssm.get_inventory_schema()["Schemas"] if s["TypeName"].startswith("Custom:")]
    made = []
    try:
        with pytest.raises(ClientError) as e:
            for i in range(21 - len(existing)):
                kind = f"Custom:Limit{uuid.uuid4().hex[:8]}"
                ssm.put_inventory(InstanceId=instances[0], Items=[{"TypeName": kind, "SchemaVersion": "1.0",
                                                                   "CaptureTime": now(), "Content": [{"K": "v"}]}])
                made.append(kind)
        assert error_code(e.value) == "CustomSchemaCountLimitExceededException"
    finally:
        for kind in made:
            ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")


def test_entries_keep_every_character(ssm, instances):
    """Values with tabs, line breaks, backslashes, quotes and non-ASCII text come back exactly (both stores)."""
    kind = f"Custom:Odd{uuid.uuid4().hex[:6]}"
    odd = ["tab\there", "line\nbreak", "back\\slash", 'quote"d', "crlf\r\n", "naïve 日本 🚀", "\\N", ""]
    content = [{"Name": v, "Version": v, "Note": v} for v in odd]
    ssm.put_inventory(InstanceId=instances[1], Items=[{
        "TypeName": kind, "SchemaVersion": "1.0", "CaptureTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "Content": content}])
    entries = ssm.list_inventory_entries(InstanceId=instances[1], TypeName=kind)["Entries"]
    assert entries == content
    ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")
