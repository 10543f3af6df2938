"""Producer flow control on topics: producers that outrun a (live) topic subscriber are
held back instead of the subscriber losing non-persistent messages — ActiveMQ's default
behaviour, and what keeps fan-in and fan-out loss-free while memory stays bounded."""

import threading
import time

from pmqtest import T, need_local
from stomp_raw import RawStomp, encode_frame


def test_fan_in_to_a_slow_subscriber_loses_nothing(start_broker, connect, uniq):
    b = start_broker(net_outbound_bytes_max=64 * 1024)
    need_local(b)
    t = uniq("topic")
    sub = connect(b, "1.2")
    sub.subscribe(t, "s")
    producers, per_producer = 4, 2000
    body = b"x" * 1000
    errors = []

    def produce(pid):
        try:
            p = RawStomp(b.addr, "1.2", timeout=T(30))
            p.connect()
            for i in range(per_producer):
                p.send_raw(encode_frame("SEND", [("destination", t), ("p", str(pid)),
                                                 ("i", str(i))], body))
            p.send(t, b"done", {"p": str(pid), "i": "end"}, receipt=True, timeout=T(60))
            p.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=produce, args=(k,), daemon=True)
               for k in range(producers)]
    for th in threads:
        th.start()
    time.sleep(1.0)  # the subscriber reads nothing for a while: producers must wait
    last = {}
    got = 0
    ends = 0
    while ends < producers:
        m = sub.recv(T(30))
        assert m.command == "MESSAGE", m
        if m["i"] == "end":
            ends += 1
            continue
        pid, i = int(m["p"]), int(m["i"])
        assert i == last.get(pid, -1) + 1, "producer %d: %d after %d" % (pid, i, last.get(pid))
        last[pid] = i
        got += 1
    for th in threads:
        th.join(T(30))
    assert not errors, errors
    assert got == producers * per_producer
