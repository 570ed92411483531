#!/usr/bin/env python3
"""Scenario tests of the simulated air (espnow-sim --dongles N): one test per
medium rule, fault and control command, driven through the dongles' ptys with
the bridge protocol, exactly as a host would. Instant mode unless stated.

usage: test_scenarios.py PATH/TO/espnow-sim [TEST ...]   (last line: "N passed, M failed")"""
import os, struct, sys, time, traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from simlib import *  # noqa: E402,F403

EXE = None
PASS = FAIL = 0


def check(cond, what):
    global PASS, FAIL
    if cond:
        PASS += 1
    else:
        FAIL += 1
        print("  FAIL:", what)


def statuses(d, rid, n, timeout=3):
    out = []
    for _ in range(n):
        f = d.wait(lambda f: f[0] == "event" and f[1] == EV_SEND_STATUS and struct.unpack("<H", f[3][:2])[0] == rid, timeout)
        out.append(None if f is None else f[3][8])
    return out


def t_unicast_ack_and_order():
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        a.up(); b.up()
        a.must(ADD_PEER, peer_info(b.sta))
        err, n, fails, _ = a.send(b.sta, b"hello")
        check((err, n, fails) == (0, 1, 0), f"unicast to a listening dongle: 1 status, 0 failures (got {err}, {n}, {fails})")
        r = recv_fields(b.recvs()[0])
        check(r["src"] == a.sta and r["dst"] == 0 and r["data"] == b"hello" and r["rssi"] == -40 and r["channel"] == 1,
              f"RECV fields (src, dst STA, data, rssi -40, channel 1): {r}")
        rids = [a.send(b.sta, b"m%02d" % i, sync=False)[3] for i in range(20)]
        st = [statuses(a, rid, 1)[0] for rid in rids]
        check(st == [0] * 20, f"20 async unicasts: 20 successes {st}")
        got = [recv_fields(x)["data"] for x in b.recvs()]
        check(got == [b"m%02d" % i for i in range(20)], f"received in send order: {got}")
        radio = s.stats()["radios"]
        check(radio[0]["tx"] == 21 and radio[0]["tx_ok"] == 21 and radio[0]["attempts"] == 21, f"medium counts: {radio[0]}")
        rc, left = s.stop()
        check(rc == 0 and not left, f"clean exit on SIGTERM, nothing left behind ({rc}, {left})")


def t_channel_mismatch_fails():
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        a.up(channel=1); b.up(channel=6)
        a.must(ADD_PEER, peer_info(b.sta))
        err, n, fails, _ = a.send(b.sta, b"x")
        check((err, n, fails) == (0, 1, 1), f"unicast to a dongle on another channel fails ({err}, {n}, {fails})")
        check(b.recvs(0.2) == [], "nothing received on channel 6")
        st = s.stats()["radios"][0]
        check(st["attempts"] == 4 and st["tx_fail"] == 1, f"1 + 3 retries on air, then failure: {st}")
        b.must(SET_CHANNEL, bytes([1, 0]))
        err, n, fails, _ = a.send(b.sta, b"y")
        check(fails == 0 and [recv_fields(x)["data"] for x in b.recvs()] == [b"y"], "same channel again: delivered")


def t_inactive_interface_fails():
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        a.up(); b.up()
        a.must(ADD_PEER, peer_info(b.ap))            # B's soft-AP MAC, AP interface not active
        err, n, fails, _ = a.send(b.ap, b"to-ap")
        check((n, fails) == (1, 1), f"unicast to an inactive interface's MAC fails ({n}, {fails})")
        b.must(SET_IF_ACTIVE, bytes([1, 1]))
        b.must(SET_CHANNEL, bytes([1, 0]))
        err, n, fails, _ = a.send(b.ap, b"to-ap")
        r = b.recvs()
        check(fails == 0 and len(r) == 1 and recv_fields(r[0])["dst"] == 1, f"AP active: acked, RECV dst=AP ({fails}, {r})")
        b.must(SET_IF_ACTIVE, bytes([0, 0]))         # STA off: AP only
        a.must(ADD_PEER, peer_info(b.sta))
        err, n, fails, _ = a.send(b.sta, b"to-sta")
        check(fails == 1, "STA interface off: unicast to the STA MAC fails")


