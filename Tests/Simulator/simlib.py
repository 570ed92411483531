"""Python client of `espnow-sim --dongles N` for the scenario tests and the
fidelity benchmark: starts the coordinator, reads its JSON lines, talks the
bridge protocol (docs/PROTOCOL.md) over each dongle's pty, and sends control
commands (docs/SIMULATOR.md). Standard library only."""
import json, os, select, signal, socket, struct, subprocess, tempfile, termios, time, zlib

EV_HELLO, EV_RECV, EV_SEND_STATUS, EV_LOG, EV_DROPPED, EV_WIFI = 0x80, 0x81, 0x82, 0x83, 0x84, 0x85
HELLO, PING, RESET, STATS, SET_BAUD, SET_RXBUF = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
ESPNOW_INIT, ESPNOW_SEND, ADD_PEER, GET_PEER_NUM, SET_PEER_RATE = 0x10, 0x13, 0x14, 0x1A, 0x1D
SET_MODE, START, SET_CHANNEL, GET_CHANNEL, GET_MAC, SET_IF_ACTIVE = 0x30, 0x32, 0x34, 0x35, 0x36, 0x3E
STA_CONNECT, STA_STATUS, CONFIG_ESPNOW_RATE = 0x40, 0x42, 0x44
BCAST = b"\xff" * 6


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
        if code == 0 or i + code - 1 > len(enc):
            return None
        out += enc[i:i + code - 1]; i += code - 1
        if code < 255 and i < len(enc):
            out.append(0)
    return bytes(out)


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def peer_info(m, channel=0, ifidx=0, encrypt=0, lmk=b"\x00" * 16):
    return m + lmk + bytes([channel, ifidx, encrypt])


