"""Heart-beating (STOMP 1.1/1.2): negotiation per the spec's max() rule, the broker's
beats reach the client, and a client silent past the interval plus grace is dropped."""

import time

import pytest

from pmqtest import T, VALGRIND
from stomp_raw import Closed


def _hb(frame):
    sx, sy = (int(x) for x in frame["heart-beat"].split(","))
    return sx, sy


def _gaps(c, seconds):
    """Listen for `seconds`; return the arrival times of heart-beat EOLs."""
    times = []
    end = time.monotonic() + seconds
    last = c.parser.heartbeats
    while time.monotonic() < end:
        f = c.poll(min(0.05, max(0.0, end - time.monotonic())))
        assert f is None, "unexpected frame %r" % f
        if c.parser.heartbeats != last:
            times += [time.monotonic()] * (c.parser.heartbeats - last)
            last = c.parser.heartbeats
    return times


SLACK = 1.0 if VALGRIND else 0.2


def _beats_for(c, heart_beat, periods=2.2, from_connected=False):
    """Connect asking for heart_beat, listen `periods` intervals; return (interval in s,
    beat times, gaps). With from_connected the first gap counts from CONNECTED."""
    f = c.connect(heart_beat=heart_beat)
    t_connected = time.monotonic()
    sx, sy = _hb(f)
    assert sx > 0, "client asked for beats, broker offers none: %r" % f
    interval = max(sx, heart_beat[1]) / 1000.0
    window = periods * interval + 0.3
    times = _gaps(c, window)
    if from_connected:
        times = [t_connected] + times
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(times) <= 2 * window / interval + 3, "heart-beat flood: %d" % len(times)
    return interval, times, gaps


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_broker_sends_heartbeats_when_asked(broker, connect, version):
    """(ActiveMQ checks once per interval and beats only if it wrote nothing, so its gaps
    reach 2x the interval; this test allows that, the next one does not.)"""
    c = connect(broker, version, do_connect=False)
    interval, times, gaps = _beats_for(c, (0, 1000), periods=3.2)
    assert len(times) >= 2, "%d heart-beats in %.1fs" % (len(times), 3.2 * interval)
    assert max(gaps) <= interval * 2.2 + SLACK, gaps


@pytest.mark.paxmq_only  # ActiveMQ's gaps reach 2x the interval
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_broker_heartbeats_at_least_every_interval(broker, connect, version):
    """The first beat too: a client that wants beats every second must not wait two."""
    c = connect(broker, version, do_connect=False)
    interval, times, gaps = _beats_for(c, (0, 1000), periods=3.2, from_connected=True)
    assert gaps and max(gaps) <= interval * 1.2 + SLACK, \
        "gaps (first from CONNECTED): %s" % ["%.2f" % g for g in gaps]
    assert len(gaps) >= 3, "%d heart-beats in %.1fs" % (len(gaps), 3.2 * interval)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_no_heartbeats_when_not_asked(broker, connect, uniq, version):
    c = connect(broker, version, do_connect=False)
    c.connect(heart_beat=(0, 0))
    time.sleep(2.2)
    assert c.poll(0.1) is None
    assert c.parser.heartbeats == 0
    q = uniq("queue")  # and the idle connection is still open and working
    c.subscribe(q, "s")
    c.send(q, b"after idle", receipt=True)
    assert c.expect("MESSAGE").body == b"after idle"


def test_1_0_connection_idle_is_not_dropped(broker, connect, uniq):
    c = connect(broker, "1.0")
    time.sleep(2.2)
    q = uniq("queue")
    c.subscribe(q, "s")
    c.send(q, b"still", receipt=True)
    assert c.expect("MESSAGE").body == b"still"
    assert c.parser.heartbeats == 0


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_silent_client_is_disconnected(broker, connect, version):
    """Client promises beats every 1000 ms and sends nothing: the broker drops it (after
    the interval, give or take the grace; ActiveMQ takes up to 3 check periods)."""
    c = connect(broker, version, do_connect=False)
    f = c.connect(heart_beat=(1000, 0))
    sx, sy = _hb(f)
    assert sy > 0, "client offers beats, broker does not want them: %r" % f
    interval = max(1000, sy) / 1000.0
    t0 = time.monotonic()
    try:
        frames = c.wait_closed(T(interval * 6))
    except Closed:
        frames = []
    elapsed = time.monotonic() - t0
    assert elapsed >= interval * 0.95, "dropped after %.2fs, interval %.1fs" % (
        elapsed, interval)
    assert all(f.command == "ERROR" for f in frames), frames