def t_encryption_lmk():
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        a.up(); b.up()
        a.must(ADD_PEER, peer_info(b.sta, encrypt=1, lmk=b"K" * 16))
        b.must(ADD_PEER, peer_info(a.sta, encrypt=1, lmk=b"W" * 16))
        err, n, fails, _ = a.send(b.sta, b"secret")
        check((n, fails) == (1, 0), "encrypted with the wrong LMK: acknowledged (success)")
        check(b.recvs(0.2) == [], "... but not delivered")
        check(b.stats()[3] == 0, "receiver's rx_packets stays 0")
        b.must(0x16, peer_info(a.sta, encrypt=1, lmk=b"K" * 16))   # ESPNOW_MOD_PEER: same LMK
        err, n, fails, _ = a.send(b.sta, b"secret2")
        check(fails == 0 and [recv_fields(x)["data"] for x in b.recvs()] == [b"secret2"], "matching LMK: delivered")


def t_broadcast_reaches_channel():
    with Sim(EXE, dongles=4) as s:
        a, b, c, d = s.dongles
        a.up(); b.up(); c.up(); d.up(channel=6)
        a.must(ADD_PEER, peer_info(BCAST))
        err, n, fails, _ = a.send(BCAST, b"all")
        check((n, fails) == (1, 0), "broadcast: success")
        for x in (b, c):
            r = x.recvs()
            check(len(r) == 1 and recv_fields(r[0])["dst"] == 2 and recv_fields(r[0])["data"] == b"all",
                  f"dongle {x.index} on channel 1 got the broadcast once")
        check(d.recvs(0.2) == [], "dongle on channel 6 did not")
        d.must(SET_CHANNEL, bytes([1, 0]))
        e = s.dongles[3]
        e.must(0x30, bytes([0]))                      # WIFI_SET_MODE NULL: radio has no interface
        err, n, fails, _ = a.send(BCAST, b"again")
        check(fails == 0, "broadcast with nobody listening is still a success")


def t_rxbuf_overflow():
    # The receiver's host link is slower than the air (9600 baud): its queues
    # fill, the receive buffer overflows, and the sender still sees success.
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        a.up(); b.up()
        b.must(SET_RXBUF, struct.pack("<I", 600))
        check(s.control("baud 1 9600") == "OK", "control: baud 1 9600")
        a.must(ADD_PEER, peer_info(b.sta))
        n = 100
        rids = [a.send(b.sta, bytes([i]) * 250, sync=False)[3] for i in range(n)]
        st = [statuses(a, rid, 1, 10)[0] for rid in rids]
        check(st == [0] * n, f"sender: {n} successes ({st.count(0)})")
        check(s.control("baud 1 0") == "OK", "pacing off to drain")
        # Read until every packet the receiver did not count as dropped has arrived; the
        # counts are read again while waiting (a RECV event can still be dropped while the
        # receive buffer empties into the link). 30 s is a hang guard, not a timing.
        got = []
        guard = time.monotonic() + 30
        while True:
            stats = b.stats()
            want = n - stats[4] - stats[15]
            got += b.recvs_until(want - len(got), guard=max(0.0, min(1.0, guard - time.monotonic())))
            if len(got) >= want or time.monotonic() >= guard:
                break
        got += b.recvs(0.3)  # anything more would be a packet counted twice
        dropped = b.event(EV_DROPPED, 2)
        stats = b.stats()
        # A packet is either delivered, dropped by rxbuf (rx_dropped), or its RECV
        # event dropped because the link queue was full (events_dropped): all counted.
        check(stats[3] == n and stats[4] > 0 and len(got) == n - stats[4] - stats[15],
              f"receiver: rx_packets {stats[3]} = {n}, rx_dropped {stats[4]} > 0, "
              f"delivered {len(got)} = {n} - {stats[4]} - events_dropped {stats[15]}")
        check(dropped is not None and dropped[3][0] == 1, "DROPPED event (what=1, received packets)")
        check(all(len(recv_fields(x)["data"]) == 250 for x in got), "what was delivered is intact")


