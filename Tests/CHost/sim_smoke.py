#!/usr/bin/env python3
"""Smoke test of the simulated dongle (espnow-sim) over its pty.

Starts two dongles in a private air directory and checks, through the bridge
protocol (docs/PROTOCOL.md): the JSON line, HELLO, ESP-NOW unicast between the
two (SEND_STATUS success on one side, RECV on the other), a unicast to nobody
(SEND_STATUS failure), RESET (HELLO event, reset reason ESP_RST_SW, boot_count+1)
and clean exit on SIGTERM (symlink and air socket removed).

usage: sim_smoke.py PATH/TO/espnow-sim       (last line: "N passed, M failed")
"""
import json, os, select, signal, struct, subprocess, sys, tempfile, termios, time, zlib

PASS = FAIL = 0


def check(cond, what):
    global PASS, FAIL
    if cond:
        PASS += 1
    else:
        FAIL += 1
        print("FAIL:", what)


def cobs_encode(data):
    out, block = bytearray(), bytearray()
    for b in data:
        if b == 0:
            out.append(len(block) + 1); out += block; block = bytearray()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255); out += block; block = bytearray()
    if block or not out or data[-1:] == b"\x00":
        out.append(len(block) + 1); out += block
    return bytes(out)


def cobs_decode(enc):
    out, i = bytearray(), 0
    while i < len(enc):
        code = enc[i]; i += 1
        out += enc[i:i + code - 1]; i += code - 1
        if code < 255 and i < len(enc):
            out.append(0)
    return bytes(out)


class Dongle:
    def __init__(self, exe, air, sta, link, extra=()):
        self.link = link
        self.proc = subprocess.Popen([exe, "--air-dir", air, "--sta-mac", sta, "--link", link, *extra],
                                     stdout=subprocess.PIPE)
        self.info = json.loads(self.proc.stdout.readline())
        self.fd = os.open(link, os.O_RDWR | os.O_NOCTTY)
        attrs = termios.tcgetattr(self.fd)
        attrs[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
        attrs[0] = 0; attrs[1] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self.buf = b""
        self.frames = []
        self.next_id = 1
        # The boot HELLO event was queued in the pty before we opened it.
        self.boot_hello = self.wait(lambda f: f[0] == "event" and f[1] == 0x80, 2.0)
        os.write(self.fd, b"\x00")

    def pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        if r:
            self.buf += os.read(self.fd, 65536)
            while b"\x00" in self.buf:
                enc, self.buf = self.buf.split(b"\x00", 1)
                if not enc:
                    continue
                d = cobs_decode(enc)
                if len(d) < 6 or zlib.crc32(d[:-4]) != struct.unpack("<I", d[-4:])[0]:
                    self.frames.append(("bad", None, None, d)); continue
                kind = d[0] & 15
                if kind == 3:
                    self.frames.append(("event", d[1], None, d[2:-4]))
                else:
                    self.frames.append(("resp", d[3], struct.unpack("<H", d[1:3])[0], d[4:-4]))

    def wait(self, pred, timeout=2.0):
        end = time.time() + timeout
        while True:
            for i, f in enumerate(self.frames):
                if pred(f):
                    return self.frames.pop(i)
            if time.time() >= end:
                return None
            self.pump(max(0.0, end - time.time()))

    def request(self, code, body=b""):
        rid = self.next_id; self.next_id += 1
        d = bytes([0x11]) + struct.pack("<H", rid) + bytes([code]) + body
        d += struct.pack("<I", zlib.crc32(d))
        os.write(self.fd, cobs_encode(d) + b"\x00")
        f = self.wait(lambda f: f[0] == "resp" and f[2] == rid)
        if f is None:
            return None, None, rid
        return struct.unpack("<i", f[3][:4])[0], f[3][4:], rid

    def stop(self):
        os.close(self.fd)
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=3)


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def peer_info(m, channel=0, ifidx=0, encrypt=0, lmk=b"\x00" * 16):
    return m + lmk + bytes([channel, ifidx, encrypt])


