"""Shared helpers for the Steward compatibility suite.

Test modules import these directly (``from compat_helpers import ...``);
conftest.py re-exports them and builds the session fixtures on top.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Optional

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

REGION = "us-east-1"
TERMINAL_COMMAND_STATES = {"Success", "Cancelled", "Failed", "TimedOut"}
NON_TERMINAL_COMMAND_STATES = {"Pending", "InProgress", "Cancelling"}
NON_TERMINAL_INVOCATION_STATES = {"Pending", "InProgress", "Delayed", "Cancelling"}


# --------------------------------------------------------------------------
# generic polling
# --------------------------------------------------------------------------

def poll(fn: Callable[[], Any], timeout: float, interval: float = 0.5, what: str = "condition"):
    """Call ``fn`` until it returns a truthy value; return that value.

    Raises AssertionError (with the last value seen) when ``timeout`` passes.
    """
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = fn()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def error_message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", "") or ""


# --------------------------------------------------------------------------
# Run Command helpers
# --------------------------------------------------------------------------

def get_command(ssm, command_id: str) -> Optional[dict]:
    cmds = ssm.list_commands(CommandId=command_id).get("Commands", [])
    return cmds[0] if cmds else None


def wait_command(ssm, command_id: str, timeout: float = 60, interval: float = 0.5) -> dict:
    """Poll list_commands until the command leaves Pending/InProgress/Cancelling."""

    def check():
        cmd = get_command(ssm, command_id)
        if cmd and cmd.get("Status") not in NON_TERMINAL_COMMAND_STATES:
            return cmd
        check.last = cmd
        return None

    check.last = None
    try:
        return poll(check, timeout, interval, what=f"command {command_id} to finish")
    except AssertionError:
        raise AssertionError(
            f"command {command_id} did not finish within {timeout}s; last seen: {check.last!r}; "
            f"invocations: {invocations(ssm, command_id)!r}"
        ) from None


def invocations(ssm, command_id: str, details: bool = True) -> list:
    """All list_command_invocations(Details=True) results for a command, following NextToken."""
    out = []
    kwargs = {"CommandId": command_id, "Details": details}
    while True:
        resp = ssm.list_command_invocations(**kwargs)
        out.extend(resp.get("CommandInvocations", []))
        token = resp.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token


def invocation_by_instance(ssm, command_id: str) -> dict:
    return {inv["InstanceId"]: inv for inv in invocations(ssm, command_id)}


def wait_invocation(ssm, command_id: str, instance_id: str, timeout: float = 60,
                    until: Optional[Callable[[dict], bool]] = None, interval: float = 0.5) -> dict:
    """Poll get_command_invocation until ``until(inv)`` (default: terminal status)."""
    if until is None:
        until = lambda inv: inv.get("Status") not in NON_TERMINAL_INVOCATION_STATES  # noqa: E731
    state = {"last": None}

    def check():
        try:
            inv = ssm.get_command_invocation(CommandId=command_id, InstanceId=instance_id)
        except ClientError as exc:
            if error_code(exc) == "InvocationDoesNotExist":
                state["last"] = "InvocationDoesNotExist"
                return None
            raise
        state["last"] = inv
        return inv if until(inv) else None

    try:
        return poll(check, timeout, interval, what=f"invocation {command_id}/{instance_id}")
    except AssertionError:
        raise AssertionError(
            f"invocation {command_id}/{instance_id} did not reach the expected state within "
            f"{timeout}s; last seen: {state['last']!r}"
        ) from None


def run_shell(ssm, instance_ids, commands, timeout: float = 60, **extra) -> tuple:
    """Send AWS-RunShellScript to explicit instance ids and wait; return (command, invocations)."""
    params = dict(extra.pop("Parameters", {}))
    params["commands"] = list(commands)
    resp = ssm.send_command(
        DocumentName="AWS-RunShellScript",
        InstanceIds=list(instance_ids),
        Parameters=params,
        **extra,
    )
    cid = resp["Command"]["CommandId"]
    cmd = wait_command(ssm, cid, timeout)
    return cmd, invocations(ssm, cid)


# --------------------------------------------------------------------------
# fleet helpers
# --------------------------------------------------------------------------

def all_instance_information(ssm, **kwargs) -> list:
    out = []
    while True:
        resp = ssm.describe_instance_information(**kwargs)
        out.extend(resp.get("InstanceInformationList", []))
        token = resp.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token


def ping_statuses(ssm) -> dict:
    return {i["InstanceId"]: i.get("PingStatus") for i in all_instance_information(ssm)}


def wait_ping_status(ssm, instance_ids, status: str, timeout: float = 30) -> None:
    ids = [instance_ids] if isinstance(instance_ids, str) else list(instance_ids)
    state = {"last": None}

    def check():
        st = ping_statuses(ssm)
        state["last"] = {i: st.get(i) for i in ids}
        return all(st.get(i) == status for i in ids)

    try:
        poll(check, timeout, 0.5, what=f"PingStatus {status}")
    except AssertionError:
        raise AssertionError(
            f"instances did not all reach PingStatus {status} within {timeout}s: {state['last']!r}"
        ) from None


def tags_of(ssm, instance_id: str) -> dict:
    resp = ssm.list_tags_for_resource(ResourceType="ManagedInstance", ResourceId=instance_id)
    return {t["Key"]: t["Value"] for t in resp.get("TagList", [])}


# --------------------------------------------------------------------------
# list helpers (used to prove that bad input leaves state unchanged)
# --------------------------------------------------------------------------

def all_document_names(ssm) -> list:
    names = []
    for page in ssm.get_paginator("list_documents").paginate():
        names.extend(d["Name"] for d in page.get("DocumentIdentifiers", []))
    return names


def all_command_ids(ssm) -> list:
    ids = []
    for page in ssm.get_paginator("list_commands").paginate():
        ids.extend(c["CommandId"] for c in page.get("Commands", []))
    return ids


# --------------------------------------------------------------------------
# raw HTTP access (signed or unsigned)
# --------------------------------------------------------------------------

@dataclass
class RawResponse:
    status: int
    headers: dict
    body: bytes
    json: Any = None

    @property
    def error_type(self) -> str:
        """``__type`` with any ``namespace#`` prefix and ``:suffix`` removed (as botocore does)."""
        if not isinstance(self.json, dict):
            return ""
        code = self.json.get("__type", "") or ""
        code = code.split("#")[-1]
        return code.split(":")[0]

    @property
    def message(self) -> str:
        if not isinstance(self.json, dict):
            return ""
        return self.json.get("message") or self.json.get("Message") or ""