def t_reboot_new_hello_loses_peers():
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        a.up(); b.up()
        a.must(ADD_PEER, peer_info(b.sta))
        old_pid = s.radios[0]["pid"]
        check(s.control("reboot 0") == "OK", "control: reboot 0")
        hello = a.event(EV_HELLO, 3)
        check(hello is not None and hello[3][30] == 2 and struct.unpack("<I", hello[3][31:35])[0] == 2,
              "HELLO event after reboot: reset reason EXT (2), boot_count 2")
        line = s.read_line(3)
        check(line and line.get("event") == "reboot" and line["index"] == 0 and line["pid"] != old_pid
              and line["boot_count"] == 2 and line["port"] == s.radios[0]["port"], f"JSON line for the reboot: {line}")
        a.must(GET_PEER_NUM, want=0x3065)             # ESP-NOW not initialised any more
        a.up()
        a.must(GET_PEER_NUM) == b"\x00\x00"
        err, n, fails, _ = a.send(b.sta, b"x")
        check(err == 0x3069, f"peer list lost: send -> ESP_ERR_ESPNOW_NOT_FOUND ({err:#x})")
        check(s.control("reboot 0 panic") == "OK", "reboot with a reason")
        hello = a.event(EV_HELLO, 3)
        check(hello is not None and hello[3][30] == 4, "reset reason PANIC (4)")
        check(s.control("reboot 9").startswith("ERR"), "reboot of a dongle that does not exist: ERR")
        check(s.control("reboot 0 sideways").startswith("ERR"), "unknown reason: ERR")
        os.kill(s.stats()["radios"][1]["pid"], 9)    # a crash: the coordinator restarts it
        hello = b.event(EV_HELLO, 3)
        check(hello is not None and hello[3][30] == 4 and struct.unpack("<I", hello[3][31:35])[0] == 2,
              "killed dongle restarts: HELLO with PANIC, boot_count 2")


def t_ap_connect_moves_channel():
    with Sim(EXE, "--ap", "home:password123:6", dongles=2) as s:
        a, b = s.dongles
        a.up(); b.up()
        b.must(SET_IF_ACTIVE, bytes([1, 1]))          # APSTA: the soft-AP follows
        def connect(d, ssid, pw):
            d.must(STA_CONNECT, bytes([len(ssid)]) + ssid + bytes([len(pw)]) + pw + b"\x00" * 6)
            return d.event(EV_WIFI, 3)
        ev = connect(a, b"home", b"wrongpass1")
        check(ev is not None and ev[3][0] == 2 and struct.unpack("<H", ev[3][2:4])[0] == 202, f"wrong password: disconnected, reason 202 ({ev})")
        check(struct.unpack("<H", a.must(STA_STATUS)[:2])[0] == 202, "STA_STATUS 202 (WRONG_PASSWORD)")
        ev = connect(a, b"nope", b"password123")
        check(ev is not None and ev[3][0] == 2 and struct.unpack("<H", ev[3][2:4])[0] == 201, "unknown SSID: reason 201")
        evs = []
        connect_ev = connect(b, b"home", b"password123")
        while connect_ev is not None:
            evs.append((connect_ev[3][0], connect_ev[3][1]))
            connect_ev = b.event(EV_WIFI, 0.3)
        check((1, 6) in evs, f"connected event on channel 6: {evs}")
        check(b.must(GET_CHANNEL) == bytes([6, 0]), "home channel is now 6")
        st = b.must(STA_STATUS)
        check(struct.unpack("<H", st[:2])[0] == 1010 and st[2] == 6, "STA_STATUS 1010 (connected), channel 6")
        err, _, _ = b.request(SET_CHANNEL, bytes([1, 0]))
        check(err == -1, f"SET_CHANNEL while connected: ESP_FAIL as in ESP-IDF ({err})")
        check(b.must(GET_CHANNEL) == bytes([6, 0]), "home channel still the AP's")
        a.must(ADD_PEER, peer_info(b.sta))
        check(a.send(b.sta, b"x")[2] == 1, "dongle left on channel 1 cannot reach it")
        a.must(SET_CHANNEL, bytes([6, 0]))
        check(a.send(b.sta, b"x")[2] == 0, "on channel 6 it can")
        a.must(0x15, b.sta)
        a.must(ADD_PEER, peer_info(b.ap, ifidx=0))
        check(a.send(b.ap, b"ap")[2] == 0, "the soft-AP followed the STA to channel 6")


