#!/usr/bin/env python3
"""Generate Tests/Fixtures/protocol-vectors.json from an independent reference
implementation of docs/PROTOCOL.md (espnow-bridge wire protocol, version 2).

Standard library only (Python 3.11).

    python3 tools/protocol/gen_vectors.py          # (re)write the vectors file
    python3 tools/protocol/gen_vectors.py --check  # exit 1 if the file is stale

Every vector is self-checked (decode(encode(fields)) == fields and
encode(decode(wire)) == wire) and every reject is checked to be rejected for
exactly the stated reason.
"""

from __future__ import annotations

import binascii
import json
import struct
import sys
from pathlib import Path

# --------------------------------------------------------------------------
# Constants (PROTOCOL.md sections 2, 4, 6, 7)
# --------------------------------------------------------------------------

PROTOCOL_VERSION = 2
MAX_DECODED = 1536                 # header + body + CRC
MAX_ENCODED = MAX_DECODED + 7      # 1543, before the delimiter
# Codec-level maximum of ESPNOW_SEND / RECV data: the largest
# ESP_NOW_MAX_DATA_LEN_V2 of any ESP-IDF release (1490 in 5.4.0/5.4.1). A device
# answers ESP_ERR_ESPNOW_ARG for 0 bytes or more than its max_payload; that is a
# semantic check, not a layout check.
MAX_ESPNOW_DATA = 1490

KIND_REQUEST, KIND_RESPONSE, KIND_EVENT = 1, 2, 3
KIND_NAMES = {KIND_REQUEST: "request", KIND_RESPONSE: "response", KIND_EVENT: "event"}
KIND_BY_NAME = {v: k for k, v in KIND_NAMES.items()}

REASONS = ("bad_crc", "truncated", "oversize", "bad_cobs", "bad_version",
           "bad_kind", "bad_body")


class Reject(Exception):
    def __init__(self, reason: str, detail: str = ""):
        assert reason in REASONS or reason == "unknown_code", reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


# --------------------------------------------------------------------------
# Layout table. Field names exactly as in PROTOCOL.md.
# A field is (name, type) or (name, type, max) for str / bytes.
# --------------------------------------------------------------------------

PEER_INFO = [
    ("peer_addr", "mac"),
    ("lmk", "key"),
    ("channel", "u8"),
    ("ifidx", "u8"),
    ("encrypt", "bool"),
]

HELLO_BODY = [
    ("proto_version", "u8"),
    ("fw_major", "u8"),
    ("fw_minor", "u8"),
    ("fw_patch", "u8"),
    ("chip_model", "u16"),
    ("chip_revision", "u16"),
    ("espnow_version", "u32"),
    ("max_payload", "u16"),
    ("sta_mac", "mac"),
    ("ap_mac", "mac"),
    ("caps", "u32"),
    ("reset_reason", "u8"),
    ("boot_count", "u32"),
    ("window", "u8"),
    ("rxbuf", "u32"),
    ("max_frame", "u16"),
    ("transport", "u8"),
    ("baud", "u32"),
    ("idf_version", "str", 31),
    ("max_encrypt", "u8"),
    ("lost_at_reset", "u32"),
]

COUNTERS = [
    "tx_packets", "tx_responses", "tx_failures", "rx_packets", "rx_dropped",
    "link_rx_frames", "link_rx_bad_crc", "link_rx_bad_cobs", "link_rx_oversize",
    "link_rx_truncated", "link_rx_bad_version", "link_rx_bad_kind",
    "req_replayed", "req_busy", "link_tx_frames", "events_dropped",
    "log_dropped", "uptime_s", "req_rejected", "req_stale", "tx_abandoned",
    "resp_unsent",
]
assert len(COUNTERS) == 22

# name: (code, request body, response outputs)
COMMANDS: dict[str, tuple[int, list, list]] = {
    # 6.1 housekeeping
    "HELLO": (0x01, [], HELLO_BODY),
    "PING": (0x02, [("data", "bytes", 64)], [("uptime_us", "u64"), ("data", "bytes", 64)]),
    "RESET": (0x03, [], []),
    "STATS": (0x04, [("clear", "bool")], [(c, "u32") for c in COUNTERS]),
    "SET_BAUD": (0x05, [("baud", "u32")], []),
    "SET_RXBUF": (0x06, [("size", "u32")], [("size", "u32")]),
    # 6.2 ESP-NOW
    "ESPNOW_INIT": (0x10, [], []),
    "ESPNOW_DEINIT": (0x11, [], []),
    "ESPNOW_GET_VERSION": (0x12, [], [("version", "u32")]),
    "ESPNOW_SEND": (0x13, [("peer_addr", "mac"), ("flags", "u8"),
                            ("data", "bytes", MAX_ESPNOW_DATA)],
                    [("statuses", "u8"), ("failures", "u8")]),
    "ESPNOW_ADD_PEER": (0x14, PEER_INFO, []),
    "ESPNOW_DEL_PEER": (0x15, [("peer_addr", "mac")], []),
    "ESPNOW_MOD_PEER": (0x16, PEER_INFO, []),
    "ESPNOW_GET_PEER": (0x17, [("peer_addr", "mac")], PEER_INFO),
    "ESPNOW_FETCH_PEER": (0x18, [("from_head", "bool")], PEER_INFO),
    "ESPNOW_IS_PEER_EXIST": (0x19, [("peer_addr", "mac")], [("exists", "bool")]),
    "ESPNOW_GET_PEER_NUM": (0x1A, [], [("total_num", "u8"), ("encrypt_num", "u8")]),
    "ESPNOW_SET_PMK": (0x1B, [("pmk", "key")], []),
    "ESPNOW_SET_WAKE_WINDOW": (0x1C, [("window_ms", "u16")], []),
    "ESPNOW_SET_PEER_RATE_CONFIG": (0x1D, [("peer_addr", "mac"), ("phymode", "u8"),
                                           ("rate", "u8"), ("ersu", "bool"), ("dcm", "bool")], []),
    # 6.3 Wi-Fi
    "WIFI_SET_MODE": (0x30, [("mode", "u8")], []),
    "WIFI_GET_MODE": (0x31, [], [("mode", "u8")]),
    "WIFI_START": (0x32, [], []),
    "WIFI_STOP": (0x33, [], []),
    "WIFI_SET_CHANNEL": (0x34, [("primary", "u8"), ("second", "u8")], []),
    "WIFI_GET_CHANNEL": (0x35, [], [("primary", "u8"), ("second", "u8")]),
    "WIFI_GET_MAC": (0x36, [("ifidx", "u8")], [("mac", "mac")]),
    "WIFI_SET_MAC": (0x37, [("ifidx", "u8"), ("mac", "mac")], []),
    "WIFI_SET_PS": (0x38, [("type", "u8")], []),
    "WIFI_GET_PS": (0x39, [], [("type", "u8")]),
    "WIFI_SET_PROTOCOL": (0x3A, [("ifidx", "u8"), ("bitmap", "u8")], []),
    "WIFI_GET_PROTOCOL": (0x3B, [("ifidx", "u8")], [("bitmap", "u8")]),
    "WIFI_SET_MAX_TX_POWER": (0x3C, [("power", "i8")], []),
    "WIFI_GET_MAX_TX_POWER": (0x3D, [], [("power", "i8")]),
    "WIFI_SET_IF_ACTIVE": (0x3E, [("ifidx", "u8"), ("active", "bool")], []),
    "WIFI_GET_IF_ACTIVE": (0x3F, [("ifidx", "u8")], [("active", "bool")]),
    "WIFI_STA_CONNECT": (0x40, [("ssid", "str", 32), ("password", "str", 64),
                                ("bssid", "mac")], []),
    "WIFI_STA_DISCONNECT": (0x41, [], []),
    "WIFI_STA_STATUS": (0x42, [], [("status", "u16"), ("channel", "u8"),
                                   ("bssid", "mac"), ("rssi", "i8")]),
    "WIFI_AP_CONFIG": (0x43, [("ssid", "str", 32), ("password", "str", 64),
                              ("channel", "u8"), ("authmode", "u8"), ("hidden", "bool"),
                              ("max_connection", "u8")], []),
    "WIFI_CONFIG_ESPNOW_RATE": (0x44, [("ifidx", "u8"), ("rate", "u8")], []),
    "WIFI_SET_COUNTRY_CODE": (0x45, [("country", "str", 2), ("ieee80211d", "bool")], []),
    "WIFI_GET_COUNTRY_CODE": (0x46, [], [("country", "str", 2)]),
}

