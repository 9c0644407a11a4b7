"""Parameter Store with boto3: lifecycle, versions, labels, paths, filters, errors, SecureString."""

import os
import uuid

import pytest
from botocore.exceptions import ClientError

from compat_helpers import assert_secret_absent, error_code


def root():
    return f"/compat-{uuid.uuid4().hex[:8]}"


def test_put_get_overwrite_history_and_delete(ssm):
    name = root() + "/app/url"
    assert ssm.put_parameter(Name=name, Value="v1", Type="String", Description="d")["Version"] == 1
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value="v2", Type="String")
    assert error_code(e.value) == "ParameterAlreadyExists"
    assert ssm.put_parameter(Name=name, Value="v2", Overwrite=True)["Version"] == 2
    p = ssm.get_parameter(Name=name)["Parameter"]
    assert (p["Value"], p["Version"], p["Type"], p["DataType"]) == ("v2", 2, "String", "text")
    assert p["ARN"].endswith(":parameter" + name)
    assert ssm.get_parameter(Name=f"{name}:1")["Parameter"]["Value"] == "v1"
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [h["Value"] for h in history] == ["v1", "v2"]
    ssm.delete_parameter(Name=name)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=name)
    assert error_code(e.value) == "ParameterNotFound"
    with pytest.raises(ClientError) as e:
        ssm.delete_parameter(Name=name)
    assert error_code(e.value) == "ParameterNotFound"


def test_labels_select_versions_and_move(ssm):
    name = root() + "/db/host"
    for v in ["a", "b", "c"]:
        ssm.put_parameter(Name=name, Value=v, Type="String", Overwrite=True)
    out = ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["prod", "awsbad", "1bad"])
    assert out["ParameterVersion"] == 1 and sorted(out["InvalidLabels"]) == ["1bad", "awsbad"]
    assert ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Value"] == "a"
    ssm.label_parameter_version(Name=name, Labels=["prod"])  # latest: moves the label
    assert ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Value"] == "c"
    history = {h["Version"]: h["Labels"] for h in ssm.get_parameter_history(Name=name)["Parameters"]}
    assert history[1] == [] and history[3] == ["prod"]
    out = ssm.unlabel_parameter_version(Name=name, ParameterVersion=3, Labels=["prod", "nope"])
    assert out["RemovedLabels"] == ["prod"] and out["InvalidLabels"] == ["nope"]
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=f"{name}:prod")
    assert error_code(e.value) == "ParameterVersionNotFound"
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=f"{name}:9")
    assert error_code(e.value) == "ParameterVersionNotFound"


def test_get_parameters_lists_unknown_names(ssm):
    base = root()
    ssm.put_parameter(Name=f"{base}/x", Value="1", Type="String")
    out = ssm.get_parameters(Names=[f"{base}/x", f"{base}/missing"])
    assert [p["Name"] for p in out["Parameters"]] == [f"{base}/x"]
    assert out["InvalidParameters"] == [f"{base}/missing"]


def test_paths_recursive_one_level_and_paging(ssm):
    base = root()
    names = [f"{base}/svc/a", f"{base}/svc/b", f"{base}/svc/deep/c", f"{base}/other"]
    for n in names:
        ssm.put_parameter(Name=n, Value="v", Type="StringList" if n.endswith("b") else "String")
    one = ssm.get_parameters_by_path(Path=f"{base}/svc")["Parameters"]
    assert sorted(p["Name"] for p in one) == [f"{base}/svc/a", f"{base}/svc/b"]
    pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=base, Recursive=True, PaginationConfig={"PageSize": 1})
    assert sorted(p["Name"] for page in pages for p in page["Parameters"]) == sorted(names)
    typed = ssm.get_parameters_by_path(
        Path=base, Recursive=True, ParameterFilters=[{"Key": "Type", "Option": "Equals", "Values": ["StringList"]}])
    assert [p["Name"] for p in typed["Parameters"]] == [f"{base}/svc/b"]


def test_describe_parameters_filters(ssm):
    base = root()
    ssm.put_parameter(Name=f"{base}/a", Value="v", Type="String", Tags=[{"Key": "team", "Value": "blue"}])
    ssm.put_parameter(Name=f"{base}/b", Value="v", Type="SecureString", Tier="Advanced")

    def names(**kw):
        return sorted(p["Name"] for page in ssm.get_paginator("describe_parameters").paginate(**kw) for p in page["Parameters"])

    assert names(ParameterFilters=[{"Key": "Path", "Option": "OneLevel", "Values": [base]}]) == [f"{base}/a", f"{base}/b"]
    assert names(ParameterFilters=[{"Key": "Name", "Option": "BeginsWith", "Values": [f"{base}/"]},
                                   {"Key": "Type", "Values": ["SecureString"]}]) == [f"{base}/b"]
    assert names(ParameterFilters=[{"Key": "Tier", "Values": ["Advanced"]}, {"Key": "Path", "Option": "Recursive", "Values": [base]}]) == [f"{base}/b"]
    assert names(ParameterFilters=[{"Key": "tag:team", "Values": ["blue"]}]) == [f"{base}/a"]
    assert names(ParameterFilters=[{"Key": "Name", "Option": "Contains", "Values": [base[1:] + "/a"]}]) == [f"{base}/a"]
    assert names(Filters=[{"Key": "Name", "Values": [f"{base}/b"]}]) == [f"{base}/b"]
    with pytest.raises(ClientError) as e:
        ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Option": "Contains", "Values": ["/x"]}])
    assert error_code(e.value) == "InvalidFilterOption"
    with pytest.raises(ClientError) as e:
        ssm.describe_parameters(ParameterFilters=[{"Key": "Colour", "Values": ["x"]}])
    assert error_code(e.value) in ("InvalidFilterKey", "ValidationException")