def t_leakage():
    with Sim(EXE, dongles=3) as s:
        a, b, c = s.dongles
        a.up(channel=1); b.up(channel=2); c.up(channel=3)
        a.must(ADD_PEER, peer_info(BCAST))
        a.send(BCAST, b"leak?")
        check(b.recvs(0.2) == [], "leakage off: channel 2 hears nothing")
        check(s.control("leakage on") == "OK", "control: leakage on")
        a.send(BCAST, b"leak!")
        r = b.recvs()
        check(len(r) == 1 and recv_fields(r[0])["rssi"] == -60 and recv_fields(r[0])["channel"] == 2,
              f"leakage on: heard on channel 2 at -60 dBm: {[recv_fields(x) for x in r]}")
        check(c.recvs(0.2) == [], "channel 3 (two away) hears nothing")
        a.must(ADD_PEER, peer_info(b.sta))
        err, n, fails, _ = a.send(b.sta, b"uni")
        check(fails == 1, "a leaked unicast is not acknowledged (ACK only on the same channel)")
        check(len(b.recvs()) == 1, "... but heard once (retries deduplicated)")


def t_rssi_loss_control():
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        a.up(); b.up()
        a.must(ADD_PEER, peer_info(b.sta))
        check(s.control("rssi 0 1 -77") == "OK", "control: rssi")
        a.send(b.sta, b"x")
        check(recv_fields(b.recvs()[0])["rssi"] == -77, "RECV rssi follows the link setting")
        check(s.control("loss 0 1 1") == "OK", "control: loss 1")
        check(a.send(b.sta, b"x")[2] == 1 and b.recvs(0.2) == [], "link loss 1: unicast fails, nothing heard")
        check(s.control("loss 0 1 0") == "OK" and a.send(b.sta, b"x")[2] == 0, "loss 0: works again")
        check(s.control("loss-burst 60000") == "OK", "control: loss-burst")
        check(a.send(b.sta, b"x")[2] == 1, "during a loss burst unicasts fail")
        check(s.control("loss-burst 0") == "OK" and a.send(b.sta, b"x")[2] == 0, "burst over")
        for bad in ("rssi 0 0 -50", "rssi 0 1 5", "loss 0 1 1.5", "loss-burst -1", "frob", "ber 0 up 0.1", "baud 0 300"):
            r = s.control(bad)
            check(r.startswith("ERR "), f"'{bad}' -> {r}")
        check(s.control("help").startswith("OK "), "help")


def t_serial_ber_caught_by_crc():
    with Sim(EXE, dongles=1) as s:
        (a,) = s.dongles
        check(s.control("ber 0 both 0.001") == "OK", "control: ber both")
        answered = intact = 0
        for i in range(60):
            data = bytes([i]) * 40
            err, out, _ = a.request(PING, data, timeout=0.3)
            if err is not None:
                answered += 1
                intact += out[8:] == data
        check(s.control("ber 0 both 0") == "OK", "ber off")
        a.drain(0.2)
        a.frames.clear()
        stats = a.stats()
        sim = s.stats()["radios"][0]
        flipped = sim["h2d"]["flipped_bits"] + sim["d2h"]["flipped_bits"]
        check(flipped > 0 and answered < 60, f"bits flipped ({flipped}), some pings lost ({60 - answered})")
        check(intact == answered, f"every answered ping is intact ({intact}/{answered})")
        dev_drops = stats[6] + stats[7] + stats[8] + stats[9] + stats[10] + stats[11]
        check(dev_drops + a.bad > 0, f"corrupted frames counted: device {dev_drops}, host {a.bad}")
        check(s.control("drop 0 h2d 0.05") == "OK", "control: drop")
        lost = sum(a.request(PING, b"z" * 40, timeout=0.3)[0] is None for _ in range(30))
        check(s.stats()["radios"][0]["h2d"]["dropped"] > 0 and lost > 0, "dropped bytes counted, pings lost")


