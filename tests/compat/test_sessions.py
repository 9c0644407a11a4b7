"""Session Manager: StartSession/ResumeSession/TerminateSession/DescribeSessions shapes and errors, the session
stream's token rules, and `steward session` driven in tmux like a person at a terminal."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import uuid
from urllib.parse import urlparse

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from compat_helpers import REGION, error_code, poll, wait_ping_status
from conftest import _binary


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def steward_env(server, tmp_path_factory):
    home = tmp_path_factory.mktemp("session-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": server.key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": server.key["SecretAccessKey"],
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": server.url,
    })
    return env


def steward(env, *args, timeout=60, stdin=subprocess.DEVNULL):
    return subprocess.run([_binary("steward"), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=stdin)


def transcript(server, session_id: str) -> dict:
    res = server.raw("Steward.GetSessionTranscript", {"SessionId": session_id})
    assert res.status == 200, res.body
    return res.json


def session_by_id(ssm, session_id: str, state: str):
    found = ssm.describe_sessions(State=state, Filters=[{"key": "SessionId", "value": session_id}])["Sessions"]
    return found[0] if found else None


class Stream:
    """A bare WebSocket client (RFC 6455) for the session stream: enough to test who may connect."""

    def __init__(self, url: str):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(1)
            assert chunk, "the server closed during the handshake"
            head += chunk
        assert head.startswith(b"HTTP/1.1 101"), head

    def send(self, payload: bytes, opcode: int = 1):
        mask = os.urandom(4)
        header = bytes([0x80 | opcode])
        n = len(payload)
        if n < 126:
            header += bytes([0x80 | n])
        elif n < 65536:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def send_json(self, value):
        self.send(json.dumps(value).encode(), opcode=1)

    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def recv(self):
        """(opcode, payload); opcode 8 is the close frame."""
        b0, b1 = self._exact(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack(">H", self._exact(2))[0]
        elif n == 127:
            n = struct.unpack(">Q", self._exact(8))[0]
        return b0 & 0x0F, self._exact(n)

    def read_until(self, predicate, timeout: float = 15):
        """Reads output (binary frames) until predicate(text so far) holds; returns (text, last control message)."""
        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                opcode, payload = self.recv()
            except (socket.timeout, EOFError):
                break
            if opcode == 2:
                text += payload.decode(errors="replace")
            elif opcode == 1:
                return text, json.loads(payload)
            elif opcode == 8:
                return text, None
            if predicate(text):
                return text, None
        return text, None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# API shapes and errors (boto3)
# --------------------------------------------------------------------------

def test_start_session_answers_id_token_and_stream_url(ssm, instances, server):
    started = ssm.start_session(Target=instances[0], Reason="compat shapes")
    try:
        assert set(started) >= {"SessionId", "TokenValue", "StreamUrl"}
        assert started["SessionId"].startswith(server.key["AccessKeyId"] + "-")
        assert 1 <= len(started["TokenValue"]) <= 300
        assert started["StreamUrl"] == f"ws://127.0.0.1:{server.port}/sessions/v1/stream/{started['SessionId']}"
        session = session_by_id(ssm, started["SessionId"], "Active")
        assert session["Status"] == "Connecting"
        assert session["Target"] == instances[0]
        assert session["Reason"] == "compat shapes"
        assert session["DocumentName"] == "SSM-SessionManagerRunShell"
        assert session["Owner"].endswith("/" + server.key["AccessKeyId"])
        assert session["OutputUrl"]["S3OutputUrl"].endswith(f"/sessions/{started['SessionId']}/transcript")
        assert "EndDate" not in session
    finally:
        ssm.terminate_session(SessionId=started["SessionId"])


def test_start_session_on_unknown_or_offline_target_is_target_not_connected(ssm):
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target="mi-0123456789abcdef0")
    assert error_code(e.value) == "TargetNotConnected"


def test_start_session_with_a_document_that_is_not_a_session_document_is_refused(ssm, instances):
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=instances[0], DocumentName="AWS-RunShellScript")
    assert error_code(e.value) == "InvalidDocument"
    with pytest.raises(ClientError) as e:
        ssm.start_session(Target=instances[0], DocumentName="AWS-StartInteractiveCommand")
    assert error_code(e.value) == "InvalidParameters"


def test_terminate_is_idempotent_and_the_session_moves_to_history(ssm, instances):
    sid = ssm.start_session(Target=instances[1])["SessionId"]
    assert ssm.terminate_session(SessionId=sid)["SessionId"] == sid
    ended = session_by_id(ssm, sid, "History")
    assert ended["Status"] == "Terminated"
    assert ended["EndDate"] >= ended["StartDate"]
    assert session_by_id(ssm, sid, "Active") is None
    # again: still fine, still Terminated
    assert ssm.terminate_session(SessionId=sid)["SessionId"] == sid
    assert session_by_id(ssm, sid, "History")["Status"] == "Terminated"


def test_unknown_sessions_do_not_exist(ssm):
    for call in (ssm.terminate_session, ssm.resume_session):
        with pytest.raises(ClientError) as e:
            call(SessionId="nobody-0123456789abcdef0")
        assert error_code(e.value) == "DoesNotExistException"


def test_resume_gives_a_new_token_for_a_live_session_and_none_for_an_ended_one(ssm, instances):
    started = ssm.start_session(Target=instances[0])
    sid = started["SessionId"]
    resumed = ssm.resume_session(SessionId=sid)
    assert resumed["SessionId"] == sid
    assert resumed["StreamUrl"] == started["StreamUrl"]
    assert resumed["TokenValue"] != started["TokenValue"]
    ssm.terminate_session(SessionId=sid)
    with pytest.raises(ClientError) as e:
        ssm.resume_session(SessionId=sid)
    assert error_code(e.value) == "DoesNotExistException"


def test_describe_sessions_validates_state_and_filters_and_pages(ssm, instances):
    with pytest.raises(ClientError) as e:
        ssm.describe_sessions(State="Everything")
    assert error_code(e.value) == "ValidationException"
    with pytest.raises(ClientError) as e:
        ssm.describe_sessions(State="Active", Filters=[{"key": "Colour", "value": "blue"}])
    assert error_code(e.value) in ("InvalidFilterKey", "ValidationException")
    with pytest.raises(ClientError) as e:
        ssm.describe_sessions(State="Active", Filters=[{"key": "InvokedAfter", "value": "yesterday"}])
    assert error_code(e.value) == "InvalidFilterValue"

    ids = []
    for _ in range(3):
        sid = ssm.start_session(Target=instances[2])["SessionId"]
        ssm.terminate_session(SessionId=sid)
        ids.append(sid)
    seen, token = [], None
    while True:
        kwargs = {"State": "History", "MaxResults": 1, "Filters": [{"key": "Target", "value": instances[2]}]}
        if token:
            kwargs["NextToken"] = token
        page = ssm.describe_sessions(**kwargs)
        assert len(page["Sessions"]) <= 1
        seen += [s["SessionId"] for s in page["Sessions"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(ids) <= set(seen)
    assert len(seen) == len(set(seen))
    after = ssm.describe_sessions(State="History", Filters=[{"key": "InvokedAfter", "value": "2999-01-01T00:00:00Z"}])
    assert after["Sessions"] == []
    with pytest.raises(ClientError) as e:
        ssm.describe_sessions(State="History", MaxResults=500)
    assert error_code(e.value) == "ValidationException"


# --------------------------------------------------------------------------
# the stream: one-time tokens, relay, exit status
# --------------------------------------------------------------------------

def test_a_stream_needs_the_sessions_token_and_the_token_works_once(ssm, instances, server):
    started = ssm.start_session(Target=instances[0])
    sid = started["SessionId"]
    try:
        bad = Stream(started["StreamUrl"])
        bad.send_json({"token": "not-the-token", "cols": 80, "rows": 24})
        _, message = bad.read_until(lambda t: False, timeout=10)
        bad.close()
        assert message and message["kind"] == "exit" and "AccessDeniedException" in message["reason"]

        good = Stream(started["StreamUrl"])
        good.send_json({"token": started["TokenValue"], "term": "xterm", "cols": 90, "rows": 33})
        good.send(b"stty size; echo relay-$((40+2))\r", opcode=2)
        text, _ = good.read_until(lambda t: "relay-42" in t.replace("relay-$((40+2))", ""))
        assert "33 90" in text
        assert "relay-42" in text.replace("relay-$((40+2))", "")
        assert session_by_id(ssm, sid, "Active")["Status"] == "Connected"

        again = Stream(started["StreamUrl"])
        again.send_json({"token": started["TokenValue"], "cols": 80, "rows": 24})
        _, message = again.read_until(lambda t: False, timeout=10)
        again.close()
        assert message and "AccessDeniedException" in message["reason"]

        good.send(b"exit 7\r", opcode=2)
        _, message = good.read_until(lambda t: False, timeout=15)
        good.close()
        assert message == {"kind": "exit", "sessionId": sid, "exitCode": 7, "reason": "The shell exited with status 7."}
        ended = session_by_id(ssm, sid, "History")
        assert ended["Status"] == "Terminated"
        assert "status 7" in ended["Details"]
    finally:
        ssm.terminate_session(SessionId=sid)


def test_a_disconnected_session_keeps_its_shell_and_resumes(ssm, instances):
    started = ssm.start_session(Target=instances[1])
    sid = started["SessionId"]
    try:
        first = Stream(started["StreamUrl"])
        first.send_json({"token": started["TokenValue"], "cols": 80, "rows": 24})
        first.send(b"export MARK=kept-$((2*21))\r", opcode=2)
        first.read_until(lambda t: "$ " in t or "# " in t, timeout=5)
        first.close()
        poll(lambda: (session_by_id(ssm, sid, "Active") or {}).get("Status") == "Disconnected", 10,
             what="the session to be Disconnected")

        resumed = ssm.resume_session(SessionId=sid)
        second = Stream(resumed["StreamUrl"])
        second.send_json({"token": resumed["TokenValue"], "cols": 100, "rows": 30})
        second.send(b"echo $MARK\r", opcode=2)
        text, _ = second.read_until(lambda t: "kept-42" in t)
        assert "kept-42" in text
        assert session_by_id(ssm, sid, "Active")["Status"] == "Connected"

        ssm.terminate_session(SessionId=sid)
        _, message = second.read_until(lambda t: False, timeout=10)
        second.close()
        assert message and message["kind"] == "exit"
        poll(lambda: (session_by_id(ssm, sid, "History") or {}).get("Status") == "Terminated", 15,
             what="the terminated session in history")
    finally:
        ssm.terminate_session(SessionId=sid)


def test_when_the_nodes_channel_goes_the_session_ends_and_its_shell_with_it(ssm, instances, agents):
    agent = agents[2]
    started = ssm.start_session(Target=agent.instance_id)
    sid = started["SessionId"]
    marker = f"sleep 7{uuid.uuid4().int % 1000:03d}.5"
    stream = Stream(started["StreamUrl"])
    try:
        stream.send_json({"token": started["TokenValue"], "cols": 80, "rows": 24})
        stream.send(f"{marker} & echo bg-$((5+5))\r".encode(), opcode=2)
        text, _ = stream.read_until(lambda t: "bg-10" in t.replace("bg-$((5+5))", ""))
        assert "bg-10" in text.replace("bg-$((5+5))", "")
        poll(lambda: marker in command_lines(), 5, what="the background job to run")
        agent.stop()
        _, message = stream.read_until(lambda t: False, timeout=15)
        assert message and message["kind"] == "exit" and "channel" in message["reason"]
        ended = session_by_id(ssm, sid, "History")
        assert ended["Status"] == "Terminated" and "channel" in ended["Details"]
        # the agent hung the terminal up on its way down: the background job is gone too
        poll(lambda: marker not in command_lines(), 10, what="the session's background job to end")
    finally:
        stream.close()
        agent.start()
        wait_ping_status(ssm, agent.instance_id, "Online", timeout=30)


def command_lines() -> set:
    """The command lines of the processes running now."""
    lines = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                lines.add(f.read().replace(b"\0", b" ").decode(errors="replace").strip())
        except OSError:
            pass  # it ended while we looked
    return lines


def test_steward_session_runs_an_interactive_command_and_exits_with_its_status(steward_env, instances, ssm, server):
    res = steward(steward_env, "session", instances[2], "--command", "echo from-$((3*3)); exit 5")
    assert res.returncode == 5, (res.stdout, res.stderr)
    assert "from-9" in res.stdout
    ended = ssm.describe_sessions(State="History", Filters=[{"key": "Target", "value": instances[2]}])["Sessions"]
    mine = [s for s in ended if s["DocumentName"] == "AWS-StartInteractiveCommand"]
    assert mine and "from-9" in transcript(server, mine[0]["SessionId"])["Transcript"]

    # the OutputUrl serves the same transcript, to signed requests only
    url = mine[0]["OutputUrl"]["S3OutputUrl"]
    assert signed_get(server, url)[0] == 200 and "from-9" in signed_get(server, url)[1]
    status, _ = server.get(urlparse(url).path)
    assert status in (400, 403)


def signed_get(server, url: str):
    creds = botocore.credentials.Credentials(server.key["AccessKeyId"], server.key["SecretAccessKey"])
    request = AWSRequest(method="GET", url=url, headers={"Host": server.host})
    botocore.auth.SigV4Auth(creds, "ssm", REGION).add_auth(request)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("GET", urlparse(url).path, headers=dict(request.headers.items()))
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_steward_session_fails_with_one_line_for_an_unknown_node(steward_env):
    res = steward(steward_env, "session", "mi-00000000000000000")
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1].startswith("Error: TargetNotConnected")


# --------------------------------------------------------------------------
# a person at a terminal: tmux
# --------------------------------------------------------------------------

class Tmux:
    def __init__(self, socket_path: str, name: str):
        self.socket = socket_path
        self.name = name

    def __call__(self, *args, check=True):
        res = subprocess.run(["tmux", "-S", self.socket, *args], capture_output=True, text=True, timeout=20)
        if check:
            assert res.returncode == 0, (args, res.stderr)
        return res

    def screen(self) -> str:
        return self("capture-pane", "-p", "-J", "-t", self.name, check=False).stdout

    def wait_for(self, predicate, what: str, timeout: float = 20) -> str:
        return poll(lambda: predicate(self.screen()) and self.screen(), timeout, interval=0.2,
                    what=f"{what}; screen:\n{self.screen()}")

    def pane_size(self) -> str:
        return self("display-message", "-p", "-t", self.name, "#{pane_height} #{pane_width}").stdout.strip()


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")
def test_steward_session_in_tmux_types_resizes_interrupts_and_exits_with_the_remote_status(
        steward_env, instances, ssm, server, tmp_path):
    target = instances[0]
    exit_file = tmp_path / "exit-status"
    name = f"steward-{uuid.uuid4().hex[:8]}"
    tmux = Tmux(str(tmp_path / "tmux.sock"), name)
    env_words = " ".join(f"{k}={v}" for k, v in steward_env.items() if k.startswith("AWS_") or k == "HOME")
    command = (f"env {env_words} TERM=xterm-256color {_binary('steward')} session {target} --reason tmux-test; "
               f"echo EXIT=$? > {exit_file}")
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", name, "sh", "-c", command)
    try:
        # the remote login shell's prompt (whatever it looks like; typing ahead would be fine too)
        tmux.wait_for(lambda s: s.strip() != "", "a shell prompt")
        tmux("send-keys", "-t", name, "echo hello-$((6*7))", "Enter")
        tmux.wait_for(lambda s: "\nhello-42" in s, "the command's output")

        # the remote terminal has the size of the local one, and follows it
        size = tmux.pane_size()
        tmux("send-keys", "-t", name, "stty size", "Enter")
        tmux.wait_for(lambda s: size in s, f"stty size {size}")
        tmux("resize-window", "-t", name, "-x", "100", "-y", "30")
        new_size = tmux.pane_size()
        assert new_size != size
        tmux("send-keys", "-t", name, "clear; stty size", "Enter")
        tmux.wait_for(lambda s: new_size in s, f"stty size {new_size} after the resize")

        # Ctrl-C reaches the remote foreground job through the terminal
        tmux("send-keys", "-t", name, "sleep 600", "Enter")
        time.sleep(0.5)
        tmux("send-keys", "-t", name, "C-c")
        tmux("send-keys", "-t", name, "echo after-$((1+1))", "Enter")
        tmux.wait_for(lambda s: "\nafter-2" in s, "the shell back after Ctrl-C")

        tmux("send-keys", "-t", name, "exit 3", "Enter")
        poll(lambda: exit_file.exists() and exit_file.read_text().strip(), 20, what="the CLI to exit")
        assert exit_file.read_text().strip() == "EXIT=3"
    finally:
        tmux("kill-server", check=False)

    sessions = ssm.describe_sessions(State="History", Filters=[{"key": "Target", "value": target}])["Sessions"]
    mine = [s for s in sessions if s.get("Reason") == "tmux-test"]
    assert mine, sessions
    session = mine[0]
    assert session["Status"] == "Terminated"
    assert "status 3" in session["Details"]
    cast = transcript(server, session["SessionId"])
    lines = cast["Transcript"].splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 2 and header["width"] == 120
    events = [json.loads(line) for line in lines[1:]]
    output = "".join(e[2] for e in events if e[1] == "o")
    assert "echo hello-$((6*7))" in output and "hello-42" in output.replace("hello-$((6*7))", "")
    assert any(e[1] == "r" and e[2] == "100x" + new_size.split()[0] for e in events), events[-5:]
    assert all(b[0] >= a[0] for a, b in zip(events, events[1:]))

    # and through the CLI, as plain text
    res = steward(steward_env, "sessions", "transcript", session["SessionId"])
    assert res.returncode == 0, res.stderr
    assert "hello-42" in res.stdout



def test_the_aws_cli_lists_and_terminates_sessions(aws_cli, ssm, instances):
    sid = ssm.start_session(Target=instances[1], Reason="aws-cli")["SessionId"]
    listed = aws_cli("describe-sessions", "--state", "Active", "--filters", f"key=SessionId,value={sid}", parse_json=True)
    assert listed.returncode == 0, listed.stderr
    assert [s["SessionId"] for s in listed.json["Sessions"]] == [sid]
    ended = aws_cli("terminate-session", "--session-id", sid, parse_json=True)
    assert ended.returncode == 0, ended.stderr
    assert ended.json == {"SessionId": sid}
    history = aws_cli("describe-sessions", "--state", "History", "--filters", f"key=SessionId,value={sid}",
                      parse_json=True)
    assert history.json["Sessions"][0]["Status"] == "Terminated"
