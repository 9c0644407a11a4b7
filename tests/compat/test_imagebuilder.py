"""Image pipeline definitions through the EC2 Image Builder API (boto3 `imagebuilder` and the aws CLI): components with
semantic versions and parameters, image recipes, infrastructure and distribution configurations, pipelines, images
as records, idempotent client tokens, list filters and paging, and the service's error shapes."""

import json
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from compat_helpers import REGION, error_code

ACCOUNT = "123456789012"

HELLO = """\
name: hello
description: says hello
schemaVersion: 1.0
parameters:
  - Greeting:
      type: string
      default: hello
      description: what to say
  - Target:
      type: string
phases:
  - name: build
    steps:
      - name: Say
        action: ExecuteBash
        inputs:
          commands:
            - 'echo "{{ Greeting }} {{ Target }}"'
  - name: validate
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands: ['true']
"""

SMOKE = """\
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Smoke
        action: ExecuteBash
        inputs:
          commands: ['true']
"""


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def arn(kind, path):
    return f"arn:aws:imagebuilder:{REGION}:{ACCOUNT}:{kind}/{path}"


def code_of(fn, **kwargs):
    with pytest.raises(ClientError) as info:
        fn(**kwargs)
    return error_code(info.value), info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def component(ib, name, version, data=HELLO, **kw):
    return ib.create_component(name=name, semanticVersion=version, platform="Linux", data=data, **kw)["componentBuildVersionArn"]


@pytest.fixture
def infra(imagebuilder):
    name = unique("infra")
    out = imagebuilder.create_infrastructure_configuration(
        name=name, instanceProfileName="steward", instanceTypes=["t3.micro"], tags={"steward:provider": "chroot"})
    yield out["infrastructureConfigurationArn"]


@pytest.fixture
def recipe(imagebuilder):
    name = unique("base")
    component(imagebuilder, name, "1.0.0")
    created = imagebuilder.create_image_recipe(
        name=name, semanticVersion="1.0.0", parentImage="debian-12",
        components=[{"componentArn": arn("component", f"{name}/1.0.0"),
                     "parameters": [{"name": "Target", "value": ["world"]}]}])
    return created["imageRecipeArn"]


def test_component_lifecycle(imagebuilder):
    ib = imagebuilder
    name = unique("hello")
    created = ib.create_component(name=name, semanticVersion="1.0.0", platform="Linux", data=HELLO,
                                  description="greets", tags={"team": "ops"})
    build_arn = created["componentBuildVersionArn"]
    assert build_arn == arn("component", f"{name}/1.0.0/1")
    assert created["clientToken"]
    assert created["latestVersionReferences"]["latestVersionArn"] == arn("component", f"{name}/1.0.0")

    got = ib.get_component(componentBuildVersionArn=build_arn)["component"]
    assert got["arn"] == build_arn and got["name"] == name and got["version"] == "1.0.0"
    assert got["type"] == "BUILD" and got["platform"] == "Linux" and got["owner"] == ACCOUNT
    assert got["data"] == HELLO and got["description"] == "greets" and got["tags"] == {"team": "ops"}
    assert got["state"]["status"] == "ACTIVE"
    assert {p["name"]: p for p in got["parameters"]}["Greeting"] == {
        "name": "Greeting", "type": "string", "defaultValue": ["hello"], "description": "what to say"}
    assert {p["name"] for p in got["parameters"]} == {"Greeting", "Target"}
    assert "dateCreated" in got and got["dateCreated"].endswith("Z")

    test = ib.create_component(name=unique("smoke"), semanticVersion="0.1.0", platform="Linux", data=SMOKE)
    assert ib.get_component(componentBuildVersionArn=test["componentBuildVersionArn"])["component"]["type"] == "TEST"

    assert ib.delete_component(componentBuildVersionArn=build_arn)["componentBuildVersionArn"] == build_arn
    code, status = code_of(ib.get_component, componentBuildVersionArn=build_arn)
    assert (code, status) == ("ResourceNotFoundException", 404)
    # the version can be made again; its build number is not reused
    again = component(ib, name, "1.0.0")
    assert again == arn("component", f"{name}/1.0.0/2")


