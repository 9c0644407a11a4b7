"""Hybrid activations: registration counting, limits, deletion.

conftest.py runs this module last: it registers an extra managed instance.
"""

import os
import subprocess


def _describe(ssm, activation_id):
    resp = ssm.describe_activations(
        Filters=[{"FilterKey": "ActivationIds", "FilterValues": [activation_id]}])
    return resp["ActivationList"]


def _register(binaries, server, activation, state_dir):
    os.makedirs(state_dir, exist_ok=True)
    return subprocess.run(
        [binaries["steward-agent"], "register", "--server", server.url,
         "--activation-id", activation["ActivationId"],
         "--activation-code", activation["ActivationCode"],
         "--state-dir", state_dir],
        capture_output=True, text=True, timeout=60,
    )


def test_fixture_activation_counts_three_registrations(ssm, instances):
    [act] = _describe(ssm, instances.activation_id)
    assert act["ActivationId"] == instances.activation_id
    assert act["IamRole"] == "SSMServiceRole"
    assert act["RegistrationLimit"] == 5
    assert act["RegistrationsCount"] == 3
    assert act["Expired"] is False
    assert {"Key": "Env", "Value": "test"} in act.get("Tags", [])
    assert "ActivationCode" not in act  # the code is shown only once, at creation

    listed = {a["ActivationId"] for a in ssm.get_paginator("describe_activations").paginate()
              .build_full_result()["ActivationList"]}
    assert instances.activation_id in listed


def test_activation_registration_limit_and_delete(ssm, server, steward_binaries, tmp_path):
    act = ssm.create_activation(IamRole="SSMServiceRole", RegistrationLimit=1,
                                DefaultInstanceName="compat-limit")
    assert act["ActivationId"] and act["ActivationCode"]
    registered = None
    try:
        # a wrong activation code is refused (and does not use up the limit)
        bad = dict(act, ActivationCode=act["ActivationCode"][::-1] + "x")
        wrong = _register(steward_binaries, server, bad, str(tmp_path / "wrong"))
        assert wrong.returncode != 0, f"wrong code should be refused:\n{wrong.stdout}"

        first = _register(steward_binaries, server, act, str(tmp_path / "first"))
        assert first.returncode == 0, f"{first.stdout}\n{first.stderr}"
        registered = [ln.strip() for ln in first.stdout.splitlines() if ln.strip()][-1]
        assert registered.startswith("mi-")

        second = _register(steward_binaries, server, act, str(tmp_path / "second"))
        assert second.returncode != 0, f"second registration should fail:\n{second.stdout}"

        [desc] = _describe(ssm, act["ActivationId"])
        assert desc["RegistrationLimit"] == 1
        assert desc["RegistrationsCount"] == 1
        assert desc["DefaultInstanceName"] == "compat-limit"
    finally:
        ssm.delete_activation(ActivationId=act["ActivationId"])
        if registered:
            try:
                ssm.deregister_managed_instance(InstanceId=registered)
            except Exception:  # noqa: BLE001 - cleanup only; not part of the contract under test
                pass

    assert _describe(ssm, act["ActivationId"]) == []
