"""Raw-socket STOMP client for the paxmq integration tests.

Builds frames byte by byte (so tests can send exactly the malformed input they mean),
parses what the broker sends back with per-version header unescaping, counts
heart-beat EOLs, and detects a closed connection. Blocking, one socket, no threads.

Nothing here knows paxmq: the same client is used to validate the tests against
Apache ActiveMQ.
"""

import socket
import time

VERSIONS = ("1.0", "1.1", "1.2")

_ESC_12 = {"\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c"}
_ESC_11 = {"\\": "\\\\", "\n": "\\n", ":": "\\c"}


class Closed(Exception):
    """The peer closed the connection (or reset it)."""


class Timeout(Exception):
    """No complete frame arrived within the timeout."""


class ProtocolError(Exception):
    """The broker sent bytes that are not a well-formed STOMP frame."""


def escape(value, version):
    """Escape a header value for SEND/SUBSCRIBE/... frames of `version`."""
    if version == "1.2":
        table = _ESC_12
    elif version == "1.1":
        table = _ESC_11
    else:
        return value
    return "".join(table.get(c, c) for c in value)


def unescape(value, version):
    """Undo escape(); raises ProtocolError on an undefined escape sequence."""
    if version not in ("1.1", "1.2") or "\\" not in value:
        return value
    out = []
    i = 0
    while i < len(value):
        c = value[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(value):
            raise ProtocolError("dangling backslash in %r" % value)
        n = value[i + 1]
        if n == "\\":
            out.append("\\")
        elif n == "n":
            out.append("\n")
        elif n == "c":
            out.append(":")
        elif n == "r" and version == "1.2":
            out.append("\r")
        else:
            raise ProtocolError("undefined escape \\%s in %r" % (n, value))
        i += 2
    return "".join(out)


def _to_bytes(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, bytearray):
        return bytes(x)
    return str(x).encode("utf-8", "surrogateescape")


def encode_frame(command, headers=(), body=b"", version="1.2", content_length="auto",
                 escape_headers=True, eol=b"\n"):
    """Return the bytes of one frame.

    headers: dict or list of (name, value) pairs (values may be str, int or bytes;
    bytes are sent verbatim). content_length: "auto" adds content-length when the body
    is non-empty and the header was not given; True always adds it; False never does.
    CONNECT/STOMP/CONNECTED are never escaped (the spec says so).
    """
    if isinstance(headers, dict):
        headers = list(headers.items())
    body = _to_bytes(body)
    esc = escape_headers and command not in ("CONNECT", "STOMP", "CONNECTED")
    out = [_to_bytes(command), eol]
    names = set()
    for k, v in headers:
        names.add(k)
        if isinstance(v, (bytes, bytearray)):
            vb = bytes(v)
        else:
            vb = _to_bytes(escape(str(v), version) if esc else str(v))
        kb = _to_bytes(escape(k, version) if esc else k)
        out += [kb, b":", vb, eol]
    if content_length is True or (content_length == "auto" and body
                                  and "content-length" not in names):
        out += [b"content-length:", str(len(body)).encode(), eol]
    out += [eol, body, b"\x00"]
    return b"".join(out)


class Frame:
    """One received frame: command, ordered header pairs, body bytes."""

    def __init__(self, command, pairs, body):
        self.command = command
        self.pairs = pairs
        self.body = body
        self.headers = {}
        for k, v in pairs:  # STOMP 1.2: the first occurrence of a repeated header wins
            self.headers.setdefault(k, v)

    def get(self, name, default=None):
        return self.headers.get(name, default)

    def __getitem__(self, name):
        return self.headers[name]

    def __contains__(self, name):
        return name in self.headers

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        b = self.body if len(self.body) <= 80 else self.body[:80] + b"..."
        return "Frame(%s, %r, %r)" % (self.command, self.headers, b)


class FrameParser:
    """Incremental parser for frames sent by a broker."""

    def __init__(self, version="1.2"):
        self.version = version
        self.buf = bytearray()
        self.heartbeats = 0
        self.last_heartbeat = None
        self.eat_eol = False

    def feed(self, data):
        self.buf += data

    def next_frame(self):
        """Return the next complete Frame, or None if more bytes are needed."""
        buf = self.buf
        while buf[:1] in (b"\n", b"\r"):
            if buf[:1] == b"\n":
                if self.eat_eol:  # an EOL right after a frame's NUL is framing
                    self.eat_eol = False
                else:
                    self.heartbeats += 1
                    self.last_heartbeat = time.monotonic()
            del buf[:1]
        if not buf:
            return None
        end = buf.find(b"\n\n")
        end_crlf = buf.find(b"\r\n\r\n")
        if end < 0 and end_crlf < 0:
            return None
        if end_crlf >= 0 and (end < 0 or end_crlf < end):
            head, body_start = bytes(buf[:end_crlf]), end_crlf + 4
        else:
            head, body_start = bytes(buf[:end]), end + 2
        lines = head.replace(b"\r\n", b"\n").split(b"\n")
        command = lines[0].decode("utf-8", "replace")
        version = self.version if command != "CONNECTED" else "1.0"
        pairs = []
        for line in lines[1:]:
            text = line.decode("utf-8", "surrogateescape")
            if ":" not in text:
                raise ProtocolError("header line without colon: %r" % line)
            k, v = text.split(":", 1)
            pairs.append((unescape(k, version), unescape(v, version)))
        clen = None
        for k, v in pairs:
            if k == "content-length":
                clen = int(v)
                break
        if clen is not None:
            if len(buf) < body_start + clen + 1:
                return None
            body = bytes(buf[body_start:body_start + clen])
            if buf[body_start + clen] != 0:
                raise ProtocolError("no NUL after content-length body")
            del buf[:body_start + clen + 1]
        else:
            nul = buf.find(b"\x00", body_start)
            if nul < 0:
                return None
            body = bytes(buf[body_start:nul])
            del buf[:nul + 1]
        self.eat_eol = True
        return Frame(command, pairs, body)


class RawStomp:
    """A blocking STOMP connection over a plain socket.

    recv() returns the next frame or raises Timeout/Closed; heart-beat EOLs are counted
    in .parser.heartbeats and never returned.
    """

    def __init__(self, addr, version="1.2", timeout=5.0, connect_tcp=True):
        self.addr = addr
        self.version = version
        self.timeout = timeout
        self.parser = FrameParser(version)
        self.closed = False
        self.sock = None
        self.pending = []  # frames read while waiting for a RECEIPT, returned first
        self._receipt_seq = 0
        if connect_tcp:
            self.sock = socket.create_connection(addr, timeout=timeout)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # ---- bytes in and out -------------------------------------------------------------

    def send_raw(self, data):
        """Send bytes; raises Closed if the broker has already closed the socket."""
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as e:
            self.closed = True
            raise Closed(str(e))

    def send_frame(self, command, headers=(), body=b"", **kw):
        kw.setdefault("version", self.version)
        self.send_raw(encode_frame(command, headers, body, **kw))

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Timeout()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise Timeout()
        except (ConnectionResetError, ConnectionAbortedError) as e:
            self.closed = True
            raise Closed(str(e))
        if not data:
            self.closed = True
            raise Closed("EOF")
        self.parser.feed(data)

    def recv(self, timeout=None):
        """Next frame (heart-beats skipped). Raises Timeout or Closed."""
        if self.pending:
            return self.pending.pop(0)
        return self._recv_wire(timeout)

    def _recv_wire(self, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.parser.next_frame()
            if f is not None:
                return f
            if self.closed:
                raise Closed("EOF")
            self._fill(deadline)

    def poll(self, timeout=0.3):
        """Next frame or None if none arrives within timeout (Closed still raises)."""
        try:
            return self.recv(timeout)
        except Timeout:
            return None

    def expect(self, command, timeout=None):
        f = self.recv(timeout)
        if f.command != command:
            raise AssertionError("expected %s, got %r" % (command, f))
        return f

    def wait_closed(self, timeout=None):
        """Read until the broker closes the connection; return the frames seen.

        Raises AssertionError if the connection is still open after timeout.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        frames = []
        while True:
            try:
                frames.append(self.recv(max(0.0, deadline - time.monotonic())))
            except Closed:
                return frames
            except Timeout:
                raise AssertionError("connection still open after %.1fs; frames: %r"
                                     % (timeout or self.timeout, frames))

    def expect_error_and_close(self, timeout=None, receipt_id=None):
        """The broker must answer with an ERROR frame (with a message header) and close.

        Returns the ERROR frame. Other frames before the ERROR (e.g. RECEIPTs for
        earlier frames) are tolerated.
        """
        frames = self.wait_closed(timeout)
        errors = [f for f in frames if f.command == "ERROR"]
        assert errors, "no ERROR frame before close; got %r" % (frames,)
        err = errors[0]
        assert err.get("message"), "ERROR frame without message header: %r" % (err,)
        if receipt_id is not None:
            assert err.get("receipt-id") == receipt_id, err
        return err

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.closed = True

    # ---- protocol helpers -------------------------------------------------------------

    def connect(self, headers=None, command="CONNECT", accept_version="default",
                heart_beat=None, host="/", expect="CONNECTED"):
        """Send CONNECT/STOMP and return the broker's answer frame.

        accept_version "default" means: this client's version ("1.0" sends no header).
        """
        h = []
        if accept_version == "default":
            if self.version != "1.0":
                h.append(("accept-version", self.version))
        elif accept_version is not None:
            h.append(("accept-version", accept_version))
        if host is not None and self.version != "1.0":
            h.append(("host", host))
        if heart_beat is not None:
            h.append(("heart-beat", "%d,%d" % heart_beat))
        h += list((headers or {}).items())
        self.send_frame(command, h)
        f = self.recv()
        if expect is not None:
            assert f.command == expect, "expected %s, got %r" % (expect, f)
        if f.command == "CONNECTED":
            v = f.get("version", "1.0")
            self.version = v
            self.parser.version = v
        return f

    def next_receipt(self):
        self._receipt_seq += 1
        return "r-%d" % self._receipt_seq

    def receipt(self, command, headers=(), body=b"", timeout=None, **kw):
        """Send a frame with a fresh receipt header and wait for its RECEIPT."""
        rid = self.next_receipt()
        h = list(headers.items()) if isinstance(headers, dict) else list(headers)
        h.append(("receipt", rid))
        self.send_frame(command, h, body, **kw)
        return self.wait_receipt(rid, command, timeout)

    def wait_receipt(self, rid, what="frame", timeout=None):
        """Wait for RECEIPT rid; MESSAGE frames that arrive first are kept for recv()."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        stash = []
        try:
            while True:
                try:
                    f = self._recv_wire(max(0.0, deadline - time.monotonic()))
                except Timeout:
                    raise AssertionError("no RECEIPT %s for %s; got %r" % (rid, what, stash))
                if f.command == "RECEIPT" and f.get("receipt-id") == rid:
                    return f
                assert f.command == "MESSAGE", \
                    "expected RECEIPT %s for %s, got %r" % (rid, what, f)
                stash.append(f)
        finally:
            self.pending += stash

    def subscribe(self, destination, sub_id="0", ack="auto", receipt=True, **extra):
        h = [("destination", destination), ("ack", ack)]
        if sub_id is not None:
            h.append(("id", sub_id))
        h += list(extra.items())
        if receipt:
            self.receipt("SUBSCRIBE", h)
        else:
            self.send_frame("SUBSCRIBE", h)

    def unsubscribe(self, sub_id="0", receipt=True, **extra):
        h = [("id", sub_id)] + list(extra.items())
        if receipt:
            self.receipt("UNSUBSCRIBE", h)
        else:
            self.send_frame("UNSUBSCRIBE", h)

    def send(self, destination, body=b"", headers=None, receipt=False, **kw):
        h = [("destination", destination)] + list((headers or {}).items())
        if receipt:
            return self.receipt("SEND", h, body, **kw)
        self.send_frame("SEND", h, body, **kw)
        return None

    def ack_headers(self, msg, sub_id=None):
        """Headers that ACK/NACK `msg` in this connection's version."""
        if self.version == "1.2":
            return [("id", msg["ack"])]
        h = [("message-id", msg["message-id"])]
        sub = sub_id if sub_id is not None else msg.get("subscription")
        if self.version == "1.1" and sub is not None:
            h.append(("subscription", sub))
        return h

    def ack(self, msg, receipt=False, transaction=None, command="ACK"):
        h = self.ack_headers(msg)
        if transaction is not None:
            h.append(("transaction", transaction))
        if receipt:
            self.receipt(command, h)
        else:
            self.send_frame(command, h)

    def nack(self, msg, receipt=False, transaction=None):
        self.ack(msg, receipt=receipt, transaction=transaction, command="NACK")

    def messages(self, n, timeout=None):
        """Receive exactly n MESSAGE frames (fails on any other frame)."""
        out = []
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(out) < n:
            try:
                f = self.recv(max(0.0, deadline - time.monotonic()))
            except Timeout:
                raise AssertionError("got %d of %d messages: %r" % (len(out), n, out))
            assert f.command == "MESSAGE", "expected MESSAGE, got %r" % (f,)
            out.append(f)
        return out

    def disconnect(self, timeout=None):
        """DISCONNECT with a receipt; waits for the RECEIPT, then closes the socket."""
        rid = self.next_receipt()
        self.send_frame("DISCONNECT", [("receipt", rid)])
        try:
            return self.wait_receipt(rid, "DISCONNECT", timeout)
        finally:
            self.close()
