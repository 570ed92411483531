#!/usr/bin/env python3
"""Live-stream fan-out figure: N SSE clients on one gateway at its full ingest rate.

Starts `espnow gateway --port sim --http` with sensor nodes sending as fast as the
simulated air carries them, connects N `curl -N` clients to /api/stream (curl, so the
figure is the gateway's, not a Python reader's) plus one client that never reads,
and prints what each received. Prints, never fails.

usage: sse_clients.py ESPNOW_BINARY [--clients 50] [--seconds 20] [--nodes 4] [--interval-ms 2]
"""
import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def status(base):
    return json.loads(get(base + "/api/status")[1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("espnow")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--interval-ms", type=int, default=2)
    a = ap.parse_args()
    if not shutil.which("curl"):
        sys.exit("sse_clients: curl is needed (apt-get install curl)")
    tmp = tempfile.mkdtemp(prefix="espnow-sse-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = os.path.join(tmp, "gateway.toml")
    with open(cfg, "w") as f:
        nodes = ", ".join(f'"sensor,interval={a.interval_ms}"' for _ in range(a.nodes))
        f.write(f"sim_nodes = [{nodes}]\n[http]\nlisten = \"127.0.0.1:{port}\"\nstream_buffer = 4096\n")
    gw = subprocess.Popen([a.espnow, "gateway", "--config", cfg, "--port", "sim",
                           "--db", os.path.join(tmp, "gw.sqlite"), "--spool", os.path.join(tmp, "spool.sqlite")],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "gateway.log"), "w"),
                          start_new_session=True)
    clients, stalled = [], None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if get(base + "/readyz")[0] == 200 and any(d.get("connected") for d in status(base)["dongles"]):
                    break
            except Exception:
                pass
            if gw.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"sse_clients: the gateway did not become ready (see {tmp}/gateway.log)")
            time.sleep(0.2)
        for i in range(a.clients):
            out = open(os.path.join(tmp, f"client{i}.txt"), "wb")
            clients.append((subprocess.Popen(["curl", "-sN", base + "/api/stream"], stdout=out,
                                             stderr=subprocess.DEVNULL), out))
        # A client that connects and never reads: its buffer overflows, nobody else notices.
        stalled = socket.create_connection(("127.0.0.1", port))
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        time.sleep(2)
        s0, t0 = status(base), time.monotonic()
        time.sleep(a.seconds)
        s1, t1 = status(base), time.monotonic()
        for p, out in clients:
            p.send_signal(signal.SIGTERM)
        for p, out in clients:
            p.wait()
            out.close()
    finally:
        if stalled:
            stalled.close()
        for p, _ in clients:
            if p.poll() is None:
                p.kill()
        os.killpg(gw.pid, signal.SIGTERM)
        try:
            gw.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(gw.pid, signal.SIGKILL)
    got, dropped = [], []
    for i in range(a.clients):
        with open(os.path.join(tmp, f"client{i}.txt"), "rb") as f:
            text = f.read().decode("utf-8", "replace")
        got.append(text.count("event: reading\n"))
        d = 0
        for block in text.split("event: dropped\n")[1:]:
            line = block.split("\n", 1)[0]
            if line.startswith("data: "):
                d += json.loads(line[6:]).get("dropped", 0)
        dropped.append(d)
    dur = t1 - t0
    readings = s1["counters"]["readings"] - s0["counters"]["readings"]
    print(f"SSE fan-out: {a.clients} clients + 1 that never reads, {a.nodes} sensor nodes every {a.interval_ms} ms, "
          f"{dur:.1f} s measured")
    print(f"  ingest: {readings / dur:,.0f} readings/s stored while streaming "
          f"({s1['counters']['stored'] - s0['counters']['stored']:,} packets)")
    print(f"  per client: readings received min {min(got):,} / median {statistics.median(got):,.0f} / max {max(got):,}")
    keeping_up = sum(1 for d in dropped if d == 0)
    print(f"  clients with zero drops: {keeping_up} of {a.clients}; drops reported to the others: "
          f"{sum(dropped):,} in total")
    print(f"  gateway stream drops (all clients, incl. the one that never reads): {s1['streams']['dropped']:,}; "
          f"gateway drops by cause: {s1.get('drops', {})}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
