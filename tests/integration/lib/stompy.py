"""Thin helpers around Debian's python3-stomp (stomp.py 8.x) for the integration tests.

A Collector listener turns stomp.py's callback style into blocking queue reads so a
test can say `msg = coll.get()` with a timeout.
"""

import queue
import threading

import stomp

CLASSES = {"1.0": stomp.Connection10, "1.1": stomp.Connection11, "1.2": stomp.Connection12}


class Collector(stomp.ConnectionListener):
    """Records everything a stomp.py connection receives."""

    def __init__(self):
        self.messages = queue.Queue()
        self.receipts = queue.Queue()
        self.errors = queue.Queue()
        self.connected = None
        self.disconnected = threading.Event()
        self.heartbeats = 0

    def on_connected(self, frame):
        self.connected = frame

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        self.receipts.put(frame.headers.get("receipt-id"))

    def on_error(self, frame):
        self.errors.put(frame)

    def on_heartbeat(self):
        self.heartbeats += 1

    def on_disconnected(self):
        self.disconnected.set()

    def get(self, timeout=5.0):
        """The next MESSAGE frame; fails the test if none arrives in time."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no MESSAGE within %.1fs" % timeout)

    def get_n(self, n, timeout=5.0):
        return [self.get(timeout) for _ in range(n)]

    def none(self, timeout=0.3):
        """Assert that no MESSAGE arrives within timeout."""
        try:
            f = self.messages.get(timeout=timeout)
        except queue.Empty:
            return
        raise AssertionError("unexpected MESSAGE %r %r" % (f.headers, f.body))

    def wait_receipt(self, rid, timeout=5.0):
        while True:
            try:
                got = self.receipts.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError("no RECEIPT %s within %.1fs" % (rid, timeout))
            if got == rid:
                return


def connect(addr, version="1.2", heartbeats=(0, 0), headers=None, wait=True, auto_decode=False):
    """Open a stomp.py connection; returns (conn, collector)."""
    cls = CLASSES[version]
    kw = dict(host_and_ports=[addr], reconnect_attempts_max=1, auto_decode=auto_decode)
    if version != "1.0":
        kw["heartbeats"] = heartbeats
    conn = cls(**kw)
    coll = Collector()
    conn.set_listener("collector", coll)
    conn.connect(wait=wait, headers=headers or {})
    return conn, coll