# RECV is described by a special marker: its layout depends on dst (bits 7..6
# of dst_rate). Its JSON fields are documented in RECV_FIELDS.
RECV = "RECV_SPECIAL"
RECV_FIELDS = ["src_addr", "dst", "rate", "rssi", "channel", "timestamp_us",
               "dst_addr", "data"]

EVENTS: dict[str, tuple[int, object]] = {
    "HELLO": (0x80, HELLO_BODY),
    "RECV": (0x81, RECV),
    "SEND_STATUS": (0x82, [("req_id", "u16"), ("peer_addr", "mac"), ("status", "u8")]),
    "LOG": (0x83, [("level", "u8"), ("flags", "u8"), ("text", "bytes", 200)]),
    "DROPPED": (0x84, [("what", "u8"), ("count", "u32"), ("total", "u32")]),
    "WIFI_EVENT": (0x85, [("event", "u8"), ("channel", "u8"), ("reason", "u16")]),
}

CMD_BY_CODE = {v[0]: k for k, v in COMMANDS.items()}
EVT_BY_CODE = {v[0]: k for k, v in EVENTS.items()}
assert len(CMD_BY_CODE) == len(COMMANDS) and len(EVT_BY_CODE) == len(EVENTS)

INT_FMT = {"u8": "<B", "u16": "<H", "u32": "<I", "u64": "<Q", "i8": "<b", "i32": "<i",
           "bool": "<B"}  # bool: one byte, 0 or 1 only (anything else is a bad body)

# --------------------------------------------------------------------------
# CRC-32 (section 3) and COBS (section 2)
# --------------------------------------------------------------------------


def crc32(data: bytes) -> int:
    return binascii.crc32(data) & 0xFFFFFFFF


assert crc32(b"123456789") == 0xCBF43926


def cobs_encode(data: bytes) -> bytes:
    """Minimal COBS: no trailing 0x01 group after data ending on a 0xFF group."""
    out = bytearray()
    i, n = 0, len(data)
    while True:
        j = i
        while j < n and data[j] != 0 and j - i < 254:
            j += 1
        run = data[i:j]
        if len(run) == 254:
            out.append(0xFF)
            out += run
            i = j
            if i == n:          # minimal form: nothing appended
                break
            continue            # no zero removed after a 0xFF group
        out.append(len(run) + 1)
        out += run
        if j == n:              # last group
            break
        i = j + 1               # skip the removed zero
    return bytes(out)


def cobs_decode(enc: bytes) -> bytes:
    """Accepts minimal and non-minimal forms; raises Reject('bad_cobs')."""
    out = bytearray()
    i, n = 0, len(enc)
    while i < n:
        c = enc[i]
        if c == 0:
            raise Reject("bad_cobs", f"zero byte at {i}")
        if i + c > n:
            raise Reject("bad_cobs", f"code byte 0x{c:02x} at {i} points past the end ({n})")
        out += enc[i + 1:i + c]
        i += c
        if c != 0xFF and i < n:
            out.append(0)
    return bytes(out)


