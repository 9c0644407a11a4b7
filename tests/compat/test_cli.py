"""The steward client: reads the AWS variables and profiles, shows output, fails with one line."""

import json
import os
import subprocess

import pytest

from conftest import _binary
from compat_helpers import REGION


@pytest.fixture(scope="module")
def steward(server, instances, tmp_path_factory):
    binary = _binary("steward")
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": server.key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": server.key["SecretAccessKey"],
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": server.url,
    })

    def run(*args, env_override=None, timeout=120):
        e = dict(env)
        if env_override is not None:
            e = env_override
        return subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout, env=e)

    run.env = env
    run.home = home
    return run


def test_run_prints_each_instance_output_and_succeeds(steward, instances):
    res = steward("run", "--targets", "tag:Role=web", "--", "echo cli-$((6*7))")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("cli-42") == 2
    for iid in instances.by_role["web"]:
        assert iid in res.stdout


def test_run_exits_non_zero_when_a_node_fails(steward, instances):
    res = steward("run", "--instance-ids", instances[0], "--", "echo before; exit 4")
    assert res.returncode != 0
    assert "before" in res.stdout
    assert "Failed" in res.stdout


def test_json_output_parses(steward, instances):
    res = steward("instances", "--output", "json")
    assert res.returncode == 0, res.stderr
    ids = {i["InstanceId"] for i in json.loads(res.stdout)}
    assert set(instances) <= ids


def test_profiles_from_the_shared_credentials_file(steward, server):
    aws_dir = steward.home / ".aws"
    aws_dir.mkdir(exist_ok=True)
    (aws_dir / "credentials").write_text(
        f"[ops]\naws_access_key_id = {server.key['AccessKeyId']}\naws_secret_access_key = {server.key['SecretAccessKey']}\n")
    (aws_dir / "config").write_text(f"[profile ops]\nregion = {REGION}\n")
    env = {k: v for k, v in steward.env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    res = steward("documents", "list", "--profile", "ops", env_override=env)
    assert res.returncode == 0, res.stderr
    assert "AWS-RunShellScript" in res.stdout


def test_errors_are_one_line_and_non_zero(steward):
    res = steward("command", "show", "00000000-0000-0000-0000-000000000000")
    assert res.returncode != 0
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    bad = steward("commands", "--output", "json", env_override={**steward.env, "AWS_SECRET_ACCESS_KEY": "wrong" * 8})
    assert bad.returncode != 0
    assert "InvalidSignatureException" in bad.stderr
    assert len([ln for ln in bad.stderr.splitlines() if ln.strip()]) == 1


def test_documents_create_get_and_run(steward, tmp_path, instances):
    doc = tmp_path / "hello.yaml"
    doc.write_text(
        "schemaVersion: '2.2'\n"
        "description: hello\n"
        "parameters:\n  who:\n    type: String\n    default: world\n"
        "mainSteps:\n  - action: aws:runShellScript\n    name: hello\n    inputs:\n      runCommand:\n        - echo hello {{ who }}\n")
    name = f"CliHello-{os.getpid()}"
    res = steward("documents", "create", name, "--file", str(doc))
    assert res.returncode == 0, res.stderr
    got = steward("documents", "get", name, "--format", "json")
    assert got.returncode == 0 and '"mainSteps"' in got.stdout
    ran = steward("run", "--instance-ids", instances[0], "--document", name, "--parameter", "who=cli")
    assert ran.returncode == 0, ran.stderr
    assert "hello cli" in ran.stdout


def test_params_cli_reads_stdin_and_hides_secure_values(steward):
    import uuid
    name = f"/cli-{uuid.uuid4().hex[:8]}/token"
    secret = "tok-" + uuid.uuid4().hex
    put = subprocess.run([_binary("steward"), "params", "put", name, "--type", "SecureString"], input=secret + "\n",
                         capture_output=True, text=True, env=steward.env, timeout=60)
    assert put.returncode == 0, put.stderr
    assert secret not in put.stdout
    hidden = steward("params", "get", name)
    assert hidden.returncode == 0 and secret not in hidden.stdout and "SecureString" in hidden.stdout
    shown = steward("params", "get", name, "--decrypt")
    assert shown.stdout.strip() == secret
    listed = steward("params", "ls", name.rsplit("/", 1)[0])
    assert name in listed.stdout and secret not in listed.stdout
    history = steward("params", "history", name)
    assert "****" in history.stdout and secret not in history.stdout
    assert steward("params", "label", name, "current").returncode == 0
    assert steward("params", "get", f"{name}:current", "--decrypt").stdout.strip() == secret
    assert steward("params", "rm", name).returncode == 0
    gone = steward("params", "get", name)
    assert gone.returncode != 0 and "ParameterNotFound" in gone.stderr
