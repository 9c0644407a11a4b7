"""Groups of nodes through the AWS Resource Groups API (boto3 `resource-groups` and the aws CLI): tag groups, Steward
node-query groups with and/or over tags, platform, agent version, PingStatus and inventory, and associations and
commands that target a group by `resource-groups:Name`, following membership as nodes change."""

import json
import os
import time
import uuid
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from compat_helpers import error_code, poll
from test_associations import DOC, status_of, wait_status


def members(groups, name):
    ids, token = [], None
    while True:
        page = groups.list_group_resources(Group=name, **({"NextToken": token} if token else {}))
        ids += [r["ResourceArn"].rsplit("/", 1)[1] for r in page["ResourceIdentifiers"]]
        token = page.get("NextToken")
        if not token:
            return sorted(ids)


def tag_query(*filters, types=("AWS::SSM::ManagedInstance",)):
    return {"Type": "TAG_FILTERS_1_0",
            "Query": json.dumps({"ResourceTypeFilters": list(types),
                                 "TagFilters": [{"Key": k, "Values": v} for k, v in filters]})}


def node_query(text):
    return {"Type": "STEWARD_NODE_QUERY_1_0", "Query": text}


@pytest.fixture
def tag_key(ssm, instances):
    key = f"Grp{uuid.uuid4().hex[:6]}"
    yield key
    for i in instances:
        ssm.remove_tags_from_resource(ResourceType="ManagedInstance", ResourceId=i, TagKeys=[key])


def tag(ssm, instance, key, value):
    ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=instance, Tags=[{"Key": key, "Value": value}])


def test_tag_group_lifecycle(groups, ssm, instances, tag_key):
    a, b, c = instances[0], instances[1], instances[2]
    tag(ssm, a, tag_key, "web")
    tag(ssm, b, tag_key, "db")
    name = f"web-{tag_key}"
    created = groups.create_group(Name=name, Description="web nodes", ResourceQuery=tag_query((tag_key, ["web"])),
                                  Tags={"team": "ops"})
    assert created["Group"]["Name"] == name
    assert created["Group"]["GroupArn"] == f"arn:aws:resource-groups:us-east-1:123456789012:group/{name}"
    assert created["ResourceQuery"]["Type"] == "TAG_FILTERS_1_0" and created["Tags"] == {"team": "ops"}
    assert groups.get_group(Group=name)["Group"]["Description"] == "web nodes"
    assert groups.get_group(GroupName=created["Group"]["GroupArn"])["Group"]["Name"] == name
    query = groups.get_group_query(Group=name)["GroupQuery"]
    assert query["GroupName"] == name and json.loads(query["ResourceQuery"]["Query"])["TagFilters"][0]["Key"] == tag_key

    listed = groups.list_group_resources(Group=name)
    assert [r["ResourceArn"] for r in listed["ResourceIdentifiers"]] == [
        f"arn:aws:ssm:us-east-1:123456789012:managed-instance/{a}"]
    assert listed["Resources"][0]["Identifier"]["ResourceType"] == "AWS::SSM::ManagedInstance"

    # Membership follows tags: no stored member list.
    tag(ssm, c, tag_key, "web")
    assert members(groups, name) == sorted([a, c])
    # A key with no values means "has the tag"; values of one key are ORed.
    groups.update_group_query(Group=name, ResourceQuery=tag_query((tag_key, [])))
    assert members(groups, name) == sorted([a, b, c])
    groups.update_group_query(Group=name, ResourceQuery=tag_query((tag_key, ["db", "web"])))
    assert members(groups, name) == sorted([a, b, c])

    names = [g["GroupName"] for g in groups.list_groups()["GroupIdentifiers"]]
    assert name in names
    typed = groups.list_groups(Filters=[{"Name": "resource-type", "Values": ["AWS::SSM::ManagedInstance"]}])
    assert name in [g["GroupName"] for g in typed["GroupIdentifiers"]]
    other = groups.list_groups(Filters=[{"Name": "resource-type", "Values": ["AWS::S3::Bucket"]}])
    assert name not in [g["GroupName"] for g in other["GroupIdentifiers"]]

    groups.update_group(Group=name, Description="changed")
    assert groups.get_group(Group=name)["Group"]["Description"] == "changed"
    assert groups.delete_group(Group=name)["Group"]["Name"] == name
    with pytest.raises(ClientError) as e:
        groups.get_group(Group=name)
    assert error_code(e.value) == "NotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_group_of_other_resource_types_has_no_nodes(groups, ssm, instances, tag_key):
    tag(ssm, instances[0], tag_key, "x")
    name = f"buckets-{tag_key}"
    groups.create_group(Name=name, ResourceQuery=tag_query((tag_key, ["x"]), types=("AWS::S3::Bucket",)))
    page = groups.list_group_resources(Group=name)
    assert page["ResourceIdentifiers"] == []
    assert page["QueryErrors"][0]["ErrorCode"] == "RESOURCE_TYPE_NOT_SUPPORTED"
    groups.delete_group(Group=name)