def main():
    exe = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="sim-smoke-")
    air = os.path.join(tmp, "air")
    a_mac, b_mac = "24:6f:28:aa:00:01", "24:6f:28:bb:00:01"
    a = Dongle(exe, air, a_mac, os.path.join(tmp, "a"))
    b = Dongle(exe, air, b_mac, os.path.join(tmp, "b"), ("--boot-count", "41"))
    check(a.info["sta_mac"] == a_mac and a.info["ap_mac"] == "24:6f:28:aa:00:02", "JSON MACs")
    check(a.info["port"].startswith("/dev/pts/") and a.info["pid"] == a.proc.pid, "JSON port/pid")
    check(a.boot_hello is not None and a.boot_hello[3][30] == 1, "boot HELLO event (reset reason POWERON)")

    err, body, _ = a.request(0x01)
    check(err == 0 and body is not None and body[0] == 1, "HELLO response")
    if body:
        check(struct.unpack("<H", body[4:6])[0] == 0x8000 and body[42] == 3, "HELLO chip model / transport")
        check(body[14:20] == mac(a_mac) and body[30] == 1, "HELLO sta_mac, reset reason POWERON")
    err, body, _ = b.request(0x01)
    check(err == 0 and body and struct.unpack("<I", body[31:35])[0] == 41, "--boot-count")

    for d in (a, b):
        check(d.request(0x30, bytes([1]))[0] == 0, "WIFI_SET_MODE STA")
        check(d.request(0x32)[0] == 0, "WIFI_START")
        check(d.request(0x34, bytes([6, 0]))[0] == 0, "WIFI_SET_CHANNEL 6")
        check(d.request(0x10)[0] == 0, "ESPNOW_INIT")
    check(a.request(0x14, peer_info(mac(b_mac)))[0] == 0, "ADD_PEER b")
    check(a.request(0x14, peer_info(mac(b_mac)))[0] == 0x306B, "ADD_PEER twice -> ESP_ERR_ESPNOW_EXIST")
    check(a.request(0x13, mac(b_mac) + b"\x00")[0] == 0x3066, "SEND empty -> ESP_ERR_ESPNOW_ARG")
    check(a.request(0x34, bytes([13, 0]))[0] == 0x102, "WIFI_SET_CHANNEL 13 (country 01) -> INVALID_ARG")

    err, body, rid = a.request(0x13, mac(b_mac) + b"\x00" + b"hello over the air")
    check(err == 0 and body == b"\x01\x00", "ESPNOW_SEND (async) -> 1 status")
    st = a.wait(lambda f: f[0] == "event" and f[1] == 0x82)
    check(st is not None and st[3] == struct.pack("<H", rid) + mac(b_mac) + b"\x00", "SEND_STATUS success")
    rx = b.wait(lambda f: f[0] == "event" and f[1] == 0x81)
    check(rx is not None and rx[3][:6] == mac(a_mac) and rx[3][6] >> 6 == 0 and rx[3][8] == 6
          and rx[3][13:] == b"hello over the air", "RECV on b")

    nobody = mac("24:6f:28:cc:00:01")
    check(a.request(0x14, peer_info(nobody))[0] == 0, "ADD_PEER nobody")
    err, body, rid = a.request(0x13, nobody + b"\x00" + b"x")
    st = a.wait(lambda f: f[0] == "event" and f[1] == 0x82)
    check(err == 0 and st is not None and st[3][-1] == 1, "SEND_STATUS failure (no ACK)")
    err, body, rid = a.request(0x13, nobody + b"\x01" + b"sync")
    check(err == 0 and body == b"\x01\x01", "sync ESPNOW_SEND to nobody -> 1 status, 1 failure")

    err, _, _ = a.request(0x03)
    check(err == 0, "RESET response")
    hello = a.wait(lambda f: f[0] == "event" and f[1] == 0x80)
    check(hello is not None and hello[3][30] == 3 and struct.unpack("<I", hello[3][31:35])[0] == 2,
          "HELLO event after RESET: ESP_RST_SW, boot_count 2")
    err, body, _ = a.request(0x1A)
    check(err == 0x3065, "state lost after RESET (ESPNOW_GET_PEER_NUM -> NOT_INIT)")

    check(a.stop() == 0 and b.stop() == 0, "exit status 0 on SIGTERM")
    check(not os.path.lexists(a.link) and not os.listdir(air), "link and air socket removed")
    os.rmdir(air); os.rmdir(tmp)
    print(f"{PASS} passed, {FAIL} failed")
    return 1 if FAIL else 0


if __name__ == "__main__":
    sys.exit(main())
