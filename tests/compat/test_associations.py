"""State Manager with real agents: associations over tag and inventory targets follow membership changes within
seconds, a converged node does no work (exit 168), drift is corrected and visible in compliance."""

import os
import time
import uuid
from datetime import datetime, timezone

import pytest
from botocore.exceptions import ClientError

from compat_helpers import error_code, poll

DOC = """
schemaVersion: '2.2'
description: Keep a configuration file in place.
parameters:
  folder:
    type: String
  content:
    type: String
mainSteps:
  - action: aws:runShellScript
    name: check
    inputs:
      runCommand:
        - 'f="{{ folder }}/$AWS_SSM_INSTANCE_ID.conf"'
        - 'if [ -f "$f" ] && [ "$(cat "$f")" = "{{ content }}" ]; then echo compliant; exit 168; fi'
  - action: aws:runShellScript
    name: apply
    inputs:
      runCommand:
        - 'mkdir -p "{{ folder }}"'
        - 'echo "{{ content }}" > "{{ folder }}/$AWS_SSM_INSTANCE_ID.conf"'
        - 'echo applied >> "{{ folder }}/$AWS_SSM_INSTANCE_ID.log"'
"""


@pytest.fixture(scope="module")
def config_doc(ssm):
    name = f"steward-config-{uuid.uuid4().hex[:8]}"
    ssm.create_document(Content=DOC, Name=name, DocumentType="Command", DocumentFormat="YAML")
    yield name
    ssm.delete_document(Name=name)


def status_of(ssm, instance_id, association_id):
    infos = ssm.describe_instance_associations_status(InstanceId=instance_id)["InstanceAssociationStatusInfos"]
    return next((i for i in infos if i["AssociationId"] == association_id), None)


def wait_status(ssm, instance_id, association_id, status, timeout=30, detailed=None):
    def check():
        s = status_of(ssm, instance_id, association_id)
        if s and s["Status"] == status and (detailed is None or s["DetailedStatus"] == detailed):
            return s
        return None
    return poll(check, timeout, 0.2, f"{instance_id} {status} {detailed or ''}")


def applied_count(folder, instance_id):
    path = os.path.join(folder, f"{instance_id}.log")
    return len(open(path).read().splitlines()) if os.path.exists(path) else 0


