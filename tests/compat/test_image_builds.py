"""Image builds end to end through boto3's `imagebuilder` client, with no network: a base image made from Debian's
busybox-static package and imported, a build with the chroot provider whose component writes files, runs a script
and reboots once (exit 194) and checks it resumed, volume reduction with sizes, a ClamAV scan with a custom EICAR
signature (one build passes it, one fails on it), a test stage on a fresh instance, cancellation, a restart of the
server during a build, and a published image whose manifest lists all of it.

The busybox-static .deb comes from a cache folder (STEWARD_CI_CACHE, default /var/cache/steward/debs) that CI fills
with `apt-get download busybox-static`. The tests need root (unshare, chroot, mounts in a private namespace),
clamscan, qemu-img, zstd, mke2fs and debugfs.
"""

import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import boto3
import pytest
from botocore.config import Config

from compat_helpers import REGION, free_port, tail

ACCOUNT = "123456789012"
CACHE = os.environ.get("STEWARD_CI_CACHE", "/var/cache/steward/debs")
EICAR_B64 = "WDVPIVAlQEFQWzRcUFpYNTQoUF4pN0NDKTd9JEVJQ0FSLVNUQU5EQVJELUFOVElWSVJVUy1URVNULUZJTEUhJEgrSCo="
EICAR_HDB = "44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature\n"

BUILD_DOC = """\
name: build-check
description: writes files, runs a script, reboots once and checks it resumed
schemaVersion: 1.0
parameters:
  - Message:
      type: string
      default: hello
phases:
  - name: build
    steps:
      - name: WriteFile
        action: CreateFile
        inputs:
          - path: /etc/steward-build/message
            content: '{{ Message }}'
      - name: Script
        action: ExecuteBash
        inputs:
          commands:
            - echo "script ran" > /etc/steward-build/script
            - ln -f /etc/steward-build/script /etc/steward-build/script-link
            - mkdir -p /var/log/app && echo noise > /var/log/app/build.log
            - dd if=/dev/zero of=/tmp/scratch bs=1024 count=2048 2>/dev/null
            - 'echo "before the reboot, PID 1 is $(cat /proc/1/comm)"' 
      - name: RebootOnce
        action: ExecuteBash
        inputs:
          commands:
            - |
              if [ -f /var/lib/reboot-marker ]; then
                rm /var/lib/reboot-marker
                echo resumed >> /etc/steward-build/reboots
                exit 0
              fi
              touch /var/lib/reboot-marker
              sleep 313 >/dev/null 2>&1 &
              echo "asking for a reboot"
              exit 194
      - name: AfterReboot
        action: ExecuteBash
        inputs:
          commands:
            - test "$(cat /etc/steward-build/reboots)" = resumed
            - if ps | grep -v grep | grep -q "sleep 313"; then echo "a process survived the reboot"; exit 1; fi
            - echo "resumed at the right step" > /etc/steward-build/after
  - name: validate
    steps:
      - name: Check
        action: ExecuteBash
        inputs:
          commands:
            - test -f /etc/steward-build/after
            - grep -q '{{ Message }}' /etc/steward-build/message
"""

TEST_DOC = """\
name: image-test
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: FilesAreThere
        action: ExecuteBash
        inputs:
          commands:
            - test "$(cat /etc/steward-build/script)" = "script ran"
            - test "$(cat /etc/steward-build/message)" = "built by CI, with a comma"
            - test ! -e /tmp/scratch
            - test ! -e /var/lib/reboot-marker
            - test ! -e /var/log/app/build.log
"""

EICAR_DOC = f"""\
name: drop-eicar
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Drop
        action: ExecuteBash
        inputs:
          commands:
            - mkdir -p /root/downloads
            - echo {EICAR_B64} | base64 -d > /root/downloads/eicar.com
"""

AGENT_TEST_DOC = """\
name: agent-joins
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Register
        action: ExecuteBash
        inputs:
          commands:
            - . /etc/steward/agent.env && test -n "$STEWARD_ACTIVATION_ID"
            - /opt/steward/agent/steward-agent-start > /tmp/agent.log 2>&1 &
            - for i in $(seq 1 80); do [ -s /var/lib/steward/agent/identity.json ] && break; sleep 0.25; done
            - cat /tmp/agent.log
            - test -s /var/lib/steward/agent/identity.json
"""

