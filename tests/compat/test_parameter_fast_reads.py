"""GetParameter answered from memory on the network thread: the same answers as the ordinary path, writes seen at
once, signatures still checked, and pipelined requests answered in order."""

import json
import socket
import uuid

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from compat_helpers import error_code

REGION = "us-east-1"


def name():
    return f"/fast-{uuid.uuid4().hex[:8]}/value"


def test_repeated_reads_match_and_writes_show_at_once(ssm):
    plain, secret = name(), name()
    ssm.put_parameter(Name=plain, Value="one", Type="String")
    ssm.put_parameter(Name=secret, Value="hush", Type="SecureString")
    # The first read fills memory; the later ones are served from it and must not differ.
    for _ in range(3):
        got = ssm.get_parameter(Name=plain)["Parameter"]
        assert (got["Value"], got["Version"], got["Type"]) == ("one", 1, "String")
    clear = [ssm.get_parameter(Name=secret, WithDecryption=True)["Parameter"] for _ in range(3)]
    assert {c["Value"] for c in clear} == {"hush"} and len({json.dumps(c, default=str) for c in clear}) == 1
    sealed = [ssm.get_parameter(Name=secret)["Parameter"]["Value"] for _ in range(3)]
    assert len(set(sealed)) == 1 and "hush" not in sealed[0]
    ssm.put_parameter(Name=plain, Value="two", Overwrite=True)
    got = ssm.get_parameter(Name=plain)["Parameter"]
    assert (got["Value"], got["Version"]) == ("two", 2)
    assert ssm.get_parameter(Name=f"{plain}:1")["Parameter"]["Value"] == "one"
    ssm.delete_parameter(Name=plain)
    with pytest.raises(ClientError) as e:
        ssm.get_parameter(Name=plain)
    assert error_code(e.value) == "ParameterNotFound"


def test_a_bad_signature_is_refused_for_a_parameter_in_memory(server, ssm_client_factory, ssm):
    n = name()
    ssm.put_parameter(Name=n, Value="x", Type="String")
    ssm.get_parameter(Name=n)
    wrong = ssm_client_factory(secret_key="not-the-secret-for-this-key-0123456789")
    with pytest.raises(ClientError) as e:
        wrong.get_parameter(Name=n)
    assert error_code(e.value) == "InvalidSignatureException"


def signed(server, target, body):
    payload = json.dumps(body).encode()
    request = AWSRequest(
        method="POST", url=server.url + "/", data=payload,
        headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"AmazonSSM.{target}"})
    credentials = Credentials(server.key["AccessKeyId"], server.key["SecretAccessKey"])
    SigV4Auth(credentials, "ssm", REGION).add_auth(request)
    head = f"POST / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {len(payload)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in request.headers.items() if k.lower() not in ("host", "content-length"))
    return head.encode() + b"\r\n" + payload


def read_responses(sock, count):
    data, bodies = b"", []
    while len(bodies) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, "the server closed the connection"
            data += chunk
        head, data = data.split(b"\r\n\r\n", 1)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        while len(data) < length:
            data += sock.recv(65536)
        bodies.append(json.loads(data[:length]))
        data = data[length:]
    return bodies


def test_pipelined_requests_are_answered_in_order(server, ssm):
    first, second = name(), name()
    ssm.put_parameter(Name=first, Value="A", Type="String")
    ssm.put_parameter(Name=second, Value="B", Type="String")
    ssm.get_parameter(Name=first)
    ssm.get_parameter(Name=second)
    # A routed request (GetParameters) followed at once by reads that memory could answer, on one connection.
    requests = [
        signed(server, "GetParameters", {"Names": [second, first]}),
        signed(server, "GetParameter", {"Name": first}),
        signed(server, "GetParameter", {"Name": second}),
        signed(server, "GetParameter", {"Name": first, "WithDecryption": True}),
    ]
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"".join(requests))
        answers = read_responses(sock, len(requests))
    assert [p["Value"] for p in answers[0]["Parameters"]] == ["B", "A"]
    assert [a["Parameter"]["Value"] for a in answers[1:]] == ["A", "B", "A"]