def t_unplug_replug():
    with Sim(EXE, dongles=2) as s:
        a, b = s.dongles
        link = os.path.join(s.link_dir, "dongle0")
        check(os.path.islink(link) and os.readlink(link) == a.port, "symlink to the pty")
        check(s.control("unplug 0") == "OK", "control: unplug 0")
        line = s.read_line(3)
        check(line == {"event": "unplug", "index": 0}, f"unplug line: {line}")
        check(not os.path.lexists(link), "symlink gone")
        import select as _select
        p = _select.poll()
        p.register(a.fd, _select.POLLIN)
        ev = p.poll(1000)
        try:
            r = os.read(a.fd, 1)
        except OSError as e:
            r = e.errno
        check(ev and ev[0][1] & _select.POLLHUP and r in (b"", 5), f"port hangs up after unplug (poll {ev}, read {r!r})")
        b.up()
        b.must(ADD_PEER, peer_info(a.sta))
        check(b.send(a.sta, b"x")[2] == 1, "an unplugged dongle is off the air")
        check(s.control("unplug 0").startswith("ERR"), "unplug twice: ERR")
        check(s.control("replug 0") == "OK", "control: replug 0")
        line = s.read_line(3)
        check(line and line.get("event") == "replug" and line["boot_count"] == 2, f"replug line: {line}")
        check(os.path.islink(link) and os.readlink(link) == line["port"], "symlink back, to the new pty")
        a.close()
        a.port = line["port"]
        a.buf = b""; a.frames = []
        a.open()
        hello = a.event(EV_HELLO, 3)
        check(hello is not None and hello[3][30] == 1, "HELLO on the new port, reset reason POWERON")


def t_set_baud_pacing():
    with Sim(EXE, "--baud", "115200", dongles=1) as s:
        (a,) = s.dongles
        h = a.must(HELLO)
        check(h[42] == 2 and struct.unpack("<I", h[43:47])[0] == 115200 and struct.unpack("<I", h[26:30])[0] & 2,
              "paced link: HELLO transport UART, baud 115200, SET_BAUD capability")
        t0 = time.monotonic()
        for _ in range(10):
            a.must(PING, b"p" * 64)
        slow = time.monotonic() - t0
        a.must(SET_BAUD, struct.pack("<I", 2000000))
        a.must(PING, b"")
        check(s.stats()["radios"][0]["baud"] == 2000000, "pacing switched to 2000000 after SET_BAUD")
        t0 = time.monotonic()
        for _ in range(10):
            a.must(PING, b"p" * 64)
        fast = time.monotonic() - t0
        print(f"  10 pings of 64 bytes: {slow * 1000:.1f} ms at 115200, {fast * 1000:.1f} ms at 2000000")
        check(slow > 0.08, f"115200 baud pacing takes line time (>= 80 ms for ~1600 bytes each way): {slow:.3f}s")
    with Sim(EXE, dongles=1) as s:
        (a,) = s.dongles
        err, _, _ = a.request(SET_BAUD, struct.pack("<I", 921600))
        check(err == 0x106, "unpaced pty: SET_BAUD -> ESP_ERR_NOT_SUPPORTED")


def t_scripted_nodes():
    with Sim(EXE, "--node", "echo", "--node", "sensor,interval=50", dongles=1, nodes=2) as s:
        (a,) = s.dongles
        echo, sensor = s.radios[1], s.radios[2]
        check(echo.get("script") == "echo" and sensor.get("script") == "sensor", "JSON lines for the nodes")
        a.up()
        emac = mac(echo["sta_mac"])
        a.must(ADD_PEER, peer_info(emac))
        check(a.send(emac, b"ping!")[2] == 0, "unicast to the echo node: acked")
        smac = mac(sensor["sta_mac"])
        got = []
        while not (any(g["src"] == emac for g in got) and sum(g["src"] == smac for g in got) >= 3):
            batch = [recv_fields(x) for x in a.recvs_until(1, guard=30.0)]
            if not batch:
                break                          # hang guard: the checks below report what is missing
            got += batch
        echoes = [g for g in got if g["src"] == emac]
        readings = [g for g in got if g["src"] == smac]
        check([g["data"] for g in echoes] == [b"ping!"] and echoes[0]["dst"] == 0, f"echo sent it back: {echoes}")
        ok = len(readings) >= 2 and all(len(g["data"]) == 10 and g["data"][:2] == b"S\x01" and g["dst"] == 2 for g in readings)
        seqs = [struct.unpack("<I", g["data"][2:6])[0] for g in readings]
        check(ok and seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"sensor broadcasts 'S' v1 with consecutive seq: {seqs}")