def test_versions_and_wildcards(imagebuilder):
    ib = imagebuilder
    name = unique("ver")
    for v in ["1.6.8", "1.7.8", "2.2.4", "1.10.0"]:
        component(ib, name, v)
    newest = lambda sel: ib.get_component(componentBuildVersionArn=arn("component", f"{name}/{sel}"))["component"]["version"]
    assert newest("x.x.x") == "2.2.4"
    assert newest("1.x.x") == "1.10.0"
    assert newest("1.6.x") == "1.6.8"
    refs = ib.get_component(componentBuildVersionArn=arn("component", f"{name}/1.6.8/1"))["latestVersionReferences"]
    assert refs["latestVersionArn"] == arn("component", f"{name}/2.2.4")
    assert refs["latestMajorVersionArn"] == arn("component", f"{name}/1.10.0")
    assert refs["latestMinorVersionArn"] == arn("component", f"{name}/1.6.8")
    assert refs["latestPatchVersionArn"] == arn("component", f"{name}/1.6.8/1")

    builds = ib.list_component_build_versions(componentVersionArn=arn("component", f"{name}/1.7.8"))["componentSummaryList"]
    assert [b["arn"] for b in builds] == [arn("component", f"{name}/1.7.8/1")]

    for bad in ["1.0", "1.0.0.0", "a.b.c", "1.x.0", "1073741824.0.0"]:
        assert code_of(ib.create_component, name=unique("bad"), semanticVersion=bad, platform="Linux", data=HELLO)[0] == \
            "InvalidVersionNumberException", bad
    for bad in ["x.2.x", "1.x.8"]:
        code, _ = code_of(ib.get_component, componentBuildVersionArn=arn("component", f"{name}/{bad}"))
        assert code == "InvalidParameterValueException", bad
    assert code_of(ib.create_component, name=name, semanticVersion="2.2.4", platform="Linux", data=HELLO)[0] == \
        "ResourceInUseException"


def test_list_components_filters_and_paging(imagebuilder):
    ib = imagebuilder
    tag = uuid.uuid4().hex[:6]
    names = [f"page-{tag}-{i}" for i in range(4)]
    for n in names:
        component(ib, n, "1.0.0")
        component(ib, n, "1.1.0")
    component(ib, f"page-{tag}-test", "1.0.0", data=SMOKE)

    def listed(**kw):
        out, token = [], None
        while True:
            page = ib.list_components(maxResults=3, **kw, **({"nextToken": token} if token else {}))
            assert len(page["componentVersionList"]) <= 3
            out += page["componentVersionList"]
            token = page.get("nextToken")
            if not token:
                return out

    mine = [c for c in listed(owner="Self") if c["name"].startswith(f"page-{tag}")]
    assert len(mine) == 9
    assert all(c["arn"].count("/") == 2 for c in mine)  # version ARNs, without build
    by_name = [c for c in listed(byName=True) if c["name"].startswith(f"page-{tag}")]
    assert sorted(c["name"] for c in by_name) == sorted(names + [f"page-{tag}-test"])
    assert {c["version"] for c in by_name if c["name"] in names} == {"1.1.0"}

    one = listed(filters=[{"name": "name", "values": [names[0]]}])
    assert [c["version"] for c in one] == ["1.0.0", "1.1.0"]
    v = listed(filters=[{"name": "name", "values": names}, {"name": "version", "values": ["1.1.x"]}])
    assert sorted(c["name"] for c in v) == sorted(names)
    tests = listed(filters=[{"name": "type", "values": ["TEST"]}, {"name": "platform", "values": ["Linux"]}])
    assert f"page-{tag}-test" in [c["name"] for c in tests] and all(c["type"] == "TEST" for c in tests)
    assert ib.list_components(owner="Amazon")["componentVersionList"] == []

    assert code_of(ib.list_components, filters=[{"name": "color", "values": ["red"]}])[0] == "InvalidParameterValueException"
    assert code_of(ib.list_components, nextToken="forged")[0] == "InvalidPaginationTokenException"

    # the paginator of boto3 drives nextToken the same way
    pages = ib.get_paginator("list_components").paginate(
        filters=[{"name": "name", "values": names}], PaginationConfig={"PageSize": 2})
    assert sum(len(p["componentVersionList"]) for p in pages) == 8