# self-test of COBS against the spec's statements
assert cobs_encode(b"") == b"\x01"
assert cobs_encode(b"\x00") == b"\x01\x01"
assert cobs_encode(b"\x11\x00\x22") == b"\x02\x11\x02\x22"
assert cobs_encode(bytes([1]) * 254) == b"\xff" + bytes([1]) * 254
assert cobs_decode(b"\xff" + bytes([1]) * 254 + b"\x01") == bytes([1]) * 254  # non-minimal
assert cobs_encode(bytes([1]) * 255) == b"\xff" + bytes([1]) * 254 + b"\x02\x01"
assert cobs_encode(bytes([1]) * 254 + b"\x00") == b"\xff" + bytes([1]) * 254 + b"\x01\x01"
for _n in (1, 5, 253, 254, 255, 508, 509, 1536):
    _d = bytes((k % 255) + 1 for k in range(_n))
    assert len(cobs_encode(_d)) == _n + -(-_n // 254)
    assert cobs_decode(cobs_encode(_d)) == _d

# --------------------------------------------------------------------------
# Field value <-> bytes
# --------------------------------------------------------------------------


def mac_to_bytes(s: str) -> bytes:
    parts = s.split(":")
    assert len(parts) == 6 and all(len(p) == 2 for p in parts) and s == s.lower(), s
    return bytes(int(p, 16) for p in parts)


def mac_str(b: bytes) -> str:
    return ":".join(f"{x:02x}" for x in b)


def hex_to_bytes(s: str) -> bytes:
    assert s == s.lower(), s
    return bytes.fromhex(s)


def encode_layout(layout: list, body: dict) -> bytes:
    names = [f[0] for f in layout]
    assert list(body.keys()) == names, (list(body.keys()), names)
    out = bytearray()
    for idx, f in enumerate(layout):
        name, typ = f[0], f[1]
        v = body[name]
        if typ in INT_FMT:
            assert isinstance(v, int) and not isinstance(v, bool), (name, v)
            if typ == "u64":
                assert v < 2 ** 53, (name, v)
            assert typ != "bool" or v in (0, 1), (name, v)
            out += struct.pack(INT_FMT[typ], v)
        elif typ == "mac":
            out += mac_to_bytes(v)
        elif typ == "key":
            b = hex_to_bytes(v)
            assert len(b) == 16, (name, v)
            out += b
        elif typ == "str":
            b = v.encode("utf-8")
            assert len(b) <= f[2], (name, len(b))
            out.append(len(b))
            out += b
        elif typ == "bytes":
            assert idx == len(layout) - 1
            b = hex_to_bytes(v)
            assert len(b) <= f[2], (name, len(b))
            out += b
        else:
            raise AssertionError(typ)
    return bytes(out)


def decode_layout(layout: list, body: bytes) -> dict:
    res: dict = {}
    p, n = 0, len(body)

    def take(k: int, what: str) -> bytes:
        nonlocal p
        if p + k > n:
            raise Reject("bad_body", f"{what}: needs {k} bytes at {p}, body is {n}")
        b = body[p:p + k]
        p += k
        return b

    for f in layout:
        name, typ = f[0], f[1]
        if typ in INT_FMT:
            sz = struct.calcsize(INT_FMT[typ])
            res[name] = struct.unpack(INT_FMT[typ], take(sz, name))[0]
            if typ == "bool" and res[name] > 1:
                raise Reject("bad_body", f"{name}: boolean {res[name]} is not 0 or 1")
        elif typ == "mac":
            res[name] = mac_str(take(6, name))
        elif typ == "key":
            res[name] = take(16, name).hex()
        elif typ == "str":
            ln = take(1, name + " length")[0]
            if ln > f[2]:
                raise Reject("bad_body", f"{name}: length {ln} > max {f[2]}")
            raw = take(ln, name)
            try:
                res[name] = raw.decode("utf-8")
            except UnicodeDecodeError:
                # Receivers accept any bytes (an SSID is raw); no vector holds such a string.
                res[name] = "hex:" + raw.hex()
        elif typ == "bytes":
            raw = body[p:]
            p = n
            if len(raw) > f[2]:
                raise Reject("bad_body", f"{name}: {len(raw)} bytes > max {f[2]}")
            res[name] = raw.hex()
        else:
            raise AssertionError(typ)
    if p != n:
        raise Reject("bad_body", f"{n - p} extra byte(s) after the layout")
    return res


def encode_recv(body: dict) -> bytes:
    dst, rate = body["dst"], body["rate"]
    assert 0 <= dst <= 3 and 0 <= rate <= 63
    expect = ["src_addr", "dst", "rate", "rssi", "channel", "timestamp_us"]
    expect += ["dst_addr"] if dst == 3 else []
    expect += ["data"]
    assert list(body.keys()) == expect, list(body.keys())
    out = bytearray(mac_to_bytes(body["src_addr"]))
    out += struct.pack("<BbBI", (dst << 6) | rate, body["rssi"], body["channel"],
                       body["timestamp_us"])
    if dst == 3:
        out += mac_to_bytes(body["dst_addr"])
    data = hex_to_bytes(body["data"])
    assert len(data) <= MAX_ESPNOW_DATA
    return bytes(out + data)


def decode_recv(body: bytes) -> dict:
    if len(body) < 13:
        raise Reject("bad_body", f"RECV body of {len(body)} bytes < 13")
    dst_rate, rssi, channel, ts = struct.unpack("<BbBI", body[6:13])
    res = {"src_addr": mac_str(body[0:6]), "dst": dst_rate >> 6, "rate": dst_rate & 0x3F,
           "rssi": rssi, "channel": channel, "timestamp_us": ts}
    p = 13
    if res["dst"] == 3:
        if len(body) < 19:
            raise Reject("bad_body", "RECV dst 3 without room for dst_addr")
        res["dst_addr"] = mac_str(body[13:19])
        p = 19
    data = body[p:]
    if len(data) > MAX_ESPNOW_DATA:
        raise Reject("bad_body", f"RECV data {len(data)} > {MAX_ESPNOW_DATA}")
    res["data"] = data.hex()
    return res


# --------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------


def response_layout(code_name: str) -> list:
    return COMMANDS[code_name][2]


def encode_frame(fields: dict) -> bytes:
    """fields -> decoded frame (header + body + CRC)."""
    assert fields["version"] == PROTOCOL_VERSION
    kind = KIND_BY_NAME[fields["kind"]]
    body = fields["body"]
    if kind == KIND_EVENT:
        assert list(fields.keys()) == ["version", "kind", "code", "body"], fields.keys()
        code, layout = EVENTS[fields["code"]]
        hdr = bytes([(PROTOCOL_VERSION << 4) | kind, code])
        payload = encode_recv(body) if layout == RECV else encode_layout(layout, body)
    else:
        assert list(fields.keys()) == ["version", "kind", "id", "code", "body"], fields.keys()
        code, req_layout, out_layout = COMMANDS[fields["code"]]
        assert 0 <= fields["id"] <= 0xFFFF
        hdr = bytes([(PROTOCOL_VERSION << 4) | kind]) + struct.pack("<HB", fields["id"], code)
        if kind == KIND_REQUEST:
            payload = encode_layout(req_layout, body)
        else:
            err = body["err"]
            if err != 0:
                assert list(body.keys()) == ["err"], body.keys()
                payload = struct.pack("<i", err)
            else:
                rest = {k: v for k, v in body.items() if k != "err"}
                assert list(body.keys())[0] == "err"
                payload = struct.pack("<i", 0) + encode_layout(out_layout, rest)
    frame = hdr + payload
    frame += struct.pack("<I", crc32(frame))
    assert len(frame) <= MAX_DECODED, len(frame)
    return frame


def encode_wire(fields: dict) -> bytes:
    return cobs_encode(encode_frame(fields)) + b"\x00"


def seal(raw: bytes) -> bytes:
    """header+body (raw, possibly invalid) -> wire bytes with a valid CRC."""
    return cobs_encode(raw + struct.pack("<I", crc32(raw))) + b"\x00"


def decode_frame(frame: bytes) -> dict:
    """Decoded frame -> fields. Check order after COBS: truncated, CRC,
    version, kind, header, body."""
    if len(frame) < 6:
        raise Reject("truncated", f"decoded frame of {len(frame)} bytes < 6")
    content, crc = frame[:-4], struct.unpack("<I", frame[-4:])[0]
    if crc32(content) != crc:
        raise Reject("bad_crc", f"crc 0x{crc:08x} != 0x{crc32(content):08x}")
    ver, kind = content[0] >> 4, content[0] & 0x0F
    if ver != PROTOCOL_VERSION:
        raise Reject("bad_version", f"version {ver}")
    if kind not in KIND_NAMES:
        raise Reject("bad_kind", f"kind {kind}")
    if kind == KIND_EVENT:
        # 2-byte header always fits: content >= 2 bytes here
        code = content[1]
        if code not in EVT_BY_CODE:
            raise Reject("unknown_code", f"event code 0x{code:02x}")
        name = EVT_BY_CODE[code]
        layout = EVENTS[name][1]
        body = content[2:]
        dec = decode_recv(body) if layout == RECV else decode_layout(layout, body)
        return {"version": ver, "kind": "event", "code": name, "body": dec}
    if len(content) < 4:
        raise Reject("truncated", f"{len(content)} bytes before the CRC < 4-byte header")
    rid, code = struct.unpack("<HB", content[1:4])
    if code not in CMD_BY_CODE:
        raise Reject("unknown_code", f"command code 0x{code:02x}")
    name = CMD_BY_CODE[code]
    body = content[4:]
    if kind == KIND_REQUEST:
        dec = decode_layout(COMMANDS[name][1], body)
    else:
        if len(body) < 4:
            raise Reject("bad_body", f"response body of {len(body)} bytes has no err")
        err = struct.unpack("<i", body[:4])[0]
        if err != 0:
            if len(body) != 4:
                raise Reject("bad_body", f"err {err} with {len(body) - 4} extra byte(s)")
            dec = {"err": err}
        else:
            dec = {"err": 0, **decode_layout(COMMANDS[name][2], body[4:])}
    return {"version": ver, "kind": KIND_NAMES[kind], "id": rid, "code": name, "body": dec}


def decode_wire(wire: bytes) -> dict:
    """One wire frame (encoded bytes + 0x00 delimiter) -> fields."""
    assert len(wire) >= 2 and wire[-1] == 0 and 0 not in wire[:-1], "not one frame"
    enc = wire[:-1]
    if len(enc) > MAX_ENCODED:
        raise Reject("oversize", f"encoded frame of {len(enc)} bytes > {MAX_ENCODED}")
    dec = cobs_decode(enc)
    if len(dec) > MAX_DECODED:
        raise Reject("oversize", f"decoded frame of {len(dec)} bytes > {MAX_DECODED}")
    return decode_frame(dec)


# --------------------------------------------------------------------------
# Vector helpers and realistic values
# --------------------------------------------------------------------------

STA_MAC = "24:0a:c4:12:34:56"
AP_MAC = "24:0a:c4:12:34:57"
PEER_A = "24:0a:c4:9a:bc:de"
PEER_B = "7c:df:a1:0b:2c:3d"
PEER_C = "84:f7:03:4e:5f:61"
BCAST = "ff:ff:ff:ff:ff:ff"
NULL_MAC = "00:00:00:00:00:00"
LMK = b"lmk1234567890123".hex()
PMK = b"pmk1234567890123".hex()
LMK2 = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ZERO_KEY = "00" * 16


def pattern(n: int, seed: int = 0) -> bytes:
    """Deterministic payload containing zero bytes (exercises COBS)."""
    return bytes(((i * 37) + seed * 11 + 5) & 0xFF for i in range(n))


def nonzero(n: int, seed: int = 0) -> bytes:
    """Deterministic payload without zero bytes."""
    return bytes(((i * 37 + seed * 11 + 5) % 255) + 1 for i in range(n))


def req(rid: int, code: str, body: dict | None = None) -> dict:
    return {"version": PROTOCOL_VERSION, "kind": "request", "id": rid, "code": code, "body": body or {}}


def resp(rid: int, code: str, err: int = 0, **outputs) -> dict:
    body = {"err": err}
    body.update(outputs)
    return {"version": PROTOCOL_VERSION, "kind": "response", "id": rid, "code": code, "body": body}


def evt(code: str, body: dict) -> dict:
    return {"version": PROTOCOL_VERSION, "kind": "event", "code": code, "body": body}


def peer_info(addr=PEER_A, lmk=LMK, channel=1, ifidx=0, encrypt=1) -> dict:
    return {"peer_addr": addr, "lmk": lmk, "channel": channel, "ifidx": ifidx,
            "encrypt": encrypt}


def hello_body(**over) -> dict:
    b = {
        "proto_version": 2, "fw_major": 1, "fw_minor": 0, "fw_patch": 0,
        "chip_model": 13, "chip_revision": 1, "espnow_version": 2, "max_payload": 1470,
        "sta_mac": STA_MAC, "ap_mac": AP_MAC,
        "caps": 0b0110101,  # v2, LR, wake window, per-peer rate config
        "reset_reason": 1, "boot_count": 7, "window": 8, "rxbuf": 2968,
        "max_frame": 1536, "transport": 0, "baud": 0, "idf_version": "v5.4.1",
        "max_encrypt": 7, "lost_at_reset": 0,
    }
    for k, v in over.items():
        assert k in b
        b[k] = v
    return b


def recv_body(src, dst, rate, rssi, channel, ts, data: bytes, dst_addr=None) -> dict:
    b = {"src_addr": src, "dst": dst, "rate": rate, "rssi": rssi, "channel": channel,
         "timestamp_us": ts}
    if dst == 3:
        b["dst_addr"] = dst_addr
    b["data"] = data.hex()
    return b


def first_without_zero(make, tries=range(1, 5000)):
    """make(k) -> fields; returns the first fields whose decoded frame has no 0x00."""
    for k in tries:
        f = make(k)
        if 0 not in encode_frame(f):
            return f
    raise AssertionError("no zero-free frame found")


# --------------------------------------------------------------------------
# Vectors
# --------------------------------------------------------------------------


def build_vectors() -> list[dict]:
    V: list[dict] = []

    def add(name, fields, comment=None):
        v = {"name": name}
        if comment:
            v["comment"] = comment
        v["fields"] = fields
        V.append(v)

    # ---- section 11 worked example
    add("ping_request_example", req(1, "PING", {"data": b"hi".hex()}),
        "PROTOCOL.md section 11: PING, id 1, data 'hi'")

    # ---- one request and one success response per command
    rid = 0x0100

    def pair(code, rbody, outputs, rcomment=None, scomment=None):
        nonlocal rid
        rid += 1
        lc = code.lower()
        add(f"{lc}_request", req(rid, code, rbody), rcomment)
        add(f"{lc}_response_ok", resp(rid, code, 0, **outputs), scomment)

    pair("HELLO", {}, hello_body(), None, "outputs are the HELLO event body")
    pair("PING", {"data": "0102030405060708"},
         {"uptime_us": 123456789012, "data": "0102030405060708"})
    pair("RESET", {}, {})
    pair("STATS", {"clear": 1},
         dict(zip(COUNTERS, [1523, 1523, 4, 9876, 12, 2048, 1, 2, 0, 3, 0, 1, 5, 2,
                             11950, 7, 3, 3600, 2, 1, 3, 0])))
    pair("SET_BAUD", {"baud": 921600}, {})
    pair("SET_RXBUF", {"size": 4096}, {"size": 4096})
    pair("ESPNOW_INIT", {}, {})
    pair("ESPNOW_DEINIT", {}, {})
    pair("ESPNOW_GET_VERSION", {}, {"version": 2})
    pair("ESPNOW_SEND", {"peer_addr": PEER_A, "flags": 0, "data": b"hello espnow".hex()},
         {"statuses": 1, "failures": 0})
    pair("ESPNOW_ADD_PEER", peer_info(), {})
    pair("ESPNOW_DEL_PEER", {"peer_addr": PEER_A}, {})
    pair("ESPNOW_MOD_PEER", peer_info(PEER_A, LMK2, 6, 1, 1), {})
    pair("ESPNOW_GET_PEER", {"peer_addr": PEER_A}, peer_info())
    pair("ESPNOW_FETCH_PEER", {"from_head": 1}, peer_info(PEER_B, ZERO_KEY, 0, 0, 0))
    pair("ESPNOW_IS_PEER_EXIST", {"peer_addr": PEER_A}, {"exists": 1})
    pair("ESPNOW_GET_PEER_NUM", {}, {"total_num": 3, "encrypt_num": 1})
    pair("ESPNOW_SET_PMK", {"pmk": PMK}, {})
    pair("ESPNOW_SET_WAKE_WINDOW", {"window_ms": 50}, {})
    pair("ESPNOW_SET_PEER_RATE_CONFIG",
         {"peer_addr": PEER_A, "phymode": 3, "rate": 0x10, "ersu": 0, "dcm": 0}, {})
    pair("WIFI_SET_MODE", {"mode": 1}, {})
    pair("WIFI_GET_MODE", {}, {"mode": 3})
    pair("WIFI_START", {}, {})
    pair("WIFI_STOP", {}, {})
    pair("WIFI_SET_CHANNEL", {"primary": 6, "second": 0}, {})
    pair("WIFI_GET_CHANNEL", {}, {"primary": 11, "second": 2})
    pair("WIFI_GET_MAC", {"ifidx": 0}, {"mac": STA_MAC})
    pair("WIFI_SET_MAC", {"ifidx": 1, "mac": "26:0a:c4:12:34:57"}, {})
    pair("WIFI_SET_PS", {"type": 0}, {})
    pair("WIFI_GET_PS", {}, {"type": 1})
    pair("WIFI_SET_PROTOCOL", {"ifidx": 0, "bitmap": 1 | 2 | 4 | 8}, {})
    pair("WIFI_GET_PROTOCOL", {"ifidx": 0}, {"bitmap": 1 | 2 | 4})
    pair("WIFI_SET_MAX_TX_POWER", {"power": 78}, {}, "78 * 0.25 = 19.5 dBm")
    pair("WIFI_GET_MAX_TX_POWER", {}, {"power": 80})
    pair("WIFI_SET_IF_ACTIVE", {"ifidx": 1, "active": 1}, {})
    pair("WIFI_GET_IF_ACTIVE", {"ifidx": 0}, {"active": 1})
    pair("WIFI_STA_CONNECT", {"ssid": "HomeNet", "password": "correct horse battery",
                              "bssid": NULL_MAC}, {}, "bssid all zero: any AP")
    pair("WIFI_STA_DISCONNECT", {}, {})
    pair("WIFI_STA_STATUS", {}, {"status": 1010, "channel": 6, "bssid": "a0:b1:c2:d3:e4:f5",
                                 "rssi": -58})
    pair("WIFI_AP_CONFIG", {"ssid": "espnow-bridge", "password": "bridge-pass-123",
                            "channel": 6, "authmode": 3, "hidden": 0,
                            "max_connection": 4}, {})
    pair("WIFI_CONFIG_ESPNOW_RATE", {"ifidx": 0, "rate": 0x29}, {}, "WIFI_PHY_RATE_LORA_250K")
    pair("WIFI_SET_COUNTRY_CODE", {"country": "JP", "ieee80211d": 0}, {}, "channels 1..14 allowed")
    pair("WIFI_GET_COUNTRY_CODE", {}, {"country": "01"}, None, "01: world safe, channels 1..11")

    # ---- events
    add("hello_event", evt("HELLO", hello_body()), "boot of an ESP32-C6 on USB-Serial-JTAG")
    add("hello_event_uart_esp32_v1", evt("HELLO", hello_body(
        chip_model=1, chip_revision=301, espnow_version=1, max_payload=250,
        sta_mac="30:ae:a4:01:02:03", ap_mac="30:ae:a4:01:02:04", caps=0b0000110,
        reset_reason=3, boot_count=42, window=4, rxbuf=1024, transport=2,
        baud=921600, idf_version="v5.4.1")), "ESP32 over UART, ESP-NOW v1")
    add("hello_event_simulator", evt("HELLO", hello_body(
        chip_model=0x8000, chip_revision=0, caps=0b1111111, reset_reason=1,
        boot_count=1, transport=3, fw_major=1, fw_minor=2, fw_patch=3,
        idf_version="sim-v5.4.1")), "simulated device on a pty")
    add("hello_event_utf8_idf_version", evt("HELLO", hello_body(
        idf_version="v5.4.1-café-ß")), "non-ASCII UTF-8 in the only str of HELLO")
    add("hello_event_idf_version_31", evt("HELLO", hello_body(
        idf_version="v5.4.1-123-gabcdef012345-dirty!")), "idf_version at its maximum of 31 bytes")
    add("hello_event_idf_version_empty", evt("HELLO", hello_body(idf_version="")))

    add("send_status_success", evt("SEND_STATUS",
                                   {"req_id": 0x010a, "peer_addr": PEER_A, "status": 0}))
    add("send_status_fail", evt("SEND_STATUS",
                                {"req_id": 0x010a, "peer_addr": PEER_B, "status": 1}))
    add("log_event", evt("LOG", {"level": 3, "flags": 0,
                                 "text": b"I (1234) bridge: espnow ready, channel 1".hex()}))
    add("log_event_error_utf8", evt("LOG", {"level": 1, "flags": 0,
                                            "text": "E (99) wifi: échec ✗".encode().hex()}))
    add("log_event_truncated_200", evt("LOG", {"level": 4, "flags": 1,
                                               "text": (b"D (5) x: " + b"a" * 191).hex()}),
        "text at its maximum of 200 bytes, truncated flag set")
    add("log_event_empty", evt("LOG", {"level": 2, "flags": 0, "text": ""}))
    add("dropped_event_recv", evt("DROPPED", {"what": 1, "count": 3, "total": 17}),
        "received packets dropped: receive buffer full")
    add("dropped_event_events", evt("DROPPED", {"what": 2, "count": 1, "total": 2}),
        "events dropped: link queue full")
    add("dropped_event_log", evt("DROPPED", {"what": 3, "count": 250, "total": 0x01020304}),
        "log lines dropped")
    add("wifi_event_sta_connected", evt("WIFI_EVENT", {"event": 1, "channel": 6, "reason": 0}))
    add("wifi_event_sta_disconnected", evt("WIFI_EVENT",
                                           {"event": 2, "channel": 6, "reason": 201}),
        "reason 201 WIFI_REASON_NO_AP_FOUND")
    add("wifi_event_channel_changed", evt("WIFI_EVENT", {"event": 3, "channel": 11, "reason": 0}))

    # ---- RECV
    def recv250(k):
        return evt("RECV", recv_body(PEER_A, 0, 0x0b, -45, 1, 0x12345678 + k,
                                     nonzero(250, k)))
    f250 = first_without_zero(recv250)
    add("recv_event_250", f250,
        "unicast to our STA (dst 0), 250-byte payload; decoded frame 269 bytes, no zero "
        "byte, so 2 COBS code bytes: 272 bytes on the wire (PROTOCOL.md 7.2)")
    add("recv_event_broadcast", evt("RECV", recv_body(
        PEER_B, 2, 0x00, -71, 1, 4000000000, b"discover:bridge")), "dst 2 broadcast, 1M long")
    add("recv_event_to_ap", evt("RECV", recv_body(
        PEER_C, 1, 63, -30, 6, 17, pattern(32, 1))), "dst 1 our AP MAC, rate 63 unknown")
    add("recv_event_dst_other", evt("RECV", recv_body(
        PEER_B, 3, 0x10, -88, 11, 0xFFFFFFFF, pattern(20, 2), dst_addr="24:0a:c4:ff:ee:dd")),
        "dst 3: dst_addr present")
    add("recv_event_dst_other_empty", evt("RECV", recv_body(
        PEER_B, 3, 0x0b, -60, 1, 0, b"", dst_addr="24:0a:c4:ff:ee:dd")),
        "dst 3 with empty data: body is exactly 19 bytes")
    add("recv_event_1470", evt("RECV", recv_body(
        PEER_A, 0, 0x18, -50, 1, 987654321, pattern(1470, 3))), "ESP-NOW v2 maximum payload")
    add("recv_event_empty", evt("RECV", recv_body(PEER_A, 0, 0x0b, -128, 14, 1, b"")),
        "empty payload, rssi -128")

    # ---- ESPNOW_SEND edge cases
    add("espnow_send_empty", req(0x0200, "ESPNOW_SEND", {"peer_addr": PEER_A, "flags": 0, "data": ""}))
    add("espnow_send_250", req(0x0201, "ESPNOW_SEND",
                               {"peer_addr": PEER_A, "flags": 0, "data": pattern(250, 4).hex()}))
    add("espnow_send_1470", req(0x0202, "ESPNOW_SEND",
                                {"peer_addr": PEER_A, "flags": 0, "data": pattern(1470, 5).hex()}),
        "ESP-NOW v2 maximum payload")
    add("espnow_send_250_zeros", req(0x0203, "ESPNOW_SEND",
                                     {"peer_addr": PEER_A, "flags": 0, "data": "00" * 250}))
    add("espnow_send_250_ff", req(0x0204, "ESPNOW_SEND",
                                  {"peer_addr": PEER_A, "flags": 0, "data": "ff" * 250}))
    add("espnow_send_every_peer", req(0x0205, "ESPNOW_SEND",
                                      {"peer_addr": NULL_MAC, "flags": 2, "data": b"to all peers".hex()}),
        "flags bit 1: every peer (esp_now_send(NULL, ...)); peer_addr must then be all zero")
    add("espnow_send_every_peer_sync", req(0x0207, "ESPNOW_SEND",
                                           {"peer_addr": NULL_MAC, "flags": 3, "data": b"sync all".hex()}),
        "flags 3: sync, every peer")
    add("espnow_send_1490", req(0x0208, "ESPNOW_SEND",
                                {"peer_addr": PEER_A, "flags": 0, "data": pattern(1490, 6).hex()}),
        "the layout's maximum (ESP_NOW_MAX_DATA_LEN_V2 of IDF 5.4.0/5.4.1)")
    add("send_status_abandoned", evt("SEND_STATUS",
                                     {"req_id": 0x0205, "peer_addr": NULL_MAC, "status": 2}),
        "status 2: abandoned (ESP-NOW deinit, Wi-Fi stop or restart); every-peer send: MAC all zero")
    add("error_bridge_stale", resp(0x0209, "ESPNOW_SEND", 0xB002),
        "ESP_ERR_BRIDGE_STALE: id older than the replay window, not executed")
    add("espnow_send_every_peer_response", resp(0x0205, "ESPNOW_SEND", 0, statuses=3, failures=0),
        "3 SEND_STATUS events follow")
    add("espnow_send_broadcast", req(0x0206, "ESPNOW_SEND",
                                     {"peer_addr": BCAST, "flags": 0, "data": b"discover".hex()}))

    # ---- request ids
    add("ping_request_id_0", req(0, "PING", {"data": ""}))
    add("ping_request_id_max", req(0xFFFF, "PING", {"data": "ff"}))
    add("ping_response_id_0", resp(0, "PING", 0, uptime_us=0, data=""))
    add("ping_response_id_max", resp(0xFFFF, "PING", 0, uptime_us=2 ** 53 - 1, data="ff"),
        "uptime_us = 2^53 - 1")
    add("ping_request_64", req(0x0300, "PING", {"data": pattern(64, 6).hex()}),
        "PING data at its maximum of 64 bytes")
    add("ping_response_64", resp(0x0300, "PING", 0, uptime_us=5_000_000,
                                 data=pattern(64, 6).hex()))

    # ---- error responses
    add("error_esp_fail", resp(0x0400, "ESPNOW_INIT", -1), "ESP_FAIL")
    add("error_invalid_arg", resp(0x0401, "SET_BAUD", 0x102), "ESP_ERR_INVALID_ARG: baud out of range")
    add("error_invalid_size", resp(0x0402, "ESPNOW_ADD_PEER", 0x104),
        "ESP_ERR_INVALID_SIZE: bad body")
    add("error_not_supported", resp(0x0403, "SET_BAUD", 0x106),
        "ESP_ERR_NOT_SUPPORTED: SET_BAUD on a USB transport")
    add("error_wifi_not_started", resp(0x0404, "WIFI_STA_CONNECT", 0x3002),
        "ESP_ERR_WIFI_NOT_STARTED")
    add("error_espnow_not_init", resp(0x0405, "ESPNOW_SEND", 0x3065), "ESP_ERR_ESPNOW_NOT_INIT")
    add("error_espnow_not_found", resp(0x0406, "ESPNOW_GET_PEER", 0x3069),
        "ESP_ERR_ESPNOW_NOT_FOUND")
    add("error_espnow_exist", resp(0x0407, "ESPNOW_ADD_PEER", 0x306B), "ESP_ERR_ESPNOW_EXIST")
    add("error_espnow_arg", resp(0x0408, "ESPNOW_SEND", 0x3066),
        "ESP_ERR_ESPNOW_ARG: data longer than max_payload")
    add("error_espnow_no_mem", resp(0x0409, "ESPNOW_SEND", 0x3067),
        "ESP_ERR_ESPNOW_NO_MEM: send_slots full")
    add("error_bridge_busy", resp(0x040A, "ESPNOW_SEND", 0xB001), "ESP_ERR_BRIDGE_BUSY")
    add("error_hello_fail", resp(0x040B, "HELLO", -1),
        "an error response to a command whose outputs are long has only err")
    add("error_fetch_peer_not_found", resp(0x040C, "ESPNOW_FETCH_PEER", 0x3069),
        "end of the peer list")

    # ---- COBS boundaries (decoded frames without any zero byte)
    def send_sized(decoded_len):
        data_len = decoded_len - 4 - 6 - 1 - 4
        return lambda k: req(0x0101 + k, "ESPNOW_SEND",
                             {"peer_addr": PEER_A, "flags": 1, "data": nonzero(data_len, k).hex()})

    for n in (253, 254, 255, 508, 509):
        f = first_without_zero(send_sized(n))
        fr = encode_frame(f)
        assert len(fr) == n and 0 not in fr
        add(f"cobs_decoded_{n}_no_zero", f,
            f"ESPNOW_SEND whose decoded frame is {n} bytes with no zero byte; "
            f"encodes to {len(cobs_encode(fr))} bytes + delimiter (minimal COBS)")

    # a zero byte right after a full 0xFF group: decoded[254] == 0
    def zero_at_254(k):
        data = bytearray(nonzero(300, k))
        data[254 - 11] = 0
        return req(0x0101 + k, "ESPNOW_SEND", {"peer_addr": PEER_A, "flags": 1, "data": data.hex()})

    def zero_only_at_254(k):
        f = zero_at_254(k)
        fr = encode_frame(f)
        return f if [i for i, b in enumerate(fr) if b == 0] == [254] else None

    f = next(x for x in map(zero_only_at_254, range(1, 5000)) if x)
    add("cobs_zero_after_full_group", f,
        "decoded frame has its only zero byte at offset 254, right after a 0xFF group")

    # a frame whose last decoded byte (CRC high byte) is zero
    def last_byte_zero(k):
        f = req(0x0500 + k, "PING", {"data": b"abc".hex()})
        fr = encode_frame(f)
        return f if fr[-1] == 0 and 0 not in fr[:-1] else None

    f = next(x for x in map(last_byte_zero, range(0, 0x10000)) if x)
    add("cobs_frame_ends_with_zero", f,
        "the CRC's last byte is 0x00: the encoding ends with a 0x01 code byte")

    # largest encoded frame that some layout can produce: RECV dst 3 with 1470 bytes
    add("recv_event_dst_other_1470", evt("RECV", recv_body(
        PEER_B, 3, 0x0b, -40, 1, 55, pattern(1470, 7), dst_addr="24:0a:c4:ff:ee:dd")),
        "largest frame of any layout: decoded 1495 bytes")

    # ---- non-ASCII UTF-8 in ssid
    add("wifi_sta_connect_utf8_ssid", req(0x0600, "WIFI_STA_CONNECT", {
        "ssid": "Café Ünïcode ☕", "password": "pässwörd", "bssid": "a0:b1:c2:d3:e4:f5"}),
        "ssid length counts UTF-8 bytes")
    ssid32 = "Wi-Fi ☕☕☕ grüße 日本!!"  # exactly 32 UTF-8 bytes
    assert len(ssid32.encode()) == 32, len(ssid32.encode())
    add("wifi_sta_connect_max_lengths", req(0x0601, "WIFI_STA_CONNECT", {
        "ssid": ssid32, "password": "p" * 64, "bssid": NULL_MAC}),
        "ssid 32 UTF-8 bytes and password 64 bytes: both maxima")
    add("wifi_sta_connect_open", req(0x0602, "WIFI_STA_CONNECT", {
        "ssid": "OpenCafé", "password": "", "bssid": NULL_MAC}), "empty password")
    add("wifi_ap_config_utf8_ssid", req(0x0603, "WIFI_AP_CONFIG", {
        "ssid": "Brücke-ESP ñ 🚀", "password": "geheim-1234", "channel": 11, "authmode": 4,
        "hidden": 1, "max_connection": 10}))
    add("hello_response_utf8_idf_version", resp(0x0604, "HELLO", 0, **hello_body(
        idf_version="v5.4.1-ñandú", boot_count=1234567)),
        "HELLO has no ssid; non-ASCII UTF-8 in its str field")

    names = [v["name"] for v in V]
    assert len(names) == len(set(names)), "duplicate vector name"
    return V


# --------------------------------------------------------------------------
# Rejects (each triggers only its own reason, except where noted)
# --------------------------------------------------------------------------


def req_raw(rid, code, body: bytes, vk=0x21) -> bytes:
    return bytes([vk]) + struct.pack("<HB", rid, code) + body


def evt_raw(code, body: bytes, vk=0x23) -> bytes:
    return bytes([vk, code]) + body


def build_rejects(vectors: list[dict]) -> list[dict]:
    R: list[dict] = []
    vec = {v["name"]: v["fields"] for v in vectors}

    def add(name, wire: bytes, reason):
        R.append({"name": name, "wire_hex": wire.hex(), "reason": reason})

    ping = encode_frame(vec["ping_request_example"])   # 11 01 00 02 68 69 crc

    # bad_crc
    fr = bytearray(ping)
    fr[4] ^= 0x01                                        # 'h' -> 'i'
    add("bad_crc_flipped_bit_in_data", cobs_encode(bytes(fr)) + b"\x00", "bad_crc")
    fr = bytearray(ping)
    fr[-4:] = fr[-4:][::-1]
    assert bytes(fr[-4:]) != ping[-4:]
    add("bad_crc_byte_swapped", cobs_encode(bytes(fr)) + b"\x00", "bad_crc")
    fr = bytearray(ping)
    fr[-1] ^= 0x80
    add("bad_crc_flipped_bit_in_crc", cobs_encode(bytes(fr)) + b"\x00", "bad_crc")
    fr = bytearray(encode_frame(vec["recv_event_250"]))
    fr[100] ^= 0x10
    add("bad_crc_recv_event_250", cobs_encode(bytes(fr)) + b"\x00", "bad_crc")
    fr = bytearray(encode_frame(vec["hello_event"]))
    fr[-4:] = b"\x00\x00\x00\x00"
    add("bad_crc_zero_crc", cobs_encode(bytes(fr)) + b"\x00", "bad_crc")

    # truncated: decoded frame shorter than 6 bytes
    add("truncated_decoded_5", cobs_encode(ping[:5]) + b"\x00", "truncated")
    add("truncated_decoded_1", cobs_encode(b"\x21") + b"\x00", "truncated")
    add("truncated_decoded_empty", b"\x01\x00", "truncated")
    # truncated: request/response too short for its 4-byte header (valid CRC)
    add("truncated_request_header_decoded_6", seal(b"\x21\x01"), "truncated")
    add("truncated_request_header_decoded_7", seal(b"\x21\x01\x00"), "truncated")
    add("truncated_response_header_decoded_7", seal(b"\x22\x01\x00"), "truncated")

    # oversize: encoded frame of 1544 bytes before the delimiter (a decoded
    # frame of 1537 zero-free bytes; necessarily also too big for any layout)
    for k in range(1, 5000):
        raw = req_raw(0x0101 + k, 0x13, mac_to_bytes(PEER_A) + nonzero(1537 - 14, k))
        w = seal(raw)
        if len(w) == 1545 and 0 not in cobs_decode(w[:-1]):
            break
    assert len(w) - 1 == 1544
    add("oversize_encoded_1544", w, "oversize")
    add("oversize_encoded_2000", cobs_encode(nonzero(1990, 9)) + b"\x00", "oversize")
    # oversize: an encoded frame within 1543 bytes whose decoded frame is 1540 bytes
    # (zeros every 100 bytes keep the COBS overhead at one byte)
    big = bytes(0 if i % 100 == 99 else 0x41 for i in range(1540 - 8))
    w = seal(req_raw(0x0101, 0x02, big))
    assert len(w) - 1 <= MAX_ENCODED and len(cobs_decode(w[:-1])) == 1540
    add("oversize_decoded_1540", w, "oversize")

    # bad_cobs: a code byte pointing past the end
    enc = cobs_encode(ping)
    add("bad_cobs_last_group_short", enc[:-1] + b"\x00", "bad_cobs")
    enc = cobs_encode(encode_frame(vec["cobs_decoded_508_no_zero"]))
    add("bad_cobs_ff_group_short", enc[:200] + b"\x00", "bad_cobs")
    add("bad_cobs_code_past_end", b"\x09\x21\x01\x01\x02\x68\x69\x00", "bad_cobs")

    # bad_version (valid CRC, valid kind and body)
    add("bad_version_1", seal(b"\x11" + ping[1:-4]), "bad_version")
    add("bad_version_3", seal(b"\x31" + ping[1:-4]), "bad_version")
    add("bad_version_0", seal(b"\x01" + ping[1:-4]), "bad_version")
    add("bad_version_15", seal(b"\xf1" + ping[1:-4]), "bad_version")
    hello_v2 = encode_frame(vec["hello_event"])[:-4]
    add("bad_version_3_hello_event", seal(b"\x33" + hello_v2[1:] + b"\x01\x02\x03"),
        "bad_version")

    # bad_kind (version 2, valid CRC)
    add("bad_kind_0", seal(b"\x20" + ping[1:-4]), "bad_kind")
    add("bad_kind_4", seal(b"\x24" + ping[1:-4]), "bad_kind")
    add("bad_kind_15", seal(b"\x2f" + ping[1:-4]), "bad_kind")

    # bad_body (valid framing and CRC, body not matching its layout)
    a = mac_to_bytes(PEER_A)
    add("bad_body_espnow_send_5_bytes", seal(req_raw(0x0700, 0x13, a[:5])), "bad_body")
    add("bad_body_espnow_send_1491", seal(req_raw(0x0701, 0x13, a + b"\x00" + pattern(1491, 8))),
        "bad_body")
    add("bad_body_stats_clear_2", seal(req_raw(0x0711, 0x04, b"\x02")), "bad_body")
    add("bad_body_if_active_2", seal(req_raw(0x0712, 0x3E, b"\x00\x02")), "bad_body")
    add("bad_body_country_code_3", seal(req_raw(0x0716, 0x45, b"\x03USA\x00")), "bad_body")
    add("bad_body_fetch_peer_from_head_2", seal(req_raw(0x0713, 0x18, b"\x02")), "bad_body")
    add("bad_body_add_peer_encrypt_2",
        seal(req_raw(0x0714, 0x14, a + bytes.fromhex(LMK) + b"\x01\x00\x02")), "bad_body")
    add("bad_body_is_peer_exist_response_2",
        seal(b"\x22" + struct.pack("<HBi", 0x0715, 0x19, 0) + b"\x02"), "bad_body")
    add("bad_body_ping_65", seal(req_raw(0x0702, 0x02, pattern(65, 9))), "bad_body")
    add("bad_body_ping_response_65",
        seal(b"\x22" + struct.pack("<HBiQ", 0x0702, 0x02, 0, 1) + pattern(65, 9)), "bad_body")
    add("bad_body_sta_connect_ssid_past_end",
        seal(req_raw(0x0703, 0x40, b"\x14HomeN")), "bad_body")
    add("bad_body_sta_connect_password_past_end",
        seal(req_raw(0x0704, 0x40, b"\x04Home\x40pw" + bytes(6))), "bad_body")
    add("bad_body_sta_connect_ssid_33",
        seal(req_raw(0x0705, 0x40, b"\x21" + b"s" * 33 + b"\x00" + bytes(6))), "bad_body")
    add("bad_body_sta_connect_password_65",
        seal(req_raw(0x0706, 0x40, b"\x04Home\x41" + b"p" * 65 + bytes(6))), "bad_body")
    add("bad_body_sta_connect_extra_byte",
        seal(req_raw(0x0707, 0x40, b"\x04Home\x00" + bytes(6) + b"\x01")), "bad_body")
    add("bad_body_ap_config_missing_max_connection",
        seal(req_raw(0x0708, 0x43, b"\x04Home\x02pw\x06\x03\x00")), "bad_body")
    add("bad_body_error_response_extra_bytes",
        seal(b"\x22" + struct.pack("<HBi", 0x0709, 0x17, 0x3069) + b"\x00"), "bad_body")
    add("bad_body_response_err_truncated",
        seal(b"\x22" + struct.pack("<HB", 0x070A, 0x03) + b"\x00\x00"), "bad_body")
    add("bad_body_response_empty_body",
        seal(b"\x22" + struct.pack("<HB", 0x070B, 0x03)), "bad_body")
    add("bad_body_ok_response_missing_output",
        seal(b"\x22" + struct.pack("<HBi", 0x070C, 0x31, 0)), "bad_body")
    add("bad_body_ok_response_extra_byte",
        seal(b"\x22" + struct.pack("<HBi", 0x070D, 0x03, 0) + b"\x00"), "bad_body")
    add("bad_body_stats_response_17_counters",
        seal(b"\x22" + struct.pack("<HBi", 0x070E, 0x04, 0) + bytes(4 * 17)), "bad_body")
    add("bad_body_request_body_for_empty_layout",
        seal(req_raw(0x070F, 0x10, b"\x00")), "bad_body")
    add("bad_body_add_peer_24_bytes",
        seal(req_raw(0x0710, 0x14, a + bytes.fromhex(LMK) + b"\x01\x00")), "bad_body")
    recv_fixed = a + struct.pack("<BbBI", (3 << 6) | 0x0b, -50, 1, 1000)
    add("bad_body_recv_dst3_no_dst_addr", seal(evt_raw(0x81, recv_fixed)), "bad_body")
    add("bad_body_recv_dst3_partial_dst_addr",
        seal(evt_raw(0x81, recv_fixed + b"\x24\x0a\xc4\xff\xee")), "bad_body")
    add("bad_body_recv_12_bytes", seal(evt_raw(0x81, recv_fixed[:12])), "bad_body")
    add("bad_body_recv_1491",
        seal(evt_raw(0x81, a + struct.pack("<BbBI", 0x0b, -50, 1, 1000) + pattern(1491, 10))),
        "bad_body")
    hello_fixed = encode_frame(vec["hello_event"])[2:-4][:47]
    add("bad_body_hello_idf_version_32",
        seal(evt_raw(0x80, hello_fixed + b"\x20" + b"v" * 32)), "bad_body")
    add("bad_body_hello_idf_version_past_end",
        seal(evt_raw(0x80, hello_fixed + b"\x06v5.4")), "bad_body")
    add("bad_body_hello_no_idf_version", seal(evt_raw(0x80, hello_fixed)), "bad_body")
    add("bad_body_log_text_201", seal(evt_raw(0x83, b"\x03\x00" + b"t" * 201)), "bad_body")
    add("bad_body_send_status_8_bytes",
        seal(evt_raw(0x82, struct.pack("<H", 0x010a) + a)), "bad_body")
    add("bad_body_dropped_10_bytes",
        seal(evt_raw(0x84, struct.pack("<BII", 1, 1, 1) + b"\x00")), "bad_body")
    add("bad_body_wifi_event_3_bytes", seal(evt_raw(0x85, b"\x01\x06\x00")), "bad_body")

    names = [r["name"] for r in R]
    assert len(names) == len(set(names)), "duplicate reject name"
    return R


# --------------------------------------------------------------------------
# Self-checks and output
# --------------------------------------------------------------------------


def check_vectors(vectors: list[dict]) -> None:
    for v in vectors:
        f = v["fields"]
        wire = encode_wire(f)
        assert 0 not in wire[:-1] and wire[-1] == 0
        dec = decode_wire(wire)
        # equal including key order
        assert json.dumps(dec) == json.dumps(f), (v["name"], dec, f)
        assert encode_wire(dec) == wire, v["name"]
        frame = cobs_decode(wire[:-1])
        assert len(cobs_encode(frame)) <= len(frame) + -(-len(frame) // 254)
        assert struct.unpack("<I", frame[-4:])[0] == crc32(frame[:-4])
        v["wire_hex"] = wire.hex()

    by = {v["name"]: v for v in vectors}
    # PROTOCOL.md 7.2: recv_event_250 is exactly 272 bytes on the wire
    assert len(bytes.fromhex(by["recv_event_250"]["wire_hex"])) == 250 + 6 + 16 == 272
    # PROTOCOL.md 11
    ex = cobs_decode(bytes.fromhex(by["ping_request_example"]["wire_hex"])[:-1])
    assert ex[:6] == bytes.fromhex("210100026869")
    assert ex[6:] == struct.pack("<I", binascii.crc32(bytes.fromhex("210100026869")))
    # minimal COBS at the 254 boundary
    w254 = bytes.fromhex(by["cobs_decoded_254_no_zero"]["wire_hex"])
    assert len(w254) == 256 and w254[0] == 0xFF
    w255 = bytes.fromhex(by["cobs_decoded_255_no_zero"]["wire_hex"])
    assert len(w255) == 258 and w255[0] == 0xFF and w255[255] == 0x02
    w508 = bytes.fromhex(by["cobs_decoded_508_no_zero"]["wire_hex"])
    assert len(w508) == 511 and w508[0] == 0xFF and w508[255] == 0xFF
    # coverage: every command has a request and an ok response, every event a vector
    seen = {(v["fields"]["kind"], v["fields"]["code"], v["fields"]["body"].get("err", 0) == 0)
            for v in vectors}
    for c in COMMANDS:
        assert ("request", c, True) in seen, c
        assert ("response", c, True) in seen, c
    for e in EVENTS:
        assert ("event", e, True) in seen, e
    errs = {v["fields"]["body"]["err"] for v in vectors if v["fields"]["kind"] == "response"}
    assert {-1, 0x102, 0x104, 0x106, 0x3002, 0x3065, 0x3069, 0x306B, 0xB001} <= errs


def check_rejects(rejects: list[dict]) -> None:
    for r in rejects:
        wire = bytes.fromhex(r["wire_hex"])
        try:
            decode_wire(wire)
        except Reject as e:
            assert e.reason == r["reason"], (r["name"], str(e))
        else:
            raise AssertionError(f"{r['name']} was not rejected")
        enc = wire[:-1]
        if r["reason"] != "oversize":
            assert len(enc) <= MAX_ENCODED, r["name"]
        # purity: fixing only the stated defect makes the frame acceptable
        if r["reason"] == "bad_crc":
            fr = cobs_decode(enc)
            decode_frame(fr[:-4] + struct.pack("<I", crc32(fr[:-4])))
        if r["reason"] == "bad_version":
            fr = cobs_decode(enc)
            raw = bytes([(PROTOCOL_VERSION << 4) | (fr[0] & 0x0F)]) + fr[1:-4]
            if fr[1] == 0x80 and fr[0] & 0x0F == 3:
                raw = raw[:-3]  # the v3 HELLO has 3 extra (future) bytes
            decode_frame(raw + struct.pack("<I", crc32(raw)))
    assert {r["reason"] for r in rejects} == set(REASONS)


def generate() -> bytes:
    vectors = build_vectors()
    check_vectors(vectors)
    rejects = build_rejects(vectors)
    check_rejects(rejects)
    out_vectors = []
    for v in vectors:
        o = {"name": v["name"]}
        if "comment" in v:
            o["comment"] = v["comment"]
        o["fields"] = v["fields"]
        o["wire_hex"] = v["wire_hex"]
        out_vectors.append(o)
    doc = {"protocol_version": PROTOCOL_VERSION, "vectors": out_vectors, "rejects": rejects}
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


OUT = Path(__file__).resolve().parents[2] / "Tests" / "Fixtures" / "protocol-vectors.json"


def main(argv: list[str]) -> int:
    data = generate()
    if argv[1:] == ["--check"]:
        if not OUT.exists():
            print(f"{OUT}: missing; run python3 tools/protocol/gen_vectors.py", file=sys.stderr)
            return 1
        if OUT.read_bytes() != data:
            print(f"{OUT}: differs from the generator output; "
                  "run python3 tools/protocol/gen_vectors.py", file=sys.stderr)
            return 1
        print(f"{OUT.name}: up to date")
        return 0
    if argv[1:]:
        print("usage: gen_vectors.py [--check]", file=sys.stderr)
        return 2
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_bytes(data)
    doc = json.loads(data)
    print(f"wrote {OUT}: {len(doc['vectors'])} vectors, {len(doc['rejects'])} rejects")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