@pytest.mark.paxmq_only  # paxmq: closed at interval * (1 + heartbeat_grace_pct/100)
@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_silent_client_dropped_after_interval_plus_grace(broker, connect, version):
    c = connect(broker, version, do_connect=False)
    f = c.connect(heart_beat=(1000, 0))
    interval = max(1000, _hb(f)[1]) / 1000.0
    t0 = time.monotonic()
    try:
        c.wait_closed(T(interval * 4))
    except Closed:
        pass
    elapsed = time.monotonic() - t0
    assert interval * 1.0 <= elapsed <= T(interval * 1.5) + 0.5, \
        "dropped after %.2fs; expected ~%.2fs" % (elapsed, interval * 1.5)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_client_beating_at_negotiated_rate_stays_connected(broker, connect, uniq, version):
    """The client beats every max(cx, sy) (the spec's rule) with cx below the broker's
    sy: the broker must judge it by the negotiated interval, not by cx."""
    c = connect(broker, version, do_connect=False)
    f = c.connect(heart_beat=(500, 0))
    sy = _hb(f)[1]
    assert sy > 0
    period = max(500, sy) / 1000.0 * 0.8
    end = time.monotonic() + max(3.0, 3 * period)
    while time.monotonic() < end:
        c.send_raw(b"\n")
        assert c.poll(period) is None
    q = uniq("queue")
    c.subscribe(q, "s")
    c.send(q, b"alive", receipt=True)
    assert c.expect("MESSAGE").body == b"alive"


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_traffic_counts_as_heartbeat(broker, connect, uniq, version):
    """Frames keep the connection alive as well as EOLs do."""
    q = uniq("queue")
    c = connect(broker, version, do_connect=False)
    f = c.connect(heart_beat=(1000, 0))
    interval = max(1000, _hb(f)[1]) / 1000.0
    end = time.monotonic() + 3 * interval
    i = 0
    while time.monotonic() < end:
        c.send(q, b"%d" % i, receipt=True)
        i += 1
        time.sleep(interval * 0.6)
    c.subscribe(q, "s")
    assert len(c.messages(i)) == i


def test_negotiation_uses_larger_of_both_sides(broker, connect):
    """Client wants beats every 1500 ms. The broker's beats come about every
    max(sx, 1500) ms (ActiveMQ: up to 2x that)."""
    c = connect(broker, "1.2", do_connect=False)
    interval, times, gaps = _beats_for(c, (0, 1500), periods=2.3)
    assert interval >= 1.5
    assert len(times) >= 1
    assert all(g <= interval * 2.2 + SLACK for g in gaps), gaps


@pytest.mark.paxmq_only
def test_negotiated_interval_is_max_of_both_sides(broker, connect):
    c = connect(broker, "1.2", do_connect=False)
    interval, times, gaps = _beats_for(c, (0, 1500), periods=3.3, from_connected=True)
    assert gaps and all(0.6 * interval <= g <= interval * 1.2 + SLACK for g in gaps), \
        (interval, ["%.2f" % g for g in gaps])
    assert len(gaps) >= 3


@pytest.mark.paxmq_only  # ActiveMQ honours any interval; paxmq has stomp.heartbeat_min_ms
def test_heartbeat_min_is_enforced(broker, connect):
    c = connect(broker, "1.2", do_connect=False)
    f = c.connect(heart_beat=(0, 100))
    sx = _hb(f)[0]
    assert sx >= 1000, "CONNECTED %s below heartbeat_min_ms=1000" % f["heart-beat"]
    times = _gaps(c, 2.5)
    assert len(times) <= 4, "%d heart-beats in 2.5s with a 1000 ms minimum" % len(times)
    d = connect(broker, "1.2", do_connect=False)
    f = d.connect(heart_beat=(100, 0))
    sy = _hb(f)[1]
    assert sy >= 1000, "broker wants client beats every %d ms, below the minimum" % sy


@pytest.mark.paxmq_only
def test_heartbeat_grace_is_configurable(start_broker, connect):
    b = start_broker(stomp_heartbeat_min_ms=500, stomp_heartbeat_grace_pct=100)
    c = connect(b, "1.2", do_connect=False)
    f = c.connect(heart_beat=(500, 0))
    interval = max(500, _hb(f)[1]) / 1000.0
    t0 = time.monotonic()
    try:
        c.wait_closed(T(interval * 5))
    except Closed:
        pass
    elapsed = time.monotonic() - t0
    assert interval * 1.9 <= elapsed <= T(interval * 2) + 0.5, elapsed


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_stomppy_with_heartbeats_stays_connected(broker, stomppy, uniq, version):
    q = uniq("queue")
    conn, coll = stomppy(broker, version, heartbeats=(1000, 1000))
    conn.subscribe(q, id="hb", ack="auto")
    time.sleep(3.2)
    assert conn.is_connected()
    assert not coll.disconnected.is_set()
    assert coll.heartbeats >= 1, "stomp.py saw no heart-beat from the broker in 3.2s"
    conn.send(q, b"after beats")
    assert coll.get(T(5)).body == b"after beats"
