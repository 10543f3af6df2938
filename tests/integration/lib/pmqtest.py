"""Shared helpers for the paxmqd integration tests: the Broker process wrapper, timing
scale for valgrind, and assertions reused by several test files (the broker still
serves; stored persistent messages are intact).

Environment: see conftest.py.
"""

import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

import stomp_raw

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
EXTERNAL = os.environ.get("PAXMQ_EXTERNAL", "").strip()
VALGRIND = os.environ.get("PAXMQ_VALGRIND", "") == "1"
BIN = os.environ.get("PAXMQ_BIN") or os.path.join(ROOT, "build", "dev", "paxmqd")

# Timing scale: valgrind makes the broker 10-50x slower; waits for something that must
# happen are stretched, waits that assert something does NOT happen are not.
SCALE = 8.0 if VALGRIND else 1.0
START_TIMEOUT = 60.0 if VALGRIND else 10.0
STOP_TIMEOUT = 60.0 if VALGRIND else 10.0

VALGRIND_CMD = ["valgrind", "--error-exitcode=99", "--leak-check=full",
                "--errors-for-leak-kinds=definite", "--track-fds=no", "-q"]


def T(seconds):
    """A timeout for something that must happen, scaled for valgrind."""
    return seconds * SCALE


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def flag_key(name):
    """broker_max_redeliveries -> broker.max_redeliveries (sections have no '_')."""
    if "." in name:
        return name
    section, _, key = name.partition("_")
    return section + "." + key


class Broker:
    """One paxmqd process on loopback with its own data directory."""

    external = False

    def __init__(self, data_dir, overrides=None, env=None, name="broker"):
        self.name = name
        self.data_dir = data_dir
        self.log_path = data_dir.rstrip("/") + ".stderr.log"
        self.port = None
        self.proc = None
        self.env = env
        self.overrides = {flag_key(k): v for k, v in (overrides or {}).items()}
        self.exit_codes = []
        os.makedirs(data_dir, exist_ok=True)

    @property
    def addr(self):
        return ("127.0.0.1", self.port)

    @property
    def pid(self):
        return self.proc.pid

    def argv(self):
        flags = {
            "node.name": "test",
            "node.data_dir": self.data_dir,
            "stomp.listen": "127.0.0.1:%d" % self.port,
            "mqtt.listen": "off",
            "http.listen": "off",
            "cluster.listen": "off",
            "log.level": "debug",
            "store.sync": "false",
        }
        for k, v in self.overrides.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            flags[k] = str(v)
        argv = [BIN] + ["--%s=%s" % (k, v) for k, v in flags.items()]
        return (VALGRIND_CMD + argv) if VALGRIND else argv

    def start(self, **overrides):
        """Start (or restart, same data dir and port) and wait until the port accepts."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.overrides.update({flag_key(k): v for k, v in overrides.items()})
        if not os.path.exists(BIN):
            pytest.fail("paxmqd binary not found at %s (build it, or set PAXMQ_BIN)" % BIN)
        first = self.port is None
        for attempt in range(3):
            if first:
                self.port = free_port()
            env = dict(os.environ)
            env.update(self.env or {})
            with open(self.log_path, "ab") as log:
                log.write(("=== start %s\n" % " ".join(self.argv())).encode())
                log.flush()
                self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                             stdout=log, stderr=log, env=env)
            if self._wait_listening():
                return self
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("paxmqd did not accept on port %d within %.0fs\n%s"
                            % (self.port, START_TIMEOUT, self.log_tail()))
            if not first:  # a restart must come back on its port
                break
        pytest.fail("paxmqd exited at start with %s\n%s" % (self.proc.returncode,
                                                            self.log_tail()))

    def _wait_listening(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(self.addr, timeout=1.0).close()
            except OSError:
                time.sleep(0.02)
                continue
            # someone else may own the port if our bind failed: make sure we are alive
            time.sleep(0.05)
            return self.proc.poll() is None
        return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=None):
        """Send `sig`, wait for the exit and return the exit code."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=STOP_TIMEOUT if timeout is None else timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = "timeout (killed with SIGKILL)"
        self.exit_codes.append(code)
        return code

    def terminate_ok(self):
        """SIGTERM and assert the graceful exit code 0."""
        code = self.stop()
        assert code == 0, "paxmqd exit code after SIGTERM: %s\n%s" % (code, self.log_tail())

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.exit_codes.append(-9)

    def restart(self, **overrides):
        self.terminate_ok()
        return self.start(**overrides)

    def rss_kb(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def log_tail(self, lines=150):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(data[-lines:])

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class ExternalBroker:
    """A broker we did not start (PAXMQ_EXTERNAL): nothing to restart or inspect."""

    external = True
    name = "external"

    def __init__(self, spec):
        host, _, port = spec.rpartition(":")
        self.addr = (host or "127.0.0.1", int(port))
        self.port = self.addr[1]

    def _skip(self, *a, **kw):
        pytest.skip("needs a paxmqd started by the test (PAXMQ_EXTERNAL is set)")

    start = stop = restart = kill9 = rss_kb = terminate_ok = _skip

    def running(self):
        return True

    def log_tail(self, lines=150):
        return "(external broker)"

    def log_text(self):
        return ""


def need_local(broker):
    """Skip the calling test when it needs restarts/flags/pids of a broker we started."""
    if broker.external:
        pytest.skip("needs a paxmqd started by the test (PAXMQ_EXTERNAL is set)")


# ---- shared assertions ---------------------------------------------------------------

def assert_serves(target, version="1.2"):
    """A fresh client can subscribe, send with a receipt and receive its message."""
    addr = target.addr if hasattr(target, "addr") else target
    c = stomp_raw.RawStomp(addr, version, timeout=T(5))
    try:
        c.connect()
        q = "/queue/health_%s" % uuid.uuid4().hex[:8]
        c.subscribe(q, "h", ack="auto")
        body = ("alive " + uuid.uuid4().hex).encode()
        c.send(q, body, receipt=True)
        m = c.expect("MESSAGE")
        assert m.body == body
        c.disconnect()
    finally:
        c.close()


def store_persistent(target, n=5):
    """Send n persistent messages (with receipts) to a fresh queue; return (queue, bodies)."""
    addr = target.addr if hasattr(target, "addr") else target
    c = stomp_raw.RawStomp(addr, "1.2", timeout=T(5))
    q = "/queue/stored_%s" % uuid.uuid4().hex[:8]
    bodies = [("stored %d %s" % (i, uuid.uuid4().hex)).encode() for i in range(n)]
    try:
        c.connect()
        for b in bodies:
            c.send(q, b, {"persistent": "true"}, receipt=True)
        c.disconnect()
    finally:
        c.close()
    return q, bodies


def assert_stored(target, q, bodies):
    """Every stored message is still in q, in order; consumes them."""
    addr = target.addr if hasattr(target, "addr") else target
    c = stomp_raw.RawStomp(addr, "1.2", timeout=T(5))
    try:
        c.connect()
        c.subscribe(q, "s", ack="client-individual")
        got = c.messages(len(bodies))
        assert [m.body for m in got] == bodies
        for m in got:
            c.ack(m)
        c.disconnect()
    finally:
        c.close()