def test_node_query_groups_combine_attributes_with_and_or(groups, ssm, instances, tag_key):
    a, b, c = instances[0], instances[1], instances[2]
    tag(ssm, a, tag_key, "web")
    tag(ssm, b, tag_key, "db")
    info = {i["InstanceId"]: i for i in ssm.describe_instance_information()["InstanceInformationList"]}
    platform = info[a]["PlatformName"]
    name = f"mixed-{tag_key}"
    text = f"PingStatus = Online and (tag:{tag_key} = web or InstanceId = {c}) and PlatformName = '{platform}'"
    groups.create_group(Name=name, ResourceQuery=node_query(text))
    assert members(groups, name) == sorted([a, c])
    assert groups.get_group_query(Group=name)["GroupQuery"]["ResourceQuery"]["Query"] == text

    checks = {
        f"tag:{tag_key} exists and not tag:{tag_key} = db": [a],
        f"tag:{tag_key} in (web, db)": [a, b],
        "AgentVersion >= 0.0.1 and AgentVersion < 999.0": [a, b, c],
        f"PlatformName ^= '{platform[:3]}' and InstanceId != {a}": [b, c],
        "PingStatus = ConnectionLost": [],
    }
    for text, expected in checks.items():
        found = groups.search_resources(ResourceQuery=node_query(text))["ResourceIdentifiers"]
        ids = sorted(r["ResourceArn"].rsplit("/", 1)[1] for r in found if r["ResourceArn"].rsplit("/", 1)[1] in instances)
        assert ids == sorted(expected), text
    groups.delete_group(Group=name)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"Name": "bad name!", "ResourceQuery": {"Type": "TAG_FILTERS_1_0", "Query": "{}"}}, "Name"),
    ({"Name": "AWSgroup", "ResourceQuery": {"Type": "STEWARD_NODE_QUERY_1_0", "Query": "PingStatus = Online"}}, "AWS"),
    ({"Name": "g1", "ResourceQuery": {"Type": "TAG_FILTERS_1_0", "Query": "not json"}}, "TAG_FILTERS_1_0"),
    ({"Name": "g2", "ResourceQuery": {"Type": "TAG_FILTERS_1_0",
                                      "Query": json.dumps({"ResourceTypeFilters": ["AWS::AllSupported"], "TagFilters": []})}},
     "TagFilters"),
    ({"Name": "g3", "ResourceQuery": {"Type": "STEWARD_NODE_QUERY_1_0", "Query": "Colour = blue"}}, "unknown key"),
    ({"Name": "g4", "ResourceQuery": {"Type": "STEWARD_NODE_QUERY_1_0", "Query": "(tag:a = b"}}, "not closed"),
    ({"Name": "g5", "ResourceQuery": {"Type": "CLOUDFORMATION_STACK_1_0", "Query": "{}"}}, "not supported"),
])
def test_create_group_errors(groups, kwargs, fragment):
    with pytest.raises(ClientError) as e:
        groups.create_group(**kwargs)
    assert error_code(e.value) == "BadRequestException"
    assert fragment in e.value.response["Error"]["Message"]


