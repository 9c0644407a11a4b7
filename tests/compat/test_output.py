"""Output limits: the API fields hold 24,000 / 8,000 characters; the full text is downloadable."""

import http.client
from urllib.parse import urlparse

import botocore.auth
import botocore.credentials
from botocore.awsrequest import AWSRequest

from compat_helpers import REGION, run_shell


def signed_get(server, url: str) -> tuple:
    creds = botocore.credentials.Credentials(server.key["AccessKeyId"], server.key["SecretAccessKey"])
    req = AWSRequest(method="GET", url=url, headers={"Host": server.host})
    botocore.auth.SigV4Auth(creds, "ssm", REGION).add_auth(req)
    parts = urlparse(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", parts.path, headers=dict(req.headers.items()))
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_long_output_is_truncated_in_the_api_and_kept_whole_on_the_server(ssm, instances, server):
    target = instances[0]
    cmd, invs = run_shell(ssm, [target], [
        "head -c 30000 /dev/zero | tr '\\0' o",
        "head -c 9000 /dev/zero | tr '\\0' e >&2",
    ])
    assert cmd["Status"] == "Success"
    inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=target)
    assert len(inv["StandardOutputContent"]) <= 24000
    assert inv["StandardOutputContent"].endswith("--output truncated--")
    assert len(inv["StandardErrorContent"]) <= 8000
    plugin = invs[0]["CommandPlugins"][0]
    assert len(plugin["Output"]) <= 2500 + 2600  # stdout part and stderr part, each clipped to 2,500

    status, body = signed_get(server, inv["StandardOutputUrl"])
    assert status == 200
    assert body == b"o" * 30000
    status, body = signed_get(server, inv["StandardErrorUrl"])
    assert status == 200
    assert body == b"e" * 9000


def test_output_urls_need_a_signature(ssm, instances, server):
    target = instances[0]
    cmd, _ = run_shell(ssm, [target], ["echo secret-ish"])
    inv = ssm.get_command_invocation(CommandId=cmd["CommandId"], InstanceId=target)
    status, _ = server.get(urlparse(inv["StandardOutputUrl"]).path)
    assert status in (400, 403)
