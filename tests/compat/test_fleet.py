"""DescribeInstanceInformation filters and managed-instance tags."""

import re

from compat_helpers import all_instance_information, tags_of

INSTANCE_ID_RE = re.compile(r"^mi-\w{17}$")


def _ids(ssm, **kwargs):
    return {i["InstanceId"] for i in all_instance_information(ssm, **kwargs)}


def test_registered_instances_have_managed_instance_ids_and_fields(ssm, instances):
    info = {i["InstanceId"]: i for i in all_instance_information(ssm)}
    for iid in instances:
        assert INSTANCE_ID_RE.match(iid), iid
        item = info[iid]
        assert item["PingStatus"] == "Online"
        assert item["PlatformType"] == "Linux"
        assert item["ResourceType"] == "ManagedInstance"
        assert item["ActivationId"] == instances.activation_id
        assert item["IamRole"] == "SSMServiceRole"
        for key in ("IPAddress", "ComputerName", "AgentVersion"):
            assert item.get(key), f"{key} missing for {iid}: {item}"
        assert item.get("LastPingDateTime") is not None
        assert item.get("RegistrationDate") is not None


def test_describe_instance_information_filters(ssm, instances):
    one = instances[1]
    assert _ids(ssm, InstanceInformationFilterList=[{"key": "InstanceIds", "valueSet": [one]}]) == {one}
    assert _ids(ssm, Filters=[{"Key": "InstanceIds", "Values": [one]}]) == {one}

    online = _ids(ssm, Filters=[{"Key": "PingStatus", "Values": ["Online"]}])
    assert set(instances) <= online
    online_legacy = _ids(ssm, InstanceInformationFilterList=[{"key": "PingStatus", "valueSet": ["Online"]}])
    assert online_legacy == online
    assert not (set(instances) & _ids(ssm, Filters=[{"Key": "PingStatus", "Values": ["ConnectionLost"]}]))

    linux = _ids(ssm, Filters=[{"Key": "PlatformTypes", "Values": ["Linux"]}])
    assert set(instances) <= linux
    assert not (set(instances) & _ids(ssm, Filters=[{"Key": "PlatformTypes", "Values": ["Windows"]}]))

    assert _ids(ssm, Filters=[{"Key": "tag:Role", "Values": ["db"]}]) == set(instances.by_role["db"])
    assert _ids(ssm, Filters=[{"Key": "tag:Role", "Values": ["web"]}]) == set(instances.by_role["web"])
    assert _ids(ssm, Filters=[{"Key": "tag:Role", "Values": ["web", "db"]}]) == set(instances)
    assert _ids(ssm, Filters=[
        {"Key": "tag:Role", "Values": ["web"]},
        {"Key": "InstanceIds", "Values": [instances[0], instances[2]]},
    ]) == {instances[0]}

    page = ssm.describe_instance_information(MaxResults=5)
    assert len(page["InstanceInformationList"]) <= 5


def test_managed_instance_tags_come_from_activation_and_round_trip(ssm, instances):
    db = instances.by_role["db"][0]
    tags = tags_of(ssm, db)
    assert tags.get("Role") == "db"
    assert tags.get("Env") == "test"  # copied from the activation
    for web in instances.by_role["web"]:
        assert tags_of(ssm, web).get("Role") == "web"
        assert tags_of(ssm, web).get("Env") == "test"

    target = instances[0]
    ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=target,
                             Tags=[{"Key": "Extra", "Value": "1"}, {"Key": "Owner", "Value": "compat"}])
    try:
        tags = tags_of(ssm, target)
        assert tags.get("Extra") == "1"
        assert tags.get("Owner") == "compat"
        assert tags.get("Role") == "web"
        assert _ids(ssm, Filters=[{"Key": "tag:Extra", "Values": ["1"]}]) == {target}

        # overwriting a tag keeps one value per key
        ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=target,
                                 Tags=[{"Key": "Extra", "Value": "2"}])
        resp = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=target)
        assert [t["Value"] for t in resp["TagList"] if t["Key"] == "Extra"] == ["2"]
    finally:
        ssm.remove_tags_from_resource(ResourceType="ManagedInstance", ResourceId=target,
                                      TagKeys=["Extra", "Owner"])
    tags = tags_of(ssm, target)
    assert "Extra" not in tags and "Owner" not in tags
    assert tags.get("Role") == "web" and tags.get("Env") == "test"
    assert _ids(ssm, Filters=[{"Key": "tag:Extra", "Values": ["2"]}]) == set()