@pytest.mark.parametrize("name, code", [
    ("aws-thing", "ValidationException"),
    ("/ssm/thing", "ValidationException"),
    ("no/leading/slash", "ValidationException"),
    ("/" + "/".join(["l"] * 16), "HierarchyLevelLimitExceededException"),
    ("bad name", "ValidationException"),
])
def test_name_rules(ssm, name, code):
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value="v", Type="String")
    assert error_code(e.value) == code


def test_value_rules(ssm):
    base = root()
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=f"{base}/big", Value="x" * 4097, Type="String")
    assert error_code(e.value) == "ValidationException"
    assert ssm.put_parameter(Name=f"{base}/big", Value="x" * 8000, Type="String", Tier="Advanced")["Tier"] == "Advanced"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=f"{base}/pat", Value="abc", Type="String", AllowedPattern="^[0-9]+$")
    assert error_code(e.value) == "ParameterPatternMismatchException"
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=f"{base}/t", Value="v", Type="Number")
    assert error_code(e.value) in ("UnsupportedParameterType", "ValidationException")
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=f"{base}/k", Value="v", Type="SecureString", KeyId="alias/none")
    assert error_code(e.value) == "InvalidKeyId"


def test_secure_string_round_trip_and_never_stored_plain(ssm, server):
    name = root() + "/secret"
    secret = "pw-" + uuid.uuid4().hex
    ssm.put_parameter(Name=name, Value=secret, Type="SecureString")
    raw = ssm.get_parameter(Name=name)["Parameter"]
    assert raw["Value"] != secret and secret not in raw["Value"]
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == secret
    meta = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"][0]
    assert meta["KeyId"] == "alias/aws/ssm"
    arn_key = ssm.get_parameters(Names=[name], WithDecryption=True)["Parameters"][0]["Value"]
    assert arn_key == secret
    assert_secret_absent(server, secret)


def test_customer_keys_by_id_arn_and_alias(ssm, server):
    import json as _json
    import subprocess
    from conftest import _binary
    argv = [_binary("steward"), "keys", "create", "--data-dir", server.data_dir, "--alias", f"alias/compat-{uuid.uuid4().hex[:6]}", "--output", "json"]
    if os.environ.get("STEWARD_TEST_DATABASE_URL"):
        argv += ["--database", os.environ["STEWARD_TEST_DATABASE_URL"]]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    key = _json.loads(res.stdout)
    base = root()
    for n, key_ref in enumerate([key["KeyId"], key["Arn"], key["AliasName"]]):
        name = f"{base}/k{n}"
        ssm.put_parameter(Name=name, Value=f"value-{n}", Type="SecureString", KeyId=key_ref)
        assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == f"value-{n}"
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "KeyId", "Values": [key["AliasName"]]}])["Parameters"]
    assert sorted(p["Name"] for p in described) == [f"{base}/k0", f"{base}/k1", f"{base}/k2"]


def test_one_hundred_versions_at_most(ssm):
    name = root() + "/busy"
    for n in range(100):
        ssm.put_parameter(Name=name, Value=str(n), Type="String", Overwrite=True)
    with pytest.raises(ClientError) as e:
        ssm.put_parameter(Name=name, Value="one more", Type="String", Overwrite=True)
    assert error_code(e.value) == "ParameterMaxVersionLimitExceeded"
    assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == "99"


def test_label_keyid_and_datatype_filters(ssm):
    base = root()
    ssm.put_parameter(Name=f"{base}/a", Value="v", Type="String")
    ssm.label_parameter_version(Name=f"{base}/a", Labels=["blue"])
    ssm.put_parameter(Name=f"{base}/b", Value="v", Type="SecureString")

    def names(filters):
        scoped = filters + [{"Key": "Path", "Option": "Recursive", "Values": [base]}]
        return sorted(p["Name"] for p in ssm.describe_parameters(ParameterFilters=scoped)["Parameters"])

    assert names([{"Key": "Label", "Values": ["blue"]}]) == [f"{base}/a"]
    assert names([{"Key": "KeyId", "Values": ["alias/aws/ssm"]}]) == [f"{base}/b"]
    assert names([{"Key": "DataType", "Values": ["text"]}]) == [f"{base}/a", f"{base}/b"]
    by_path = ssm.get_parameters_by_path(Path=base, ParameterFilters=[{"Key": "Label", "Option": "Equals", "Values": ["blue"]}])
    assert [p["Name"] for p in by_path["Parameters"]] == [f"{base}/a"]
    with pytest.raises(ClientError) as e:
        ssm.get_parameters_by_path(Path=base, ParameterFilters=[{"Key": "Name", "Values": ["x"]}])
    assert error_code(e.value) == "InvalidFilterKey"
