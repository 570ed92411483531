#!/usr/bin/env python3
"""Seeds the fuzzers from the shared vectors.

vectors_to_corpus.py VECTORS OUT_WIRE [OUT_DISPATCH]
  OUT_WIRE:     every vector's and reject's wire bytes (the broker part's too: BROKER_OPEN),
                one file each, plus one stream with all of them back to back (frame
                decoders, splitters, the broker's client decoder).
  OUT_DISPATCH: every request vector as [code][body length, u16 LE][body], the
                input format of Tests/Fuzz/c/fuzz_dispatcher.c.
"""
import json
import pathlib
import sys


def cobs_decode(data: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(data):
        code = data[i]
        out += data[i + 1:i + code]
        i += code
        if code != 0xFF and i < len(data):
            out.append(0)
    return bytes(out)


src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
doc = json.loads(src.read_text())
broker = doc.get("broker", {})
entries = doc["vectors"] + doc["rejects"] + broker.get("vectors", []) + broker.get("rejects", [])
for entry in entries:
    (out / entry["name"]).write_bytes(bytes.fromhex(entry["wire_hex"]))
(out / "all_frames_stream").write_bytes(b"".join(bytes.fromhex(e["wire_hex"]) for e in entries))
print(f"{len(entries) + 1} seeds in {out}")

if len(sys.argv) > 3:
    dispatch = pathlib.Path(sys.argv[3])
    dispatch.mkdir(parents=True, exist_ok=True)
    requests = [v for v in doc["vectors"] if v["fields"]["kind"] == "request"]
    for v in requests:
        frame = cobs_decode(bytes.fromhex(v["wire_hex"])[:-1])
        code, body = frame[3], frame[4:-4]
        (dispatch / v["name"]).write_bytes(bytes([code]) + len(body).to_bytes(2, "little") + body)
    print(f"{len(requests)} seeds in {dispatch}")