def t_scene_file_and_errors():
    scene = {"dongles": [{"sta_mac": "24:6f:28:00:00:01", "channel": 3}, {"channel": 3}],
             "aps": [{"ssid": "lab", "password": "", "channel": 9}],
             "links": [{"a": 0, "b": 1, "rssi": -71}], "nodes": [{"script": "echo", "channel": 3}], "seed": 7}
    with Sim(EXE, scene=scene, dongles=2, nodes=1) as s:
        a, b = s.dongles
        check(s.radios[0]["sta_mac"] == "24:6f:28:00:00:01" and s.radios[0]["channel"] == 3, "scene MAC and channel")
        a.up(); b.up()
        check(a.must(GET_CHANNEL) == bytes([3, 0]), "radio starts on the scene's channel")
        a.must(ADD_PEER, peer_info(b.sta))
        a.send(b.sta, b"x")
        check(recv_fields(b.recvs()[0])["rssi"] == -71, "scene link RSSI")
    import subprocess, tempfile
    cases = [
        ('{"dongles": 2,\n  "leakage": "yes"}', ":2:3:", "boolean"),
        ('{"dongles": 2, "frob": 1}', ":1:16:", "unknown key"),
        ('{"dongles": [ {"channel": 15} ]}', ":1:16:", "1..14"),
        ('{"dongles": 2,, }', ":1:15:", "expected"),
        ('{"dongles": 2, "links": [{"a": 0, "b": 5}]}', "", "0..1"),
        ('{"dongles": 2, "aps": [{"ssid": "x", "password": "short", "channel": 1}]}', "", "8..64"),
        ('{"dongles": 2} trailing', ":1:16:", "after"),
    ]
    for text, where, what in cases:
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(text)
        p = subprocess.run([EXE, "--scene", f.name], capture_output=True, text=True, timeout=5)
        os.unlink(f.name)
        check(p.returncode == 2 and where in p.stderr and what in p.stderr, f"scene error for {text!r}: {p.stderr.strip()}")
    for args, what in ((["--dongles", "x"], "--dongles"), (["--dongles", "2", "--ap", "x"], "--ap"),
                       (["--dongles", "2", "--node", "flood,len=0"], "len"), (["--scene", "/nonexistent"], "nonexistent")):
        p = subprocess.run([EXE, *args], capture_output=True, text=True, timeout=5)
        check(p.returncode == 2 and what in p.stderr, f"{args}: {p.stderr.strip()}")
    p = subprocess.run([EXE, "--help"], capture_output=True, text=True, timeout=5)
    check(p.returncode == 0 and all(o in p.stdout for o in ("--dongles", "--scene", "--realtime", "--control", "--node", "--ap",
                                                            "--ber-h2d", "--baud", "--leakage", "--seed", "--link-dir")),
          "--help documents the options")


def t_realtime_same_semantics():
    with Sim(EXE, "--realtime", dongles=3) as s:
        a, b, c = s.dongles
        a.up(); b.up(); c.up(channel=6)
        a.must(ADD_PEER, peer_info(b.sta)); a.must(ADD_PEER, peer_info(c.sta))
        check(a.send(b.sta, b"rt")[2] == 0 and a.send(c.sta, b"rt")[2] == 1, "realtime: same ACK rules")
        rids = [a.send(b.sta, b"%d" % i, sync=False)[3] for i in range(10)]
        st = [statuses(a, r, 1)[0] for r in rids]
        got = [recv_fields(x)["data"] for x in b.recvs()]
        check(st == [0] * 10 and got == [b"rt"] + [b"%d" % i for i in range(10)], f"realtime: same ordering {got}")