def test_component_document_is_validated(imagebuilder):
    ib = imagebuilder
    code, status = code_of(ib.create_component, name=unique("bad"), semanticVersion="1.0.0", platform="Linux",
                           data="schemaVersion: 1.0\nphases:\n  - name: build\n    steps:\n      - name: S\n        action: NoSuchAction\n        inputs: {}\n")
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert code_of(ib.create_component, name=unique("bad"), semanticVersion="1.0.0", platform="Linux",
                   data="phases: [")[0] == "InvalidParameterValueException"
    assert code_of(ib.create_component, name=unique("bad"), semanticVersion="1.0.0", platform="Linux",
                   uri="s3://bucket/key.yaml")[0] == "InvalidParameterValueException"
    assert code_of(ib.create_component, name=unique("bad"), semanticVersion="1.0.0", platform="Linux")[0] == \
        "InvalidParameterCombinationException"
    assert code_of(ib.create_component, name="x", semanticVersion="1.0.0", platform="Linux", data=HELLO)[0] == \
        "InvalidParameterValueException"
    assert code_of(ib.create_component, name=unique("bad"), semanticVersion="1.0.0", platform="Plan9", data=HELLO)[0] == \
        "InvalidParameterValueException"
    code, status = code_of(ib.create_component, name=unique("dry"), semanticVersion="1.0.0", platform="Linux", data=HELLO,
                           dryRun=True)
    assert (code, status) == ("DryRunOperationException", 412)


def test_client_token_idempotency(imagebuilder):
    ib = imagebuilder
    name, token = unique("idem"), str(uuid.uuid4())
    first = ib.create_component(name=name, semanticVersion="1.0.0", platform="Linux", data=HELLO, clientToken=token)
    second = ib.create_component(name=name, semanticVersion="1.0.0", platform="Linux", data=HELLO, clientToken=token)
    assert first["componentBuildVersionArn"] == second["componentBuildVersionArn"] == arn("component", f"{name}/1.0.0/1")
    assert second["clientToken"] == token
    code, _ = code_of(ib.create_component, name=name, semanticVersion="1.0.1", platform="Linux", data=HELLO, clientToken=token)
    assert code == "IdempotentParameterMismatchException"
    assert len(ib.list_component_build_versions(componentVersionArn=arn("component", f"{name}/1.0.0"))["componentSummaryList"]) == 1