def test_duplicate_and_unknown_groups(groups):
    name = f"dup-{uuid.uuid4().hex[:6]}"
    groups.create_group(Name=name, ResourceQuery=node_query("PingStatus = Online"))
    with pytest.raises(ClientError) as e:
        groups.create_group(Name=name, ResourceQuery=node_query("PingStatus = Online"))
    assert error_code(e.value) == "BadRequestException"
    groups.delete_group(Group=name)
    for call in (groups.get_group_query, groups.delete_group, groups.list_group_resources):
        with pytest.raises(ClientError) as e:
            call(Group=name)
        assert error_code(e.value) == "NotFoundException"


@pytest.fixture(scope="module")
def config_doc(ssm):
    name = f"steward-group-config-{uuid.uuid4().hex[:8]}"
    ssm.create_document(Content=DOC, Name=name, DocumentType="Command", DocumentFormat="YAML")
    yield name
    ssm.delete_document(Name=name)


def test_association_over_a_group_follows_tags_inventory_and_query_changes(groups, ssm, instances, config_doc, tag_key,
                                                                           tmp_path):
    a, b, c = instances[0], instances[1], instances[2]
    folder = str(tmp_path)
    kind = f"Custom:Role{uuid.uuid4().hex[:6]}"
    name = f"web-or-nginx-{tag_key}"
    groups.create_group(Name=name, ResourceQuery=node_query(f"tag:{tag_key} = web or {kind}.Package = nginx"))
    tag(ssm, a, tag_key, "web")
    aid = ssm.create_association(
        Name=config_doc, Targets=[{"Key": "resource-groups:Name", "Values": [name]}],
        Parameters={"folder": [folder], "content": ["group"]})["AssociationDescription"]["AssociationId"]
    wait_status(ssm, a, aid, "Success")
    assert open(os.path.join(folder, f"{a}.conf")).read() == "group\n"
    assert status_of(ssm, b, aid) is None and status_of(ssm, c, aid) is None

    # A node whose inventory starts listing the package joins (the OR's other branch).
    ssm.put_inventory(InstanceId=c, Items=[{"TypeName": kind, "SchemaVersion": "1.0",
                                            "CaptureTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                            "Content": [{"Package": "nginx"}]}])
    wait_status(ssm, c, aid, "Success", timeout=20)
    assert os.path.exists(os.path.join(folder, f"{c}.conf"))

    # Changing the group's query moves nodes in and out at once.
    groups.update_group_query(Group=name, ResourceQuery=node_query(f"tag:{tag_key} = web or InstanceId = {b}"))
    wait_status(ssm, b, aid, "Success", timeout=20)
    wait_status(ssm, c, aid, "Left", timeout=20)
    effective = ssm.describe_effective_instance_associations(InstanceId=b)["Associations"]
    assert aid in [e["AssociationId"] for e in effective]

    # A command can target the group too.
    cid = ssm.send_command(DocumentName="AWS-RunShellScript", Targets=[{"Key": "resource-groups:Name", "Values": [name]}],
                           Parameters={"commands": ["echo in-group"]})["Command"]["CommandId"]
    invs = poll(lambda: (lambda r: r if r and all(i["Status"] == "Success" for i in r) else None)(
        ssm.list_command_invocations(CommandId=cid)["CommandInvocations"]), 30, 0.3, "group command")
    assert sorted(i["InstanceId"] for i in invs) == sorted([a, b])

    # Deleting the group leaves the association without members.
    groups.delete_group(Group=name)
    wait_status(ssm, a, aid, "Left", timeout=20)
    ssm.delete_association(AssociationId=aid)
    ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")


def test_unknown_group_target(ssm):
    with pytest.raises(ClientError) as e:
        ssm.send_command(DocumentName="AWS-RunShellScript", Targets=[{"Key": "resource-groups:Name", "Values": ["nope"]}],
                         Parameters={"commands": ["true"]})
    assert error_code(e.value) == "InvalidTarget"


def test_groups_with_the_aws_cli(aws_cli, ssm, instances, tag_key):
    tag(ssm, instances[1], tag_key, "cli")
    name = f"cli-{tag_key}"
    query = json.dumps(tag_query((tag_key, ["cli"])))
    created = aws_cli("create-group", "--name", name, "--resource-query", query, parse_json=True, service="resource-groups")
    assert created.returncode == 0, created.stderr
    assert created.json["Group"]["Name"] == name
    listed = aws_cli("list-group-resources", "--group", name, parse_json=True, service="resource-groups")
    assert [r["ResourceArn"].rsplit("/", 1)[1] for r in listed.json["ResourceIdentifiers"]] == [instances[1]]
    missing = aws_cli("get-group", "--group", "no-such-group", service="resource-groups")
    assert missing.returncode != 0 and "NotFoundException" in missing.stderr
    assert aws_cli("delete-group", "--group", name, service="resource-groups").returncode == 0


def test_groups_cli(steward_binaries, server, ssm, instances, tag_key):
    import subprocess
    env = {**os.environ, "AWS_ACCESS_KEY_ID": server.key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": server.key["SecretAccessKey"],
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": server.url}
    steward = steward_binaries["steward"]

    def run(*args):
        return subprocess.run([steward, "groups", *args], capture_output=True, text=True, env=env, timeout=60)

    tag(ssm, instances[2], tag_key, "blue")
    name = f"steward-cli-{tag_key}"
    made = run("create", name, "--query", f"tag:{tag_key} = blue and PingStatus = Online")
    assert made.returncode == 0, made.stderr
    assert run("members", name).stdout.split() == [instances[2]]
    assert name in run("ls").stdout

    def assoc(*args):
        return subprocess.run([steward, "associations", *args], capture_output=True, text=True, env=env, timeout=60)

    aid = ssm.create_association(Name="AWS-RunShellScript", Targets=[{"Key": "resource-groups:Name", "Values": [name]}],
                                 Parameters={"commands": ["echo cli"]})["AssociationDescription"]["AssociationId"]
    assert aid in assoc("ls").stdout
    assert assoc("run", aid).returncode == 0
    poll(lambda: instances[2] in assoc("show", aid).stdout and "Success" in assoc("show", aid).stdout, 30, 0.5, "association show")
    assert assoc("run", "00000000-0000-0000-0000-000000000000").returncode != 0
    ssm.delete_association(AssociationId=aid)

    assert run("update", name, "--tags", f"{tag_key}=green").returncode == 0
    assert run("members", name).stdout.split() == []
    bad = run("create", "x" + name, "--query", "tag:a =")
    assert bad.returncode != 0 and "not valid" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert run("rm", name).returncode == 0
    gone = run("show", name)
    assert gone.returncode != 0 and "NotFoundException" in gone.stderr


def test_group_paging_limits(groups):
    with pytest.raises(ClientError) as e:
        groups.search_resources(ResourceQuery=node_query("PingStatus = Online"), MaxResults=51)
    assert error_code(e.value) == "BadRequestException"
    page = groups.search_resources(ResourceQuery=node_query("PingStatus = Online"), MaxResults=1)
    assert len(page["ResourceIdentifiers"]) == 1 and page.get("NextToken")
    rest = groups.search_resources(ResourceQuery=node_query("PingStatus = Online"), MaxResults=50, NextToken=page["NextToken"])
    assert page["ResourceIdentifiers"][0] not in rest["ResourceIdentifiers"]