def t_channel_switch_keeps_books():
    """Every frame the medium delivered to a dongle is one the dongle's ESP-NOW received,
    also the ones in flight while the host switched the channel to stop a flood."""
    with Sim(EXE, "--node", "flood,len=100", dongles=1, nodes=1) as s:
        (a,) = s.dongles
        # ESP-NOW first, then the interface: the radio never acknowledges a packet
        # nobody can receive (the order the host library restores state in).
        a.must(SET_RXBUF, struct.pack("<I", 16384))
        a.must(ESPNOW_INIT)
        a.must(SET_IF_ACTIVE, bytes([0, 1]))
        got = len(a.recvs_until(60))       # however slow the machine, the flood is flowing
        a.must(SET_CHANNEL, bytes([6, 0]))
        got += len(a.recvs(0.5))
        st = a.stats()
        rx_packets, rx_dropped = st[3], st[4]
        medium_rx = s.stats()["radios"][0]["rx"]
        check(rx_packets > 50, f"the flood reached the dongle ({rx_packets})")
        check(got + rx_dropped == rx_packets, f"host got {got} + dropped {rx_dropped} == received {rx_packets}")
        check(medium_rx == rx_packets, f"medium delivered {medium_rx} == dongle received {rx_packets}")


def t_set_baud_revert_every_rate():
    """SET_BAUD: HELLO says the rate in force; the 2 s revert works from every rate; a
    RESET brings the line and the boot HELLO back to the build's rate, together."""
    with Sim(EXE, "--baud", "115200", dongles=1) as s:
        (a,) = s.dongles
        for rate in (9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600, 1500000, 2000000, 3000000):
            a.must(SET_BAUD, struct.pack("<I", rate))
            hello = a.must(HELLO)             # a valid frame at the new rate: the switch holds
            check(struct.unpack("<I", hello[43:47])[0] == rate and s.stats()["radios"][0]["baud"] == rate,
                  f"switched to {rate}: HELLO and line agree")
    for rate in (921600, 2000000):
        with Sim(EXE, "--baud", "115200", dongles=1) as s:
            (a,) = s.dongles
            a.must(SET_BAUD, struct.pack("<I", rate))
            hello = a.must(HELLO)
            check(struct.unpack("<I", hello[43:47])[0] == rate, f"HELLO baud after switching to {rate}")
            check(s.stats()["radios"][0]["baud"] == rate, f"line at {rate}")
            a.must(SET_BAUD, struct.pack("<I", 460800))
            time.sleep(2.6)                      # say nothing: the dongle must revert on its own
            check(s.stats()["radios"][0]["baud"] == rate, f"reverted from 460800 to {rate} without a frame")
            check(struct.unpack("<I", a.must(HELLO)[43:47])[0] == rate, f"HELLO says {rate} after the revert")
            a.must(RESET)
            ev = a.event(EV_HELLO, 5)
            check(ev is not None and struct.unpack("<I", ev[3][43:47])[0] == 115200, "boot HELLO after RESET: 115200")
            check(s.stats()["radios"][0]["baud"] == 115200, "and the line is back at 115200")


