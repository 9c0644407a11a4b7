"""Session fixtures for the Steward SSM compatibility suite.

One `steward server` and three `steward-agent` processes are started lazily
(only when a test asks for them) and shared by the whole session.

Environment:
  STEWARD_BIN_DIR            folder with `steward` and `steward-agent`
                             (default: <repo>/.build/debug)
  STEWARD_TEST_DATABASE_URL  if set, passed to `steward server --database`
  STEWARD_COMPAT_KEEP=1      keep the temp dir even when every test passed
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from compat_helpers import (  # noqa: F401  (re-exported for tests and plugins)
    REGION,
    ServerHandle,
    all_instance_information,
    env_flag,
    free_port,
    invocations,
    poll,
    tail,
    wait_command,
    wait_invocation,
    wait_ping_status,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
HEALTH_TIMEOUT = 60
ONLINE_TIMEOUT = 30
INSTANCE_ID_RE = re.compile(r"^mi-\w{17}$")

# filled while the session runs; read by pytest_terminal_summary
_SESSION_INFO: dict = {"tmp_dir": None, "kept": False, "logs": []}


# --------------------------------------------------------------------------
# binaries
# --------------------------------------------------------------------------

def _bin_dir() -> Path:
    raw = os.environ.get("STEWARD_BIN_DIR")
    if not raw:
        return REPO_ROOT / ".build" / "debug"
    p = Path(raw).expanduser()
    if p.is_absolute():
        return p
    if (Path.cwd() / p).exists():
        return (Path.cwd() / p).resolve()
    return (REPO_ROOT / p).resolve()


def _binary(name: str) -> str:
    path = _bin_dir() / name
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{name} not found or not executable at {path}; build it (swift build) "
            f"or set STEWARD_BIN_DIR",
            pytrace=False,
        )
    return str(path)


def _run(argv, timeout=60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _parse_json_output(text: str):
    """Parse JSON printed by a CLI; tolerate log lines before the JSON document."""
    text = text.strip()
    try:
        return json.loads(text)
    except ValueError:
        start = text.find("{")
        end = text.rfind("}")
        if start < 0 or end < start:
            raise
        return json.loads(text[start:end + 1])


def _terminate(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def _terminate_all(procs, timeout: float = 15) -> None:
    """SIGTERM every live process first, then wait for each (SIGKILL stragglers)."""
    live = [p for p in procs if p is not None and p.poll() is None]
    for p in live:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in live:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


# --------------------------------------------------------------------------
# process handles
# --------------------------------------------------------------------------

class AgentHandle:
    """One `steward-agent start` process that a test may stop and start again."""

    def __init__(self, index: int, binary: str, state_dir: str, log_path: str,
                 instance_id: str, role: str):
        self.index = index
        self.binary = binary
        self.state_dir = state_dir
        self.log_path = log_path
        self.instance_id = instance_id
        self.role = role
        self.process: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def custom_inventory_dir(self) -> str:
        return os.path.join(self.state_dir, "custom-inventory")

    def start(self, env=None) -> None:
        if self.running:
            return
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                [self.binary, "start", "--state-dir", self.state_dir,
                 "--custom-inventory-dir", self.custom_inventory_dir],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=None if env is None else {**os.environ, **env},
            )
        finally:
            log.close()

    def stop(self, timeout: float = 15) -> None:
        _terminate(self.process, timeout)

    def __repr__(self) -> str:
        return f"<agent {self.index} {self.instance_id} role={self.role} running={self.running}>"


class Instances(list):
    """Instance ids in agent order, plus ``by_role`` (role -> ids) and ``activation_id``."""

    def __init__(self, ids, by_role, activation_id, activation_code):
        super().__init__(ids)
        self.by_role = by_role
        self.activation_id = activation_id
        self.activation_code = activation_code


# --------------------------------------------------------------------------
# pytest hooks
# --------------------------------------------------------------------------

def pytest_collection_modifyitems(session, config, items):
    # Activation tests register an extra managed instance; run them last so
    # `InstanceIds=*` targets elsewhere see exactly the three fixture agents.
    items.sort(key=lambda item: getattr(getattr(item, "module", None), "__name__", "").endswith("test_activations"))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    tmp_dir = _SESSION_INFO.get("tmp_dir")
    if not tmp_dir or not _SESSION_INFO.get("kept"):
        return
    tr = terminalreporter
    tr.section("steward compat: kept temp dir")
    tr.write_line(f"temp dir: {tmp_dir}")
    failed = bool(tr.stats.get("failed") or tr.stats.get("error"))
    if failed:
        for label, path, n in _SESSION_INFO.get("logs", []):
            tr.write_line(f"----- tail of {label} ({path}) -----")
            tr.write_line(tail(path, n))


# --------------------------------------------------------------------------
# fixtures: server
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def server(request):
    """Start `steward server` on a free loopback port; yields a ServerHandle."""
    steward = _binary("steward")
    tmp_dir = tempfile.mkdtemp(prefix="steward-compat-")
    _SESSION_INFO["tmp_dir"] = tmp_dir
    data_dir = os.path.join(tmp_dir, "data")
    os.makedirs(data_dir)
    log_path = os.path.join(tmp_dir, "server.log")
    _SESSION_INFO["logs"].append(("server log", log_path, 80))
    startup_failed = True
    proc = None
    try:
        key_argv = [steward, "access-key", "create", "--data-dir", data_dir, "--output", "json"]
        if os.environ.get("STEWARD_TEST_DATABASE_URL"):
            key_argv += ["--database", os.environ["STEWARD_TEST_DATABASE_URL"]]
        res = _run(key_argv)
        assert res.returncode == 0, (
            f"steward access-key create failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
        key = _parse_json_output(res.stdout)
        assert key.get("AccessKeyId") and key.get("SecretAccessKey"), f"bad access key output: {res.stdout!r}"

        port = free_port()
        export_dir = os.path.join(tmp_dir, "inventory-export")
        # Image builds are off here: these images stay PENDING (test_image_builds.py runs its own building server).
        argv = [steward, "server", "--data-dir", data_dir, "--listen", f"127.0.0.1:{port}",
                "--inventory-export-dir", export_dir, "--image-build-workers", "0"]
        db_url = os.environ.get("STEWARD_TEST_DATABASE_URL")
        if db_url:
            argv += ["--database", db_url]
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        handle = ServerHandle(url=f"http://127.0.0.1:{port}", port=port, data_dir=data_dir,
                              key=key, log_path=log_path, process=proc,
                              extra={"tmp_dir": tmp_dir, "bin": steward, "export_dir": export_dir})
        deadline = time.monotonic() + HEALTH_TIMEOUT
        while True:
            if proc.poll() is not None:
                raise AssertionError(
                    f"steward server exited with {proc.returncode} before becoming healthy:\n"
                    f"{tail(log_path)}")
            try:
                status, _ = handle.get("/healthz", timeout=2)
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"/healthz not 200 within {HEALTH_TIMEOUT}s; log tail:\n{tail(log_path)}")
            time.sleep(0.2)
        startup_failed = False
        yield handle
    finally:
        _terminate(proc)
        keep = startup_failed or request.session.testsfailed > 0 or env_flag("STEWARD_COMPAT_KEEP")
        _SESSION_INFO["kept"] = keep
        if not keep:
            shutil.rmtree(tmp_dir, ignore_errors=True)


def _make_client(server: ServerHandle, access_key=None, secret_key=None, max_attempts=3, service="ssm"):
    session = boto3.session.Session(
        aws_access_key_id=access_key or server.key["AccessKeyId"],
        aws_secret_access_key=secret_key or server.key["SecretAccessKey"],
        region_name=REGION,
    )
    return session.client(
        service,
        endpoint_url=server.url,
        config=Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    )


@pytest.fixture(scope="session")
def steward_binaries():
    """{'steward': path, 'steward-agent': path}"""
    return {name: _binary(name) for name in ("steward", "steward-agent")}


@pytest.fixture(scope="session")
def ssm(server):
    """boto3 SSM client pointed at the test server."""
    return _make_client(server)


@pytest.fixture(scope="session")
def groups(server):
    """boto3 Resource Groups client pointed at the test server (groups of managed nodes)."""
    return _make_client(server, service="resource-groups")


@pytest.fixture(scope="session")
def imagebuilder(server):
    """boto3 EC2 Image Builder client pointed at the test server (image pipeline definitions)."""
    return _make_client(server, service="imagebuilder")


@pytest.fixture(scope="session")
def ssm_client_factory(server):
    """Build an SSM client with other credentials (for auth tests); no retries."""

    def factory(access_key=None, secret_key=None):
        return _make_client(server, access_key, secret_key, max_attempts=1)

    return factory


@pytest.fixture(scope="session")
def aws_cli(server):
    """Run `aws ssm <args...>` against the server.

    Returns the CompletedProcess; with ``parse_json=True`` the parsed stdout is
    in ``.json`` (None when the command failed or printed nothing).
    """
    aws = shutil.which("aws")
    base = [aws] if aws else [sys.executable, "-m", "awscli"]
    cfg_dir = os.path.join(server.extra["tmp_dir"], "aws-cli")
    os.makedirs(cfg_dir, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "AWS_ACCESS_KEY_ID": server.key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": server.key["SecretAccessKey"],
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_CONFIG_FILE": os.path.join(cfg_dir, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(cfg_dir, "credentials"),
        "AWS_PAGER": "",
    })

    def run(*args, parse_json=False, timeout=150, service="ssm"):
        argv = base + [service, *[str(a) for a in args]]
        if parse_json and "--output" not in args:
            argv += ["--output", "json"]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        proc.json = None
        if parse_json and proc.returncode == 0 and proc.stdout.strip():
            proc.json = json.loads(proc.stdout)
        return proc

    return run


# --------------------------------------------------------------------------
# fixtures: fleet (activation + three agents)
# --------------------------------------------------------------------------

AGENT_ROLES = ["web", "web", "db"]


@pytest.fixture(scope="session")
def fleet(server, ssm):
    """Create an activation, register and start three agents, wait until Online."""
    agent_bin = _binary("steward-agent")
    tmp_dir = server.extra["tmp_dir"]
    act = ssm.create_activation(
        IamRole="SSMServiceRole",
        RegistrationLimit=5,
        Description="steward compat fixture",
        Tags=[{"Key": "Env", "Value": "test"}],
    )
    handles: list[AgentHandle] = []
    try:
        for idx, role in enumerate(AGENT_ROLES):
            state_dir = os.path.join(tmp_dir, f"agent-{idx}")
            os.makedirs(state_dir)
            res = _run([agent_bin, "register", "--server", server.url,
                        "--activation-id", act["ActivationId"],
                        "--activation-code", act["ActivationCode"],
                        "--state-dir", state_dir])
            assert res.returncode == 0, (
                f"steward-agent register #{idx} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
            instance_id = _last_line(res.stdout)
            assert instance_id.startswith("mi-"), f"register printed no instance id: {res.stdout!r}"
            log_path = os.path.join(tmp_dir, f"agent-{idx}.log")
            _SESSION_INFO["logs"].append((f"agent {idx} log", log_path, 25))
            handles.append(AgentHandle(idx, agent_bin, state_dir, log_path, instance_id, role))

        for h in handles:
            ssm.add_tags_to_resource(ResourceType="ManagedInstance", ResourceId=h.instance_id,
                                     Tags=[{"Key": "Role", "Value": h.role}])
        for h in handles:
            h.start()
        wait_ping_status(ssm, [h.instance_id for h in handles], "Online", ONLINE_TIMEOUT)

        by_role: dict[str, list[str]] = {}
        for h in handles:
            by_role.setdefault(h.role, []).append(h.instance_id)
        yield {
            "activation": act,
            "agents": handles,
            "instances": Instances([h.instance_id for h in handles], by_role,
                                   act["ActivationId"], act["ActivationCode"]),
        }
    finally:
        _terminate_all([h.process for h in handles])
        if os.environ.get("STEWARD_TEST_DATABASE_URL"):
            # a shared database outlives this run: do not leave offline
            # instances behind for the next run's `InstanceIds=*` targets
            for h in handles:
                try:
                    ssm.deregister_managed_instance(InstanceId=h.instance_id)
                except Exception:  # noqa: BLE001 - best effort cleanup
                    pass
            try:
                ssm.delete_activation(ActivationId=act["ActivationId"])
            except Exception:  # noqa: BLE001
                pass


@pytest.fixture(scope="session")
def instances(fleet) -> Instances:
    """Instance ids [agent0, agent1, agent2]; ``.by_role`` = {'web': [..2], 'db': [..1]}."""
    return fleet["instances"]


@pytest.fixture(scope="session")
def agents(fleet) -> list:
    """AgentHandle objects (``.stop()``, ``.start()``, ``.instance_id``) in agent order."""
    return fleet["agents"]