def test_recipe_lifecycle_and_parameters(imagebuilder):
    ib = imagebuilder
    name = unique("web")
    comp = component(ib, name, "1.0.0")
    version_arn = arn("component", f"{name}/1.x.x")
    created = ib.create_image_recipe(
        name=name, semanticVersion="1.0.0", parentImage="debian-12", workingDirectory="/tmp", description="a web server",
        components=[{"componentArn": version_arn, "parameters": [{"name": "Target", "value": ["world"]}]}],
        blockDeviceMappings=[{"deviceName": "/dev/vda", "ebs": {"volumeSize": 8, "volumeType": "gp3"}}],
        tags={"team": "web"})
    recipe_arn = created["imageRecipeArn"]
    assert recipe_arn == arn("image-recipe", f"{name}/1.0.0")
    got = ib.get_image_recipe(imageRecipeArn=recipe_arn)["imageRecipe"]
    assert got["parentImage"] == "debian-12" and got["workingDirectory"] == "/tmp" and got["version"] == "1.0.0"
    assert got["components"] == [{"componentArn": version_arn, "parameters": [{"name": "Target", "value": ["world"]}]}]
    assert got["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 8
    assert got["owner"] == ACCOUNT and got["platform"] == "Linux" and got["tags"] == {"team": "web"}

    summaries = ib.list_image_recipes(filters=[{"name": "name", "values": [name]}])["imageRecipeSummaryList"]
    assert [s["arn"] for s in summaries] == [recipe_arn] and summaries[0]["parentImage"] == "debian-12"

    def recipe_error(**kw):
        args = dict(name=unique("r"), semanticVersion="1.0.0", parentImage="debian-12",
                    components=[{"componentArn": comp, "parameters": [{"name": "Target", "value": ["w"]}]}])
        args.update(kw)
        return code_of(ib.create_image_recipe, **args)

    assert recipe_error(components=[{"componentArn": comp, "parameters": [{"name": "Nope", "value": ["x"]}]}])[0] == \
        "InvalidParameterValueException"
    assert recipe_error(components=[{"componentArn": comp}])[0] == "InvalidParameterValueException"  # Target has no default
    assert recipe_error(components=[{"componentArn": comp, "parameters": [{"name": "Target", "value": ["a", "b"]}]}])[0] == \
        "InvalidParameterValueException"
    assert recipe_error(components=[{"componentArn": arn("component", "no-such/1.0.0")}]) == ("ResourceNotFoundException", 404)
    assert recipe_error(workingDirectory="relative")[0] == "InvalidParameterValueException"
    assert recipe_error(semanticVersion="1.0")[0] == "InvalidVersionNumberException"
    assert recipe_error(name=name)[0] == "ResourceAlreadyExistsException"

    # the component is in use by the recipe (through its wildcard), so it cannot go first
    code, status = code_of(ib.delete_component, componentBuildVersionArn=comp)
    assert (code, status) == ("ResourceDependencyException", 400)
    assert ib.delete_image_recipe(imageRecipeArn=recipe_arn)["imageRecipeArn"] == recipe_arn
    assert code_of(ib.get_image_recipe, imageRecipeArn=recipe_arn)[0] == "ResourceNotFoundException"
    ib.delete_component(componentBuildVersionArn=comp)


def test_infrastructure_configurations(imagebuilder):
    ib = imagebuilder
    name = unique("infra")
    created = ib.create_infrastructure_configuration(
        name=name, instanceProfileName="steward", instanceTypes=["m5.large"], description="local builds",
        terminateInstanceOnFailure=False, tags={"steward:provider": "qemu"})
    cfg_arn = created["infrastructureConfigurationArn"]
    assert cfg_arn == arn("infrastructure-configuration", name)
    got = ib.get_infrastructure_configuration(infrastructureConfigurationArn=cfg_arn)["infrastructureConfiguration"]
    assert got["instanceTypes"] == ["m5.large"] and got["terminateInstanceOnFailure"] is False
    assert got["tags"] == {"steward:provider": "qemu"} and got["description"] == "local builds"

    ib.update_infrastructure_configuration(infrastructureConfigurationArn=cfg_arn, instanceProfileName="steward2",
                                           description="changed")
    got = ib.get_infrastructure_configuration(infrastructureConfigurationArn=cfg_arn)["infrastructureConfiguration"]
    assert got["description"] == "changed" and got["instanceProfileName"] == "steward2" and "dateUpdated" in got
    listed = ib.list_infrastructure_configurations(filters=[{"name": "name", "values": [name]}])
    assert [c["arn"] for c in listed["infrastructureConfigurationSummaryList"]] == [cfg_arn]

    assert code_of(ib.create_infrastructure_configuration, name=name, instanceProfileName="x")[0] == \
        "ResourceAlreadyExistsException"
    assert code_of(ib.create_infrastructure_configuration, name=unique("i"), instanceProfileName="x",
                   tags={"steward:provider": "docker"})[0] == "InvalidParameterValueException"
    ib.delete_infrastructure_configuration(infrastructureConfigurationArn=cfg_arn)
    assert code_of(ib.get_infrastructure_configuration, infrastructureConfigurationArn=cfg_arn) == \
        ("ResourceNotFoundException", 404)


def test_distribution_configurations(imagebuilder, tmp_path):
    ib = imagebuilder
    name = unique("dist")
    dists = [{"region": REGION, "amiDistributionConfiguration": {"name": "web {{ imagebuilder:buildDate }}"},
              "s3ExportConfiguration": {"roleName": "steward", "diskImageFormat": "QCOW2", "s3Bucket": str(tmp_path)}}]
    cfg_arn = ib.create_distribution_configuration(name=name, distributions=dists)["distributionConfigurationArn"]
    got = ib.get_distribution_configuration(distributionConfigurationArn=cfg_arn)["distributionConfiguration"]
    assert got["distributions"] == dists and got["timeoutMinutes"] == 720
    summary = ib.list_distribution_configurations(filters=[{"name": "name", "values": [name]}])["distributionConfigurationSummaryList"]
    assert summary[0]["regions"] == [REGION]

    raw = [{"region": REGION, "s3ExportConfiguration": {"roleName": "r", "diskImageFormat": "RAW", "s3Bucket": str(tmp_path)}}]
    ib.update_distribution_configuration(distributionConfigurationArn=cfg_arn, distributions=raw)
    got = ib.get_distribution_configuration(distributionConfigurationArn=cfg_arn)["distributionConfiguration"]
    assert got["distributions"] == raw

    bad_format = [{"region": REGION, "s3ExportConfiguration": {"roleName": "r", "diskImageFormat": "VHD", "s3Bucket": "/x"}}]
    assert code_of(ib.create_distribution_configuration, name=unique("d"), distributions=bad_format)[0] == \
        "InvalidParameterValueException"
    relative = [{"region": REGION, "s3ExportConfiguration": {"roleName": "r", "diskImageFormat": "RAW", "s3Bucket": "bucket"}}]
    assert code_of(ib.create_distribution_configuration, name=unique("d"), distributions=relative)[0] == \
        "InvalidParameterValueException"
    assert code_of(ib.create_distribution_configuration, name=name, distributions=raw)[0] == "ResourceAlreadyExistsException"
    ib.delete_distribution_configuration(distributionConfigurationArn=cfg_arn)


def test_pipelines_and_images(imagebuilder, infra, recipe, tmp_path):
    ib = imagebuilder
    dist = ib.create_distribution_configuration(
        name=unique("dist"), distributions=[{"region": REGION, "s3ExportConfiguration": {
            "roleName": "r", "diskImageFormat": "TAR_ZST", "s3Bucket": str(tmp_path)}}])["distributionConfigurationArn"]
    name = unique("nightly")
    pipe_arn = ib.create_image_pipeline(
        name=name, imageRecipeArn=recipe, infrastructureConfigurationArn=infra, distributionConfigurationArn=dist,
        schedule={"scheduleExpression": "cron(0 3 ? * * *)"}, imageTestsConfiguration={"imageTestsEnabled": False})["imagePipelineArn"]
    assert pipe_arn == arn("image-pipeline", name)
    got = ib.get_image_pipeline(imagePipelineArn=pipe_arn)["imagePipeline"]
    assert got["status"] == "ENABLED" and got["imageRecipeArn"] == recipe and got["platform"] == "Linux"
    assert got["schedule"] == {"scheduleExpression": "cron(0 3 ? * * *)",
                               "pipelineExecutionStartCondition": "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE"}
    assert got["imageTestsConfiguration"] == {"imageTestsEnabled": False, "timeoutMinutes": 720}

    ib.update_image_pipeline(imagePipelineArn=pipe_arn, imageRecipeArn=recipe, infrastructureConfigurationArn=infra,
                             distributionConfigurationArn=dist, status="DISABLED")
    assert ib.get_image_pipeline(imagePipelineArn=pipe_arn)["imagePipeline"]["status"] == "DISABLED"
    listed = ib.list_image_pipelines(filters=[{"name": "name", "values": [name]}])["imagePipelineList"]
    assert [p["arn"] for p in listed] == [pipe_arn]

    # configurations in use by the pipeline cannot be deleted
    assert code_of(ib.delete_infrastructure_configuration, infrastructureConfigurationArn=infra)[0] == "ResourceDependencyException"
    assert code_of(ib.delete_distribution_configuration, distributionConfigurationArn=dist)[0] == "ResourceDependencyException"
    assert code_of(ib.delete_image_recipe, imageRecipeArn=recipe)[0] == "ResourceDependencyException"
    bad = dict(name=unique("p"), imageRecipeArn=recipe, infrastructureConfigurationArn=infra)
    assert code_of(ib.create_image_pipeline, **{**bad, "schedule": {"scheduleExpression": "cron(0 3 * * *)"}})[0] == \
        "InvalidParameterValueException"
    # Image Builder schedules are cron only; a value out of range or an unknown time zone is refused, not stored
    for schedule in ({"scheduleExpression": "rate(1 day)"}, {"scheduleExpression": "cron(0 25 ? * * *)"},
                     {"scheduleExpression": "cron(0 3 ? * * *)", "timezone": "Mars/Olympus"}):
        assert code_of(ib.create_image_pipeline, **{**bad, "schedule": schedule})[0] == "InvalidParameterValueException", schedule
    assert code_of(ib.create_image_pipeline, **{**bad, "infrastructureConfigurationArn": arn("infrastructure-configuration", "none")}) == \
        ("ResourceNotFoundException", 404)
    assert code_of(ib.create_image_pipeline, **{**bad, "name": name})[0] == "ResourceAlreadyExistsException"

    # a run records an image build in PENDING (the build engine comes later)
    image_arn = ib.start_image_pipeline_execution(imagePipelineArn=pipe_arn)["imageBuildVersionArn"]
    recipe_name, version = recipe.split("/")[1:3]
    assert image_arn == arn("image", f"{recipe_name}/{version}/1")
    image = ib.get_image(imageBuildVersionArn=image_arn)["image"]
    assert image["state"]["status"] == "PENDING" and image["sourcePipelineArn"] == pipe_arn
    assert image["imageRecipe"]["arn"] == recipe and image["infrastructureConfiguration"]["arn"] == infra
    assert image["distributionConfiguration"]["arn"] == dist and image["version"] == f"{version}/1"
    second = ib.create_image(imageRecipeArn=recipe, infrastructureConfigurationArn=infra)["imageBuildVersionArn"]
    assert second == arn("image", f"{recipe_name}/{version}/2")
    assert [i["arn"] for i in ib.list_image_pipeline_images(imagePipelineArn=pipe_arn)["imageSummaryList"]] == [image_arn]
    versions = ib.list_images(filters=[{"name": "name", "values": [recipe_name]}])["imageVersionList"]
    assert [v["arn"] for v in versions] == [arn("image", f"{recipe_name}/{version}")]
    builds = ib.list_image_build_versions(imageVersionArn=versions[0]["arn"])["imageSummaryList"]
    assert [b["arn"] for b in builds] == [image_arn, second]
    assert ib.get_image(imageBuildVersionArn=arn("image", f"{recipe_name}/x.x.x"))["image"]["arn"] == second

    # a pipeline with a build under way stays; an image under way is cancelled before it is deleted
    assert code_of(ib.delete_image_pipeline, imagePipelineArn=pipe_arn)[0] == "ResourceDependencyException"
    assert code_of(ib.delete_image, imageBuildVersionArn=image_arn)[0] == "ResourceDependencyException"
    for a in (image_arn, second):
        assert ib.cancel_image_creation(imageBuildVersionArn=a)["imageBuildVersionArn"] == a
        assert ib.get_image(imageBuildVersionArn=a)["image"]["state"]["status"] == "CANCELLED"
    assert code_of(ib.cancel_image_creation, imageBuildVersionArn=image_arn)[0] == "ResourceInUseException"
    ib.delete_image(imageBuildVersionArn=image_arn)
    ib.delete_image(imageBuildVersionArn=second)
    assert code_of(ib.get_image, imageBuildVersionArn=image_arn) == ("ResourceNotFoundException", 404)
    ib.delete_image_pipeline(imagePipelineArn=pipe_arn)
    assert code_of(ib.start_image_pipeline_execution, imagePipelineArn=pipe_arn) == ("ResourceNotFoundException", 404)
    ib.delete_distribution_configuration(distributionConfigurationArn=dist)
    ib.delete_infrastructure_configuration(infrastructureConfigurationArn=infra)


def test_bad_arns_and_errors_have_the_service_shape(imagebuilder, server):
    ib = imagebuilder
    assert code_of(ib.get_component, componentBuildVersionArn="not-an-arn")[0] == "InvalidParameterValueException"
    assert code_of(ib.get_component, componentBuildVersionArn=arn("image-recipe", "a/1.0.0"))[0] == "InvalidParameterValueException"
    assert code_of(ib.get_component, componentBuildVersionArn=
                   f"arn:aws:imagebuilder:eu-west-3:{ACCOUNT}:component/a/1.0.0/1") == ("ResourceNotFoundException", 404)
    assert code_of(ib.delete_component, componentBuildVersionArn=arn("component", "a/1.0.0"))[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as info:
        ib.get_image_pipeline(imagePipelineArn=arn("image-pipeline", "nope"))
    headers = info.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-errortype"] == "ResourceNotFoundException" and headers.get("x-amzn-requestid")
    assert "nope" in info.value.response["Error"]["Message"]
    # unsigned requests are refused like any other API call
    status, body = server.get("/GetComponent?componentBuildVersionArn=x", timeout=5)
    assert status in (400, 403)


def test_imagebuilder_with_the_aws_cli(aws_cli, tmp_path):
    name = unique("cli")
    doc = tmp_path / "hello.yaml"
    doc.write_text(HELLO)
    created = aws_cli("create-component", "--name", name, "--semantic-version", "1.2.3", "--platform", "Linux",
                      "--data", f"file://{doc}", parse_json=True, service="imagebuilder")
    assert created.returncode == 0, created.stderr
    comp = created.json["componentBuildVersionArn"]
    got = aws_cli("get-component", "--component-build-version-arn", comp, parse_json=True, service="imagebuilder")
    assert got.returncode == 0, got.stderr
    assert got.json["component"]["data"] == HELLO
    listed = aws_cli("list-components", "--filters", f"name=name,values={name}", parse_json=True, service="imagebuilder")
    assert [c["version"] for c in listed.json["componentVersionList"]] == ["1.2.3"]
    missing = aws_cli("get-image-recipe", "--image-recipe-arn", arn("image-recipe", "none/1.0.0"), service="imagebuilder")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
    assert aws_cli("delete-component", "--component-build-version-arn", comp, service="imagebuilder").returncode == 0


def test_steward_images_cli(server, tmp_path):
    env = {"AWS_ACCESS_KEY_ID": server.key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": server.key["SecretAccessKey"],
           "AWS_REGION": REGION, "AWS_ENDPOINT_URL": server.url, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def steward(*args):
        return subprocess.run([server.extra["bin"], "images", *args], capture_output=True, text=True, timeout=60, env=env)

    doc = tmp_path / "c.yaml"
    doc.write_text(HELLO)
    name = unique("steward")
    made = steward("components", "create", "--file", str(doc), "--name", name, "--version", "1.0.0")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == arn("component", f"{name}/1.0.0/1")
    ls = steward("components", "ls", "--name", name)
    assert ls.returncode == 0 and name in ls.stdout and "1.0.0" in ls.stdout
    shown = steward("components", "show", name, "--data")
    assert shown.stdout.strip() == HELLO.strip()
    rec = steward("recipes", "create", "--name", name, "--version", "1.0.0", "--parent", "debian-12",
                  "--component", f"{name}@1.x.x", "--parameter", f"{name}:Target=world")
    assert rec.returncode == 0, rec.stderr
    shown = json.loads(steward("recipes", "show", name).stdout)
    assert shown["components"][0]["parameters"] == [{"name": "Target", "value": ["world"]}]
    assert steward("infra", "create", name, "--provider", "qemu").returncode == 0
    assert steward("distributions", "create", name, "--folder", str(tmp_path), "--formats", "raw,tar.zst").returncode == 0
    pipe = steward("pipelines", "create", name, "--recipe", f"{name}@1.0.0", "--infrastructure", name, "--distribution", name,
                   "--schedule", "cron(0 3 ? * * *)")
    assert pipe.returncode == 0, pipe.stderr
    started = steward("pipelines", "start", name)
    assert started.returncode == 0 and started.stdout.strip().endswith("/1.0.0/1")
    images = steward("pipelines", "images", name, "--output", "json")
    assert json.loads(images.stdout)[0]["state"]["status"] == "PENDING"
    bad = steward("components", "create", "--file", str(doc), "--name", name, "--version", "1.0")
    assert bad.returncode != 0 and "InvalidVersionNumberException" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    inuse = steward("components", "rm", f"{name}@1.0.0")
    assert inuse.returncode != 0 and "ResourceDependencyException" in inuse.stderr


def test_concurrent_creates_make_one_version(imagebuilder):
    from concurrent.futures import ThreadPoolExecutor
    ib = imagebuilder
    name = unique("race")

    def create(_):
        try:
            return component(ib, name, "1.0.0")
        except ClientError as e:
            return error_code(e)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(create, range(8)))
    assert results.count(arn("component", f"{name}/1.0.0/1")) == 1
    assert sorted(set(results) - {arn("component", f"{name}/1.0.0/1")}) == ["ResourceInUseException"]


def test_large_component_document(imagebuilder):
    # AWS keeps inline data to 16,000 characters and larger documents in S3; here large documents are accepted
    # inline and kept in the data folder
    ib = imagebuilder
    big = HELLO + "".join(f"# padding line {i:07d} " + "x" * 80 + "\n" for i in range(30000))
    assert len(big) > 2 * 1024 * 1024
    name = unique("big")
    built = component(ib, name, "1.0.0", data=big)
    twin = component(ib, name, "1.0.1", data=big)
    assert ib.get_component(componentBuildVersionArn=built)["component"]["data"] == big
    ib.delete_component(componentBuildVersionArn=built)
    assert ib.get_component(componentBuildVersionArn=twin)["component"]["data"] == big