def test_association_follows_tags_and_corrects_drift(ssm, instances, config_doc, tmp_path):
    a, b = instances[0], instances[1]
    folder = str(tmp_path)
    key = f"Cfg{uuid.uuid4().hex[:6]}"
    ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=a, Tags=[{"Key": key, "Value": "on"}])
    created = ssm.create_association(
        Name=config_doc, AssociationName=f"cfg-{key}", Targets=[{"Key": f"tag:{key}", "Values": ["on"]}],
        Parameters={"folder": [folder], "content": ["port=8080"]}, ScheduleExpression="rate(30 minutes)",
        ComplianceSeverity="HIGH")["AssociationDescription"]
    aid = created["AssociationId"]
    assert created["AssociationVersion"] == "1" and created["ScheduleExpression"] == "rate(30 minutes)"
    wait_status(ssm, a, aid, "Success")
    assert open(os.path.join(folder, f"{a}.conf")).read() == "port=8080\n"
    assert not os.path.exists(os.path.join(folder, f"{b}.conf"))

    # A node tagged later is brought to the intended state within seconds, without anyone asking.
    started = time.monotonic()
    ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=b, Tags=[{"Key": key, "Value": "on"}])
    wait_status(ssm, b, aid, "Success", timeout=20)
    assert time.monotonic() - started < 20
    assert open(os.path.join(folder, f"{b}.conf")).read() == "port=8080\n"

    # A node untagged is no longer touched; the change is in the history.
    ssm.remove_tags_from_resource(ResourceType="ManagedInstance", ResourceId=a, TagKeys=[key])
    wait_status(ssm, a, aid, "Left", timeout=20)
    before_a = applied_count(folder, a)

    # The next run (as the schedule would start it): a converged node does no work and reports compliant.
    ssm.start_associations_once(AssociationIds=[aid])
    wait_status(ssm, b, aid, "Success", detailed="Compliant", timeout=30)
    assert applied_count(folder, b) == 1
    assert applied_count(folder, a) == before_a

    # Drift: a hand-edited file is restored on the next run, and compliance shows the run.
    with open(os.path.join(folder, f"{b}.conf"), "w") as f:
        f.write("port=9999\n")
    ssm.start_associations_once(AssociationIds=[aid])
    wait_status(ssm, b, aid, "Success", detailed="DriftCorrected", timeout=30)
    assert open(os.path.join(folder, f"{b}.conf")).read() == "port=8080\n"
    items = ssm.list_compliance_items(ResourceIds=[b], ResourceTypes=["ManagedInstance"],
                                      Filters=[{"Key": "ComplianceType", "Values": ["Association"], "Type": "EQUAL"}])["ComplianceItems"]
    mine = [i for i in items if i["Id"] == aid]
    assert mine and mine[0]["Status"] == "COMPLIANT" and mine[0]["Severity"] == "HIGH"
    assert mine[0]["Details"]["DetailedStatus"] == "DriftCorrected"

    executions = ssm.describe_association_executions(AssociationId=aid)["AssociationExecutions"]
    kinds = [e["DetailedStatus"] for e in executions]
    assert {"Create", "MemberJoined", "MemberLeft", "Manual"} <= set(kinds)
    joined = next(e for e in executions if e["DetailedStatus"] == "MemberJoined")
    targets = ssm.describe_association_execution_targets(AssociationId=aid, ExecutionId=joined["ExecutionId"])
    assert [t["ResourceId"] for t in targets["AssociationExecutionTargets"]] == [b]
    assert targets["AssociationExecutionTargets"][0]["OutputSource"]["OutputSourceType"] == "RunCommand"

    effective = ssm.describe_effective_instance_associations(InstanceId=b)["Associations"]
    assert aid in [e["AssociationId"] for e in effective]
    assert aid not in [e["AssociationId"] for e in ssm.describe_effective_instance_associations(InstanceId=a)["Associations"]]

    updated = ssm.update_association(AssociationId=aid, Parameters={"folder": [folder], "content": ["port=8081"]})
    assert updated["AssociationDescription"]["AssociationVersion"] == "2"
    wait_status(ssm, b, aid, "Success", detailed="Success", timeout=30)
    assert open(os.path.join(folder, f"{b}.conf")).read() == "port=8081\n"
    versions = ssm.list_association_versions(AssociationId=aid)["AssociationVersions"]
    assert [v["AssociationVersion"] for v in versions] == ["1", "2"]
    listed = ssm.list_associations(AssociationFilterList=[{"key": "AssociationName", "value": f"cfg-{key}"}])["Associations"]
    assert [x["AssociationId"] for x in listed] == [aid]
    ssm.delete_association(AssociationId=aid)
    with pytest.raises(ClientError) as e:
        ssm.describe_association(AssociationId=aid)
    assert error_code(e.value) == "AssociationDoesNotExist"
    ssm.remove_tags_from_resource(ResourceType="ManagedInstance", ResourceId=b, TagKeys=[key])


def test_inventory_target_joins_when_inventory_changes(ssm, instances, config_doc, tmp_path):
    c = instances[2]
    folder = str(tmp_path)
    kind = f"Custom:Pkg{uuid.uuid4().hex[:6]}"
    aid = ssm.create_association(
        Name=config_doc, Targets=[{"Key": f"inventory:{kind}.Name", "Values": ["nginx"]}],
        Parameters={"folder": [folder], "content": ["inventory"]})["AssociationDescription"]["AssociationId"]
    time.sleep(1)
    assert status_of(ssm, c, aid) is None
    ssm.put_inventory(InstanceId=c, Items=[{"TypeName": kind, "SchemaVersion": "1.0",
                                            "CaptureTime": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                                            "Content": [{"Name": "nginx", "Version": "1.24"}]}])
    wait_status(ssm, c, aid, "Success", timeout=20)
    assert open(os.path.join(folder, f"{c}.conf")).read() == "inventory\n"
    ssm.delete_association(AssociationId=aid)
    ssm.delete_inventory(TypeName=kind, SchemaDeleteOption="DeleteSchema")


