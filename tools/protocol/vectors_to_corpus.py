#!/usr/bin/env python3
"""Writes every vector's and reject's wire bytes as one file each: the fuzzers' seed corpus."""
import json
import pathlib
import sys

src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
doc = json.loads(src.read_text())
entries = doc["vectors"] + doc["rejects"]
for entry in entries:
    (out / entry["name"]).write_bytes(bytes.fromhex(entry["wire_hex"]))
# One seed with every frame back to back, so the splitter sees streams too.
(out / "all_frames_stream").write_bytes(b"".join(bytes.fromhex(e["wire_hex"]) for e in entries))
print(f"{len(entries) + 1} seeds in {out}")