SLOW_DOC = """\
name: slow
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Wait
        action: ExecuteBash
        inputs:
          commands:
            - sleep 171
"""


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _bin(name):
    base = os.environ.get("STEWARD_BIN_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug")
    return os.path.abspath(os.path.join(base, name))


def _needs():
    if os.geteuid() != 0:
        return "image builds with the chroot provider need root"
    for tool in ("clamscan", "qemu-img", "zstd", "mke2fs", "debugfs", "unshare", "dpkg-deb"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not glob.glob(os.path.join(CACHE, "busybox-static_*.deb")):
        return f"no busybox-static .deb in {CACHE} (apt-get download busybox-static)"
    return None


pytestmark = pytest.mark.skipif(_needs() is not None, reason=_needs() or "")


class BuildServer:
    """A `steward server` of its own, with image builds on (the session server has them off)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.data_dir = os.path.join(tmp, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.log_path = os.path.join(tmp, "server.log")
        self.steward = _bin("steward")
        out = subprocess.run([self.steward, "access-key", "create", "--data-dir", self.data_dir, "--output", "json"],
                             capture_output=True, text=True, timeout=60, check=True)
        text = out.stdout.strip()
        self.key = json.loads(text[text.index("{"):])
        self.proc = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        # zstd level 3 for the tar.zst: level 19 (the default, what `steward bench images` measures) costs minutes of
        # CPU on an image that carries a debug build's agent.
        # Its own SQLite file always: on the PostgreSQL pass the session server's database holds PENDING images that
        # this server's build worker must not pick up (and its access key is made in this data folder's database).
        argv = [self.steward, "server", "--data-dir", self.data_dir, "--listen", f"127.0.0.1:{self.port}",
                "--image-zstd-level", "3", "--image-schedule-interval", "1"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        import urllib.request
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, f"server exited:\n{tail(self.log_path)}"
            try:
                if urllib.request.urlopen(f"{self.url}/healthz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"server not healthy:\n{tail(self.log_path)}"
            time.sleep(0.2)

    def descendants(self):
        """(pid, command line) of every process under the server (its builds)."""
        table = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,args="], capture_output=True, text=True).stdout
        rows = [line.split(None, 2) for line in table.splitlines() if len(line.split(None, 2)) >= 2]
        found, frontier = [], {self.proc.pid} if self.proc else set()
        while frontier:
            children = [(int(r[0]), r[2] if len(r) > 2 else "") for r in rows if int(r[1]) in frontier]
            found += children
            frontier = {pid for pid, _ in children}
        return found

    def kill(self):
        """SIGKILL the server and what its builds run (it inherits a blocked SIGTERM from the test process), and reap."""
        if self.proc and self.proc.poll() is None:
            below = self.descendants()
            self.proc.kill()
            self.proc.wait(timeout=10)
            for pid, _ in below:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def client(self):
        session = boto3.session.Session(aws_access_key_id=self.key["AccessKeyId"],
                                        aws_secret_access_key=self.key["SecretAccessKey"], region_name=REGION)
        return session.client("imagebuilder", endpoint_url=self.url,
                              config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=60))

    def cli(self, *args, timeout=120):
        env = {"AWS_ACCESS_KEY_ID": self.key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": self.key["SecretAccessKey"],
               "AWS_REGION": REGION, "AWS_ENDPOINT_URL": self.url, "HOME": self.tmp, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        return subprocess.run([self.steward, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def builder(request):
    tmp = tempfile.mkdtemp(prefix="steward-images-")
    server = BuildServer(tmp)
    server.start()
    try:
        yield server
    finally:
        server.kill()
        if request.session.testsfailed or os.environ.get("STEWARD_COMPAT_KEEP"):
            print(f"\nimage build test folder kept: {tmp} (server log {server.log_path})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def busybox_tarball(folder):
    """A root file system tarball: busybox-static unpacked, one symlink per applet, /etc/passwd and the usual folders."""
    deb = sorted(glob.glob(os.path.join(CACHE, "busybox-static_*.deb")))[-1]
    tree = os.path.join(folder, "tree")
    subprocess.run(["dpkg-deb", "-x", deb, tree], check=True)
    busybox = os.path.join(tree, "bin", "busybox")
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        link = os.path.join(tree, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    for d in ("etc", "root", "tmp", "var/log", "var/lib", "var/tmp", "proc", "sys", "dev", "usr/bin", "sbin"):
        os.makedirs(os.path.join(tree, d), exist_ok=True)
    with open(os.path.join(tree, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(tree, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")
    with open(os.path.join(tree, "etc", "machine-id"), "w") as f:
        f.write("0123456789abcdef0123456789abcdef\n")
    with open(os.path.join(tree, "var", "log", "base.log"), "w") as f:
        f.write("from the base image\n")
    tarball = os.path.join(folder, "busybox-rootfs.tar.gz")
    subprocess.run(["tar", "--numeric-owner", "--owner=0", "--group=0", "-czf", tarball, "-C", tree, "."], check=True)
    return tarball


def wait_image(ib, arn, states=("AVAILABLE", "FAILED", "CANCELLED"), timeout=150):
    deadline = time.monotonic() + timeout
    while True:
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        if image["state"]["status"] in states:
            return image
        assert time.monotonic() < deadline, f"{arn} still {image['state']}"
        time.sleep(0.5)


def build_log(builder, arn):
    out = builder.cli("images", "logs", arn, "--output", "json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def base(builder):
    """The busybox base, imported through `steward images import` (ImportDiskImage)."""
    tarball = busybox_tarball(builder.tmp)
    out = builder.cli("images", "import", tarball, "--name", "busybox-base", "--version", "1.0.0", "--output", "json")
    assert out.returncode == 0, out.stderr
    image = json.loads(out.stdout)
    assert image["state"]["status"] == "AVAILABLE" and image["imageSource"] == "IMPORTED"
    return image["arn"]


@pytest.fixture(scope="module")
def setup(builder, base):
    ib = builder.client()
    sigs = os.path.join(builder.tmp, "signatures")
    os.makedirs(sigs, exist_ok=True)
    with open(os.path.join(sigs, "test.hdb"), "w") as f:
        f.write(EICAR_HDB)
    out = os.path.join(builder.tmp, "published")
    comps = {}
    for name, doc in (("build-check", BUILD_DOC), ("image-test", TEST_DOC), ("drop-eicar", EICAR_DOC), ("slow", SLOW_DOC),
                      ("agent-joins", AGENT_TEST_DOC)):
        comps[name] = ib.create_component(name=name, semanticVersion="1.0.0", platform="Linux", data=doc)["componentBuildVersionArn"]
    infra = ib.create_infrastructure_configuration(
        name="chroot", instanceProfileName="steward",
        tags={"steward:provider": "chroot", "steward:clamav-db": sigs})["infrastructureConfigurationArn"]
    keep = ib.create_infrastructure_configuration(
        name="chroot-keep", instanceProfileName="steward", terminateInstanceOnFailure=False,
        tags={"steward:provider": "chroot", "steward:clamav-db": sigs})["infrastructureConfigurationArn"]
    dist = ib.create_distribution_configuration(
        name="local", distributions=[{"region": REGION, "s3ExportConfiguration": {
            "roleName": "vmimport", "diskImageFormat": "RAW_ZST", "s3Bucket": out, "s3Prefix": "golden"}}])["distributionConfigurationArn"]
    return dict(ib=ib, comps=comps, infra=infra, keep=keep, dist=dist, out=out, base=base)


def recipe(setup, name, components):
    return setup["ib"].create_image_recipe(
        name=name, semanticVersion="1.0.0", parentImage=setup["base"].rsplit("/", 2)[0] + "/x.x.x",
        components=components)["imageRecipeArn"]


def test_a_busybox_image_is_built_reduced_scanned_tested_and_published(builder, setup):
    ib = setup["ib"]
    rec = recipe(setup, "golden", [
        {"componentArn": setup["comps"]["build-check"], "parameters": [{"name": "Message", "value": ["built by CI, with a comma"]}]},
        {"componentArn": setup["comps"]["image-test"]},
    ])
    arn = ib.create_image(imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"],
                          distributionConfigurationArn=setup["dist"])["imageBuildVersionArn"]
    seen = set()
    deadline = time.monotonic() + 150
    while True:
        image = ib.get_image(imageBuildVersionArn=arn)["image"]
        seen.add(image["state"]["status"])
        if image["state"]["status"] in ("AVAILABLE", "FAILED", "CANCELLED"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.2)
    got = build_log(builder, arn)
    assert image["state"]["status"] == "AVAILABLE", f"{image['state']}\n{got['log'][-4000:]}"
    assert seen & {"BUILDING", "TESTING", "DISTRIBUTING"}, seen

    # every step is in the log and the record, in order, with its figures
    steps = [(s["stage"], s["name"], s["status"]) for s in got["steps"]]
    names = [n for _, n, _ in steps]
    # the scan, the image files and the tar.zst run side by side, after the reduction and before the tests
    assert names[:4] == ["LaunchBuildInstance", "ApplyBuildComponents", "StopBuildInstance", "VolumeReduction"]
    assert sorted(names[4:7]) == ["CreateOutputImage", "CreateTarZst", "MalwareScan"]
    # the raw image is compressed for distribution while the test instance runs
    assert sorted(names[7:11]) == ["ApplyTestComponents", "CompressImage", "LaunchTestInstance", "StartTest"]
    assert [n for n in names[7:11] if n != "CompressImage"] == ["LaunchTestInstance", "StartTest", "ApplyTestComponents"]
    assert names[11:] == ["DistributeImage", "RecordImage"]
    assert all(status == "SUCCEEDED" for _, _, status in steps), steps
    applied = next(s for s in got["steps"] if s["name"] == "ApplyBuildComponents")
    assert applied["details"]["reboots"] == 1
    log = got["log"]
    assert "asking for a reboot" in log and "reboot 1:" in log and "start-up hook" in log
    assert "malware scan: clean" in log and "volume reduction:" in log

    # the published image: files, checksums, reduction figures, scan and test reports, components, packages
    folder = os.path.join(setup["out"], "golden", "golden", "1.0.0", "1")
    assert image["outputResources"]["amis"][0]["image"] == folder
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    assert manifest["arn"] == arn and manifest["primaryFormat"] == "raw.zst" and manifest["provider"] == "chroot"
    formats = {f["format"]: f for f in manifest["formats"]}
    assert set(formats) == {"raw", "raw.zst", "qcow2", "tar.zst"}
    for f in formats.values():
        path = os.path.join(folder, f["file"])
        assert os.path.getsize(path) == f["bytes"]
        digest = subprocess.run(["sha256sum", path], capture_output=True, text=True, check=True).stdout.split()[0]
        assert digest == f["sha256"]
    assert subprocess.run(["qemu-img", "check", os.path.join(folder, "image.qcow2")], capture_output=True).returncode == 0
    fsck = subprocess.run(["e2fsck", "-fn", os.path.join(folder, "image.raw")], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    red = manifest["reduction"]
    assert red["treeBytesAfter"] < red["treeBytesBefore"] and red["zstdFloorBytes"] == formats["tar.zst"]["bytes"]
    assert red["qcow2OverFloor"] > 0
    # the distribution file is the raw image, byte for byte, in one zstd stream that plain `zstd -d` reads
    assert red["finalFormat"] == "raw.zst" and red["finalBytes"] == formats["raw.zst"]["bytes"]
    assert red["finalOverFloor"] == round(formats["raw.zst"]["bytes"] / formats["tar.zst"]["bytes"], 3)
    unpacked = os.path.join(setup["out"], "unpacked.raw")
    subprocess.run(["zstd", "-dqf", os.path.join(folder, "image.raw.zst"), "-o", unpacked], check=True)
    assert subprocess.run(["cmp", unpacked, os.path.join(folder, "image.raw")]).returncode == 0
    os.remove(unpacked)
    # and it is a base image as it is: `steward images import` takes the raw.zst
    out = builder.cli("images", "import", os.path.join(folder, "image.raw.zst"), "--name", "golden-reimported",
                      "--version", "1.0.0", "--output", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["state"]["status"] == "AVAILABLE"
    [etc] = glob.glob(os.path.join(builder.data_dir, "images", "store", "*", "golden-reimported", "1.0.0", "1", "rootfs",
                                   "etc", "steward-build"))
    assert os.path.isfile(os.path.join(etc, "message"))
    # names of one file stay one file (debugfs rdump copies them apart; the import links them again)
    assert os.stat(os.path.join(etc, "script")).st_ino == os.stat(os.path.join(etc, "script-link")).st_ino
    assert manifest["scan"]["result"] == "CLEAN" and manifest["scan"]["findings"] == []
    assert manifest["tests"]["result"] == "PASSED" and manifest["tests"]["startTest"] == "PASSED"
    assert [c["name"] for c in manifest["tests"]["components"]] == ["image-test"]
    names = [(c["name"], c["version"]) for c in manifest["components"]]
    assert ("build-check", "1.0.0/1") in names and ("image-test", "1.0.0/1") in names
    assert manifest["components"][0]["parameters"] == {"Message": "built by CI, with a comma"}
    assert manifest["buildReboots"] == 1 and manifest["packages"] == []

    # the image itself: what the component wrote is in it; the build's runner, tmp files, logs and machine id are not
    listing = subprocess.run(["debugfs", "-R", "ls -p /etc/steward-build", os.path.join(folder, "image.raw")],
                             capture_output=True, text=True).stdout
    assert "message" in listing and "after" in listing
    root = subprocess.run(["debugfs", "-R", "ls -p /", os.path.join(folder, "image.raw")], capture_output=True, text=True).stdout
    assert ".steward-build" not in root
    mid = subprocess.run(["debugfs", "-R", "stat /etc/machine-id", os.path.join(folder, "image.raw")],
                         capture_output=True, text=True).stdout
    assert "Size: 0" in mid

    # the new image is a parent like any other: it shows as AVAILABLE among the image's builds
    versions = ib.list_image_build_versions(imageVersionArn=arn.rsplit("/", 1)[0])["imageSummaryList"]
    assert [v["state"]["status"] for v in versions] == ["AVAILABLE"]


def test_an_eicar_file_fails_the_scan_and_the_instance_is_kept(builder, setup):
    ib = setup["ib"]
    rec = recipe(setup, "infected", [{"componentArn": setup["comps"]["drop-eicar"]}])
    arn = ib.create_image(imageRecipeArn=rec, infrastructureConfigurationArn=setup["keep"])["imageBuildVersionArn"]
    image = wait_image(ib, arn)
    assert image["state"]["status"] == "FAILED"
    reason = image["state"]["reason"]
    assert "malware scan found 1 infected file" in reason and "/root/downloads/eicar.com" in reason
    assert "Eicar-Test-Signature" in reason
    got = build_log(builder, arn)
    scan = next(s for s in got["steps"] if s["name"] == "MalwareScan")
    assert scan["status"] == "FAILED" and scan["details"]["report"]["findings"] == [
        {"path": "/root/downloads/eicar.com", "signature": "Eicar-Test-Signature.UNOFFICIAL"}]  # ClamAV's mark of own signatures
    assert "FOUND Eicar-Test-Signature.UNOFFICIAL in /root/downloads/eicar.com" in got["log"]
    # terminateInstanceOnFailure: false keeps the build instance; the log says where
    kept = [line for line in got["log"].splitlines() if "kept for inspection in" in line]
    assert kept, got["log"][-3000:]
    folder = kept[0].split("kept for inspection in ")[1].strip()
    assert os.path.isfile(os.path.join(folder, "root", "root", "downloads", "eicar.com"))
    shutil.rmtree(folder)


def test_an_image_with_the_agent_registers_itself_when_started(builder, setup):
    ib = setup["ib"]
    rec = setup["ib"].create_image_recipe(
        name="with-agent", semanticVersion="1.0.0", parentImage="busybox-base", tags={"steward:agent": "install"},
        components=[{"componentArn": setup["comps"]["build-check"]}, {"componentArn": setup["comps"]["agent-joins"]}],
    )["imageRecipeArn"]
    arn = ib.create_image(imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"])["imageBuildVersionArn"]
    image = wait_image(ib, arn)
    got = build_log(builder, arn)
    assert image["state"]["status"] == "AVAILABLE", f"{image['state']}\n{got['log'][-3000:]}"
    assert any(s["name"] == "InstallStewardAgent" and s["status"] == "SUCCEEDED" for s in got["steps"])
    activation = got["manifest"]["stewardAgent"]["activationId"]
    session = boto3.session.Session(aws_access_key_id=builder.key["AccessKeyId"],
                                    aws_secret_access_key=builder.key["SecretAccessKey"], region_name=REGION)
    ssm = session.client("ssm", endpoint_url=builder.url)
    found = ssm.describe_activations(Filters=[{"FilterKey": "ActivationIds", "FilterValues": [activation]}])["ActivationList"]
    assert found and found[0]["RegistrationsCount"] == 1  # the test instance, started from the image, registered
    assert ssm.describe_instance_information()["InstanceInformationList"]


def test_scheduled_pipelines_build_on_a_cron_match_and_only_with_updates_when_asked(builder, setup):
    ib = setup["ib"]
    rec = recipe(setup, "nightly", [{"componentArn": setup["comps"]["build-check"]}])
    every_minute = "cron(* * * * ? *)"
    pipes = {}
    # (the first in a time zone half an hour off UTC: the expression is read on that wall clock)
    for name, condition, zone in (("always", "EXPRESSION_MATCH_ONLY", "Asia/Kolkata"),
                                  ("on-updates", "EXPRESSION_MATCH_AND_DEPENDENCY_UPDATES_AVAILABLE", "UTC")):
        pipes[name] = ib.create_image_pipeline(
            name=name, imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"], status="DISABLED",
            schedule={"scheduleExpression": every_minute, "pipelineExecutionStartCondition": condition, "timezone": zone},
            imageTestsConfiguration={"imageTestsEnabled": False})["imagePipelineArn"]
    # a manual run of the second pipeline uses today's base and component: a scheduled run has nothing new to build
    manual = ib.start_image_pipeline_execution(imagePipelineArn=pipes["on-updates"])["imageBuildVersionArn"]
    assert wait_image(ib, manual)["state"]["status"] == "AVAILABLE"
    for name, arn in pipes.items():
        ib.update_image_pipeline(
            imagePipelineArn=arn, imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"], status="ENABLED",
            schedule=ib.get_image_pipeline(imagePipelineArn=arn)["imagePipeline"]["schedule"],
            imageTestsConfiguration={"imageTestsEnabled": False})
    deadline = time.monotonic() + 75
    while True:
        scheduled = ib.list_image_pipeline_images(imagePipelineArn=pipes["always"])["imageSummaryList"]
        if scheduled:
            break
        assert time.monotonic() < deadline, "the every-minute pipeline did not run"
        time.sleep(1)
    assert scheduled[0]["buildType"] == "SCHEDULED"
    time.sleep(3)  # the same minute's check of the other pipeline is done by now
    others = ib.list_image_pipeline_images(imagePipelineArn=pipes["on-updates"])["imageSummaryList"]
    assert [i["arn"] for i in others] == [manual]
    for name, arn in pipes.items():
        ib.update_image_pipeline(imagePipelineArn=arn, imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"],
                                 status="DISABLED")
    wait_image(ib, scheduled[0]["arn"])


def test_a_build_is_cancelled_and_a_restart_fails_the_build_under_way(builder, setup):
    ib = setup["ib"]
    rec = recipe(setup, "slow", [{"componentArn": setup["comps"]["slow"]}])
    arn = ib.create_image(imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"])["imageBuildVersionArn"]
    wait_image(ib, arn, states=("BUILDING",), timeout=60)
    time.sleep(1)
    assert any("sleep 171" in args for _, args in builder.descendants())
    ib.cancel_image_creation(imageBuildVersionArn=arn)
    assert wait_image(ib, arn)["state"]["status"] == "CANCELLED"
    deadline = time.monotonic() + 20
    while any("sleep 171" in args for _, args in builder.descendants()):
        assert time.monotonic() < deadline, "the cancelled build's processes still run"
        time.sleep(0.3)
    got = build_log(builder, arn)
    assert any(s["status"] == "CANCELLED" for s in got["steps"])

    # a server stopped during a build fails it on restart, with the reason
    second = ib.create_image(imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"])["imageBuildVersionArn"]
    wait_image(ib, second, states=("BUILDING",), timeout=60)
    builder.kill()
    builder.start()
    ib = builder.client()
    image = wait_image(ib, second)
    assert image["state"]["status"] == "FAILED" and "server stopped while the build was BUILDING" in image["state"]["reason"]


def _qemu_missing():
    if shutil.which("qemu-system-x86_64") is None:
        return "qemu-system-x86_64 is not installed"
    if not glob.glob("/var/cache/steward/debs/linux-image-*-amd64_*.deb") and not glob.glob(
            "/var/cache/apt/archives/linux-image-*-amd64_*.deb"):
        return "no linux-image .deb in /var/cache/steward/debs (apt-get download it)"
    if os.environ.get("STEWARD_TEST_DATABASE_URL"):
        return "the QEMU build runs once, in the SQLite pass (it does not touch the database engine's code paths)"
    return None


@pytest.mark.skipif(_qemu_missing() is not None, reason=_qemu_missing() or "")
def test_a_qemu_build_reboots_the_virtual_machine_and_tests_a_fresh_one(builder, setup):
    """The same recipe on the qemu provider: build components in a real virtual machine (the agent inside runs them),
    a real reboot on exit 194, then the test component in a fresh VM booted from the captured image."""
    ib = setup["ib"]
    infra = ib.create_infrastructure_configuration(
        name="qemu", instanceProfileName="steward",
        tags={"steward:provider": "qemu", "steward:clamav-db": os.path.join(builder.tmp, "signatures")})[
        "infrastructureConfigurationArn"]
    rec = setup["ib"].create_image_recipe(
        name="golden-vm", semanticVersion="1.0.0", parentImage=setup["base"].rsplit("/", 2)[0] + "/x.x.x",
        components=[
            {"componentArn": setup["comps"]["build-check"], "parameters": [{"name": "Message", "value": ["built by CI, with a comma"]}]},
            {"componentArn": setup["comps"]["image-test"]},
        ])["imageRecipeArn"]
    arn = ib.create_image(imageRecipeArn=rec, infrastructureConfigurationArn=infra,
                          distributionConfigurationArn=setup["dist"])["imageBuildVersionArn"]
    image = wait_image(ib, arn, timeout=600)
    got = build_log(builder, arn)
    assert image["state"]["status"] == "AVAILABLE", f"{image['state']}\n{got['log'][-6000:]}"
    applied = next(s for s in got["steps"] if s["name"] == "ApplyBuildComponents")
    assert applied["details"]["reboots"] == 1
    tested = next(s for s in got["steps"] if s["name"] == "ApplyTestComponents")
    assert tested["status"] == "SUCCEEDED"
    manifest = json.load(open(os.path.join(setup["out"], "golden", "golden-vm", "1.0.0", "1", "manifest.json")))
    assert manifest["provider"] == "qemu" and manifest["buildReboots"] == 1
    assert manifest["tests"]["result"] == "PASSED"
    # the tree read out of the VM's disk keeps its hard links
    raw = os.path.join(setup["out"], "golden", "golden-vm", "1.0.0", "1", "image.raw")
    linked = subprocess.run(["debugfs", "-R", "stat /etc/steward-build/script-link", raw], capture_output=True, text=True).stdout
    assert "Links: 2" in linked, linked


def test_an_import_of_a_folder_or_an_empty_file_is_refused_at_once(builder):
    empty = os.path.join(builder.tmp, "empty.img")
    open(empty, "w").close()
    for uri in (builder.tmp, empty):
        out = builder.cli("images", "import", uri, "--name", "bad-base", "--version", "1.0.0")
        assert out.returncode != 0 and "InvalidParameterValueException" in out.stderr, out.stderr
    out = builder.cli("images", "import", "relative/missing.tar", "--name", "bad-base", "--version", "1.0.0")
    assert out.returncode != 0 and "cannot read relative/missing.tar" in out.stderr, out.stderr
    assert builder.client().list_images(filters=[{"name": "name", "values": ["bad-base"]}])["imageVersionList"] == []


def _debian_mirror():
    """This host's Debian mirror when mmdebstrap can reach it (CI installs from it), else why not."""
    if shutil.which("mmdebstrap") is None:
        return None, "mmdebstrap is not installed"
    if os.environ.get("STEWARD_TEST_DATABASE_URL"):
        return None, "the Debian build runs once, in the SQLite pass (its server keeps its own SQLite file anyway)"
    mirror = "http://deb.debian.org/debian"
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        uris = [line.split()[1:] for line in open(path) if line.startswith("URIs:")]
        found = [u for words in uris for u in words if "security" not in u]
        if found:
            mirror = found[0]
            break
    import urllib.request
    try:
        urllib.request.urlopen(f"{mirror.rstrip('/')}/dists/bookworm/Release", timeout=10).close()
    except OSError as e:
        return None, f"the Debian mirror {mirror} is not reachable: {e}"
    return mirror, None


DEBIAN_UPDATE_DOC = """\
name: debian-update
schemaVersion: 1.0
phases:
  - name: build
    steps:
      - name: Update
        action: UpdateOS
      - name: Tools
        action: ExecuteBash
        inputs:
          commands:
            - DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends jq
  - name: validate
    steps:
      - name: Installed
        action: ExecuteBash
        inputs:
          commands: ['jq --version']
"""

DEBIAN_TEST_DOC = """\
name: debian-test
schemaVersion: 1.0
phases:
  - name: test
    steps:
      - name: Cleaned
        action: ExecuteBash
        inputs:
          commands:
            - echo '{"ok":true}' | jq -e .ok
            - test -z "$(ls /var/lib/apt/lists | grep -v -e '^lock$' -e '^partial$' -e '^auxfiles$')"
            - test ! -s /etc/machine-id
"""


def test_a_debian_base_is_bootstrapped_updated_reduced_and_published(builder, setup):
    """`steward images bootstrap debian` from this host's mirror, then a chroot build with UpdateOS and a package."""
    mirror, why = _debian_mirror()
    if mirror is None:
        pytest.skip(why)
    argv = ("images", "bootstrap", "debian", "--suite", "bookworm", "--name", "debian-base", "--version", "1.0.0",
            "--mirror", mirror, "--output", "json")
    out = builder.cli(*argv, timeout=900)
    if out.returncode != 0 and "mmdebstrap failed" in out.stderr:
        out = builder.cli(*argv, timeout=900)  # once more: a download from the mirror can fail on its own
    assert out.returncode == 0, out.stderr
    base = json.loads(out.stdout)
    assert base["state"]["status"] == "AVAILABLE" and base["osVersion"] == "Debian bookworm"
    ib = setup["ib"]
    update = ib.create_component(name="debian-update", semanticVersion="1.0.0", platform="Linux",
                                 data=DEBIAN_UPDATE_DOC)["componentBuildVersionArn"]
    check = ib.create_component(name="debian-test", semanticVersion="1.0.0", platform="Linux",
                                data=DEBIAN_TEST_DOC)["componentBuildVersionArn"]
    rec = ib.create_image_recipe(name="debian-golden", semanticVersion="1.0.0", parentImage=base["arn"],
                                 components=[{"componentArn": update}, {"componentArn": check}])["imageRecipeArn"]
    arn = ib.create_image(imageRecipeArn=rec, infrastructureConfigurationArn=setup["infra"],
                          distributionConfigurationArn=setup["dist"])["imageBuildVersionArn"]
    image = wait_image(ib, arn, timeout=900)
    got = build_log(builder, arn)
    assert image["state"]["status"] == "AVAILABLE", f"{image['state']}\n{got['log'][-4000:]}"
    manifest = json.load(open(os.path.join(setup["out"], "golden", "debian-golden", "1.0.0", "1", "manifest.json")))
    packages = {p["name"]: p for p in manifest["packages"]}
    assert "jq" in packages and "apt" in packages and "base-files" in packages and len(packages) > 80
    red = manifest["reduction"]
    # apt's lists and caches go: the tree shrinks by tens of megabytes
    assert red["treeBytesBefore"] - red["treeBytesAfter"] > 20_000_000, red
    assert red["finalBytes"] > 0 and red["finalOverFloor"] > 0
    assert manifest["tests"]["result"] == "PASSED" and manifest["scan"]["result"] == "CLEAN"