def t_lost_at_reset_counted():
    """Every packet the dongle's radio acknowledged is accounted for across a crash:
    RECV events + DROPPED counts + the next boot HELLO's lost_at_reset."""
    with Sim(EXE, "--baud", "115200", "--node", "flood,len=200", dongles=1, nodes=1) as s:
        (a,) = s.dongles
        a.must(SET_RXBUF, struct.pack("<I", 4096))
        a.must(ESPNOW_INIT)
        a.must(SET_IF_ACTIVE, bytes([0, 1]))
        time.sleep(0.5)                          # a slow line: packets pile up in the dongle
        r = s.control("reboot 0 panic")
        check(r == "OK", f"reboot: {r}")
        books = s.stats()["radios"][0]
        # What the medium handed over, minus what no device can count and the simulator's
        # books do: frames unread in the radio's queue, and whole RECV events lost in the
        # serial link's buffers at the crash.
        medium_rx = books["rx"] - books["rx_unread"] - books["d2h_lost_recv"]
        got = dropped = 0
        hello = None
        end = time.monotonic() + 30              # a hang guard: the line drains in a few seconds
        while hello is None and time.monotonic() < end:
            f = a.wait(lambda f: f[0] == "event", 1.0)
            if f is None:
                continue
            if f[1] == EV_RECV:
                got += 1
            elif f[1] == EV_DROPPED and f[3][0] == 1:
                dropped += struct.unpack("<I", f[3][1:5])[0]
            elif f[1] == EV_HELLO and f[3][30] == 4:
                hello = f[3]
        lost = struct.unpack("<I", hello[-4:])[0] if hello else -1
        check(lost > 0, f"boot HELLO lost_at_reset > 0 after a panic with packets held ({lost})")
        # The one frame the crash cut in half on the line reaches the host as a bad frame.
        check(0 <= medium_rx - (got + dropped + lost) <= a.bad,
              f"RECV {got} + DROPPED {dropped} + lost_at_reset {lost} (+ {a.bad} bad frames) == {medium_rx}")
        # A power cycle (unplug, replug) carries nothing over.
        check(s.control("unplug 0") == "OK" and s.control("replug 0") == "OK", "unplug, replug")
        line = s.read_line(3)
        while line is not None and line.get("event") != "replug":
            line = s.read_line(3)
        a.close()
        a.port = line["port"]
        a.buf = b""; a.frames = []
        a.open()
        hello = a.must(HELLO)
        check(hello[30] == 1 and struct.unpack("<I", hello[-4:])[0] == 0,
              "after power-on: reset reason POWERON, lost_at_reset 0")


def t_no_leftovers_when_killed():
    """A test killed outright leaves no espnow-sim behind; the control socket is close-on-exec."""
    import signal as _signal, subprocess as _sp, json as _json
    with Sim(EXE, dongles=2) as s:
        ino = None
        with open("/proc/net/unix") as f:
            for line in f:
                if line.rstrip().endswith(s.control_path):
                    ino = line.split()[6]
        check(ino is not None, "control socket listed")
        for d in s.dongles:
            fds = os.listdir(f"/proc/{d.info['pid']}/fd")
            links = {os.readlink(f"/proc/{d.info['pid']}/fd/{x}") for x in fds if os.path.exists(f"/proc/{d.info['pid']}/fd/{x}")}
            check(f"socket:[{ino}]" not in links, f"dongle {d.index} did not inherit the control socket")
    # A parent that starts the coordinator and is then SIGKILLed.
    code = ("import subprocess,sys,json,time\n"
            "p=subprocess.Popen([sys.argv[1],'--dongles','2'],stdout=subprocess.PIPE)\n"
            "pids=[p.pid]\n"
            "while len(pids)<3:\n"
            "    pids.append(json.loads(p.stdout.readline())['pid'])\n"
            "print(json.dumps(pids),flush=True)\n"
            "time.sleep(60)\n")
    mid = _sp.Popen([sys.executable, "-c", code, EXE], stdout=_sp.PIPE)
    pids = _json.loads(mid.stdout.readline())
    mid.send_signal(_signal.SIGKILL)
    mid.wait()
    left = pids
    end = time.monotonic() + 10                  # a hang guard; they go at once
    while left and time.monotonic() < end:
        left = [p for p in left if os.path.exists(f"/proc/{p}") and "Z" not in open(f"/proc/{p}/stat").read().split()[2]]
        time.sleep(0.05)
    check(left == [], f"coordinator and dongles gone after their parent was killed: {left}")


TESTS = [v for k, v in sorted(globals().items()) if k.startswith("t_")]

if __name__ == "__main__":
    EXE = sys.argv[1]
    only = sys.argv[2:]
    for t in TESTS:
        if only and t.__name__ not in only and t.__name__[2:] not in only:
            continue
        print(t.__name__[2:])
        try:
            t()
        except Exception:
            FAIL += 1
            traceback.print_exc()
    print(f"{PASS} passed, {FAIL} failed")
    sys.exit(1 if FAIL else 0)