class Dongle:
    """One dongle's serial port, raw termios, as a host program would open it."""

    def __init__(self, info):
        self.info = info
        self.index = info["index"]
        self.sta = mac(info["sta_mac"])
        self.ap = mac(info["ap_mac"])
        self.port = info["port"]
        self.fd = None
        self.buf = b""
        self.frames = []
        self.bad = 0           # frames that failed COBS/CRC on the host side
        self.next_id = 1
        self.open()

    def open(self):
        self.fd = os.open(self.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        attrs = termios.tcgetattr(self.fd)
        attrs[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
        attrs[0] = 0; attrs[1] = 0
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        os.write(self.fd, b"\x00")

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def pump(self, timeout):
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return
        try:
            self.buf += os.read(self.fd, 65536)
        except BlockingIOError:
            return
        while b"\x00" in self.buf:
            enc, self.buf = self.buf.split(b"\x00", 1)
            if not enc:
                continue
            d = cobs_decode(enc)
            if d is None or len(d) < 6 or zlib.crc32(d[:-4]) != struct.unpack("<I", d[-4:])[0]:
                self.bad += 1
                continue
            kind = d[0] & 15
            if kind == 3:
                self.frames.append(("event", d[1], None, d[2:-4]))
            elif kind == 2:
                self.frames.append(("resp", d[3], struct.unpack("<H", d[1:3])[0], d[4:-4]))

    def wait(self, pred, timeout=3.0):
        end = time.monotonic() + timeout
        while True:
            for i, f in enumerate(self.frames):
                if pred(f):
                    return self.frames.pop(i)
            left = end - time.monotonic()
            if left <= 0:
                return None
            self.pump(left)

    def event(self, code, timeout=3.0):
        return self.wait(lambda f: f[0] == "event" and f[1] == code, timeout)

    def drain(self, t=0.05):
        end = time.monotonic() + t
        while time.monotonic() < end:
            self.pump(end - time.monotonic())

    def send_req(self, code, body=b""):
        rid = self.next_id; self.next_id = (self.next_id + 1) & 0xFFFF
        d = bytes([0x21]) + struct.pack("<H", rid) + bytes([code]) + body
        d += struct.pack("<I", zlib.crc32(d))
        os.write(self.fd, cobs_encode(d) + b"\x00")
        return rid

    def request(self, code, body=b"", timeout=3.0):
        rid = self.send_req(code, body)
        f = self.wait(lambda f: f[0] == "resp" and f[2] == rid, timeout)
        if f is None:
            return None, None, rid
        return struct.unpack("<i", f[3][:4])[0], f[3][4:], rid

    def must(self, code, body=b"", want=0):
        err, out, _ = self.request(code, body)
        if err != want:
            raise AssertionError(f"dongle {self.index}: request 0x{code:02x} -> {err!r}, want {want:#x}")
        return out

    def up(self, channel=None, espnow=True):
        self.must(SET_IF_ACTIVE, bytes([0, 1]))
        if channel:
            self.must(SET_CHANNEL, bytes([channel, 0]))
        if espnow:
            self.must(ESPNOW_INIT)

    def stats(self, clear=0):
        return struct.unpack("<22I", self.must(STATS, bytes([clear])))

    def send(self, dst, data, sync=True):
        """ESPNOW_SEND; returns (err, statuses, failures, req_id)."""
        err, out, rid = self.request(ESPNOW_SEND, dst + bytes([1 if sync else 0]) + data, timeout=10)
        if err == 0 and out is not None:
            return err, out[0], out[1], rid
        return err, None, None, rid

    def recvs(self, timeout=0.3):
        """Every RECV event that arrives within timeout (after the last one)."""
        got = []
        while True:
            f = self.event(EV_RECV, timeout)
            if f is None:
                return got
            got.append(f[3])


    def recvs_for(self, duration):
        """Every RECV event within a fixed time (for radios that never go quiet)."""
        end = time.monotonic() + duration
        got = []
        while True:
            f = self.event(EV_RECV, max(0.0, end - time.monotonic()))
            if f is None:
                return got
            got.append(f[3])


    def recvs_until(self, count, guard=30.0):
        """RECV events until `count` have arrived (guard: a hang limit only, never a timing)."""
        end = time.monotonic() + guard
        got = []
        while len(got) < count:
            f = self.event(EV_RECV, max(0.0, end - time.monotonic()))
            if f is None:
                return got
            got.append(f[3])
        return got


def recv_fields(body):
    src = body[:6]; dst_rate = body[6]; rssi = struct.unpack("<b", body[7:8])[0]; ch = body[8]
    off = 19 if dst_rate >> 6 == 3 else 13
    return {"src": src, "dst": dst_rate >> 6, "rate": dst_rate & 63, "rssi": rssi, "channel": ch, "data": body[off:]}


class Sim:
    """A running coordinator. Use as a context manager."""

    def __init__(self, exe, *args, dongles=2, nodes=0, scene=None):
        self.tmp = tempfile.mkdtemp(prefix="espnow-simtest-")
        self.link_dir = os.path.join(self.tmp, "links")
        self.control_path = os.path.join(self.tmp, "ctl")
        cmd = [exe, "--link-dir", self.link_dir, "--control", self.control_path]
        if scene is not None:
            path = os.path.join(self.tmp, "scene.json")
            with open(path, "w") as f:
                f.write(scene if isinstance(scene, str) else json.dumps(scene))
            cmd += ["--scene", path]
        else:
            cmd += ["--dongles", str(dongles)]
        cmd += list(args)
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        self.lines = []
        self.out = b""
        self.radios = {}
        total = dongles + nodes
        while len(self.radios) < total:
            line = self.read_line(10)
            if line is None:
                self.proc.kill()
                raise RuntimeError("espnow-sim did not start: " + self.stderr())
            self.radios[line["index"]] = line
        self.dongles = [Dongle(self.radios[i]) for i in sorted(self.radios) if "port" in self.radios[i]]
        for d in self.dongles:
            if d.event(EV_HELLO, 3) is None:
                raise RuntimeError(f"dongle {d.index}: no boot HELLO")
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.connect(self.control_path)
        self.ctl_buf = b""

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def read_line(self, timeout):
        end = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.out:
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 4096)
                if not chunk:
                    return None
                self.out += chunk
        line, self.out = self.out.split(b"\n", 1)
        obj = json.loads(line)
        self.lines.append(obj)
        return obj

    def control(self, line):
        self.ctl.sendall(line.encode() + b"\n")
        while b"\n" not in self.ctl_buf:
            chunk = self.ctl.recv(65536)
            if not chunk:
                raise RuntimeError("control socket closed")
            self.ctl_buf += chunk
        reply, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
        return reply.decode()

    def stats(self):
        r = self.control("stats")
        assert r.startswith("OK "), r
        return json.loads(r[3:])

    def stop(self):
        """SIGTERM; returns (exit status, leftovers) where leftovers lists anything left behind."""
        self.ctl.close()
        for d in self.dongles:
            d.close()
        pids = [d.info["pid"] for d in self.dongles]
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=5)
        left = []
        for p in pids:
            try:
                os.kill(p, 0)
                left.append(f"process {p}")
            except ProcessLookupError:
                pass
        if os.path.exists(self.control_path):
            left.append(self.control_path)
        if os.path.isdir(self.link_dir) and os.listdir(self.link_dir):
            left.append(f"links {os.listdir(self.link_dir)}")
        return rc, left

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.stop()
        for root, dirs, files in os.walk(self.tmp, topdown=False):
            for f in files:
                os.unlink(os.path.join(root, f))
            for d in dirs:
                os.rmdir(os.path.join(root, d))
        os.rmdir(self.tmp)