class _FixedTimeSigV4Auth(botocore.auth.SigV4Auth):
    """SigV4Auth that signs as if the current time were ``when`` (UTC)."""

    def __init__(self, credentials, service_name, region_name, when: datetime):
        super().__init__(credentials, service_name, region_name)
        self._when = when

    def add_auth(self, request):
        request.context["timestamp"] = self._when.strftime(botocore.auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)


@dataclass
class ServerHandle:
    url: str
    port: int
    data_dir: str
    key: dict
    log_path: str
    process: Any = None
    extra: dict = field(default_factory=dict)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def raw(self, target: Optional[str], body: Any = b"{}", *, sign: bool = True,
            access_key: Optional[str] = None, secret_key: Optional[str] = None,
            signed_at: Optional[datetime] = None, headers: Optional[dict] = None,
            region: str = REGION, service: str = "ssm", timeout: float = 30,
            send_body: Any = None) -> RawResponse:
        """POST ``body`` to ``/``.

        ``target`` is the operation name (``AmazonSSM.`` is prefixed unless the
        value already contains a dot) or None to omit X-Amz-Target.
        ``signed_at`` signs with that UTC time instead of now.
        ``send_body`` (if given) is sent instead of the signed ``body``.
        """
        if isinstance(body, str):
            body = body.encode()
        elif not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
        hdrs = {
            "Host": self.host,
            "Content-Type": "application/x-amz-json-1.1",
        }
        if target is not None:
            hdrs["X-Amz-Target"] = target if "." in target else f"AmazonSSM.{target}"
        if headers:
            hdrs.update(headers)
        if sign:
            creds = botocore.credentials.Credentials(
                access_key or self.key["AccessKeyId"],
                secret_key or self.key["SecretAccessKey"],
            )
            req = AWSRequest(method="POST", url=self.url + "/", data=bytes(body), headers=hdrs)
            if signed_at is None:
                signer = botocore.auth.SigV4Auth(creds, service, region)
            else:
                signer = _FixedTimeSigV4Auth(creds, service, region, signed_at)
            signer.add_auth(req)
            hdrs = dict(req.headers.items())
        if send_body is not None:
            body = send_body.encode() if isinstance(send_body, str) else bytes(send_body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("POST", "/", body=bytes(body), headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
            resp_headers = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        parsed = None
        try:
            parsed = json.loads(data.decode() or "null")
        except (ValueError, UnicodeDecodeError):
            parsed = None
        return RawResponse(status=status, headers=resp_headers, body=data, json=parsed)

    def get(self, path: str, timeout: float = 5) -> tuple:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def tail(path: str, lines: int = 60) -> str:
    try:
        with open(path, "rb") as fh:
            data = fh.read().decode(errors="replace").splitlines()
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return "\n".join(data[-lines:])


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").lower() in {"1", "true", "yes", "on"}


def assert_secret_absent(server, secret: str) -> None:
    """The secret is in no file of the server's data folder (database, WAL, outputs) and not in its log."""
    import glob as _glob
    for path in _glob.glob(os.path.join(server.data_dir, "**"), recursive=True):
        if os.path.isfile(path):
            with open(path, "rb") as f:
                assert secret.encode() not in f.read(), path
    with open(server.log_path, "rb") as f:
        assert secret.encode() not in f.read()