def test_custom_compliance_and_summaries(ssm, instances):
    c = instances[2]
    kind = f"Custom:Audit{uuid.uuid4().hex[:6]}"
    ssm.put_compliance_items(
        ResourceId=c, ResourceType="ManagedInstance", ComplianceType=kind,
        ExecutionSummary={"ExecutionTime": datetime.now(timezone.utc)},
        Items=[{"Id": "ssh-root", "Title": "No root login", "Severity": "CRITICAL", "Status": "NON_COMPLIANT"},
               {"Id": "ntp", "Title": "Clock synced", "Severity": "LOW", "Status": "COMPLIANT"}])
    items = ssm.list_compliance_items(ResourceIds=[c], Filters=[{"Key": "ComplianceType", "Values": [kind]}])["ComplianceItems"]
    assert sorted(i["Id"] for i in items) == ["ntp", "ssh-root"]
    summaries = ssm.list_resource_compliance_summaries(Filters=[{"Key": "ComplianceType", "Values": [kind]}])
    s = summaries["ResourceComplianceSummaryItems"][0]
    assert (s["Status"], s["OverallSeverity"]) == ("NON_COMPLIANT", "CRITICAL")
    assert s["NonCompliantSummary"]["SeveritySummary"]["CriticalCount"] == 1
    overall = ssm.list_compliance_summaries(Filters=[{"Key": "ComplianceType", "Values": [kind]}])["ComplianceSummaryItems"]
    assert overall[0]["NonCompliantSummary"]["NonCompliantCount"] == 1
    # COMPLETE replaces what the type said before.
    ssm.put_compliance_items(
        ResourceId=c, ResourceType="ManagedInstance", ComplianceType=kind,
        ExecutionSummary={"ExecutionTime": datetime.now(timezone.utc)},
        Items=[{"Id": "ssh-root", "Title": "No root login", "Severity": "CRITICAL", "Status": "COMPLIANT"}])
    items = ssm.list_compliance_items(ResourceIds=[c], Filters=[{"Key": "ComplianceType", "Values": [kind]}])["ComplianceItems"]
    assert [(i["Id"], i["Status"]) for i in items] == [("ssh-root", "COMPLIANT")]


@pytest.mark.parametrize("kwargs,code", [
    ({"Name": "no-such-document", "Targets": [{"Key": "InstanceIds", "Values": ["*"]}]}, "InvalidDocument"),
    ({"Name": "AWS-RunShellScript", "Targets": [{"Key": "InstanceIds", "Values": ["*"]}],
      "Parameters": {"commands": ["true"]}, "ScheduleExpression": "rate(5 minutes)"}, "InvalidSchedule"),
    ({"Name": "AWS-RunShellScript", "Targets": [{"Key": "InstanceIds", "Values": ["*"]}],
      "Parameters": {"commands": ["true"]}, "ScheduleExpression": "cron(0 2 ? * NOPE *)"}, "InvalidSchedule"),
    ({"Name": "AWS-RunShellScript", "Targets": [{"Key": "InstanceIds", "Values": ["*"]}]}, "InvalidParameters"),
    ({"Name": "AWS-RunShellScript", "Targets": [{"Key": "resource-groups:Name", "Values": ["x"]}],
      "Parameters": {"commands": ["true"]}}, "InvalidTarget"),
])
def test_create_association_errors(ssm, kwargs, code):
    with pytest.raises(ClientError) as e:
        ssm.create_association(**kwargs)
    assert error_code(e.value) == code


def test_unknown_association(ssm):
    with pytest.raises(ClientError) as e:
        ssm.describe_association(AssociationId=str(uuid.uuid4()))
    assert error_code(e.value) == "AssociationDoesNotExist"
    with pytest.raises(ClientError) as e:
        ssm.start_associations_once(AssociationIds=[str(uuid.uuid4())])
    assert error_code(e.value) == "InvalidAssociation"
