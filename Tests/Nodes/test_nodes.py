#!/usr/bin/env python3
"""Firmware nodes on the simulated air: ESP-IDF applications written for this
test (apps/) built with nodebuild.py and run by espnow-sim --node app=...

  test_nodes.py ESPNOW_SIM

Each scenario reads the coordinator's JSON lines until what it waits for has
happened (a generous wall-clock limit only guards against a hang) and asserts
on the logged values and the simulated times, which are exact in instant mode.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
NODEBUILD = os.path.join(REPO, "firmware-bridge", "host", "node", "nodebuild.py")
HANG_GUARD_S = 120
GW = "02:00:00:00:00:10"
checks = 0
failures = 0


def check(cond, what):
    global checks, failures
    checks += 1
    if not cond:
        failures += 1
        print(f"FAIL: {what}")


def build(app, tmp):
    out = subprocess.run([sys.executable, NODEBUILD, os.path.join(HERE, "apps", app), "--build-dir",
                          os.path.join(tmp, "build-" + app)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        raise SystemExit(f"build of {app} failed")
    return out.stdout.strip().splitlines()[-1]


class Sim:
    def __init__(self, sim, args, control=None):
        self.control = control
        self.p = subprocess.Popen([sim] + args + (["--control", control] if control else []),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []
        self.deadline = time.monotonic() + HANG_GUARD_S

    def until(self, pred):
        """Reads lines until pred(line) is true; returns that line."""
        while time.monotonic() < self.deadline:
            raw = self.p.stdout.readline()
            if not raw:
                break
            obj = json.loads(raw)
            self.lines.append(obj)
            if pred(obj):
                return obj
        raise AssertionError("simulator ended or hung before the expected line; stderr: " +
                             self.p.stderr.read1(4096).decode(errors="replace") if self.p.poll() is not None else "")

    def logs(self, node):
        return [(l["t_us"], l["log"]) for l in self.lines if l.get("node") == node]

    def ctl(self, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        for _ in range(100):
            try:
                s.connect(self.control)
                break
            except OSError:
                time.sleep(0.05)
        s.sendall((cmd + "\n").encode())
        r = s.recv(4096).decode()
        s.close()
        return r.strip()

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def sensor_lines(sim, n):
    sim.until(lambda l: l.get("node") == 1 and f"sleeping" in l.get("log", "") and
              f"reading={n}" in " ".join(x for _, x in sim.logs(1)))
    return sim.logs(1)


def scenario_sensor(simbin, gw, sensor, tmp):
    """Deep sleep: wakes on the timer with RTC memory, sends, gets the ack and its
    downlink right after the uplink, keeps the downlink in NVS, sleeps again."""
    sim = Sim(simbin, ["--node", f"app={gw},mac={GW}", "--node", f"app={sensor},mac=02:00:00:00:00:20",
                       "--seed", "7"])
    try:
        sim.until(lambda l: l.get("node") == 1 and "boot:" in l["log"] and "reading=6 " in l["log"])
        boots = [(t, l) for t, l in sim.logs(1) if "boot:" in l]
        check(len(boots) == 6, f"6 boots, got {len(boots)}")
        want_t = [1, 30000001, 60000001, 70000001, 80000001, 90000001]
        check([t for t, _ in boots] == want_t, f"wake times {[t for t, _ in boots]} == {want_t} (30 s twice, then the downlink's 10 s)")
        check("reset=1 wake=0 reading=1 sleep_s=30" in boots[0][1], "first boot: power-on, no wake cause, reading 1")
        for k, (_, l) in enumerate(boots[1:], start=2):
            check(f"reset=8 wake=4 reading={k} " in l, f"boot {k}: deep-sleep reset, timer wake, RTC counter {k}: {l}")
        acks = [l for _, l in sim.logs(1) if ": ack after" in l]
        check(len(acks) >= 5, "every reading acknowledged")
        check(all(f"reading {i + 1}: ack" in a for i, a in enumerate(acks)), "acks in order")
        check("downlink sleep_s=10" in acks[2], "the third ack carries the new interval")
        gw_reads = [l for _, l in sim.logs(0) if "reading " in l and " from 02:00:00:00:00:20" in l]
        check(len(gw_reads) >= 5, "the gateway logged the readings")
        sleeps = [l for l in sim.lines if l.get("event") == "deep_sleep"]
        check([s["sleep_us"] for s in sleeps[:5]] == [30000000, 30000000, 10000000, 10000000, 10000000],
              f"deep sleep durations {[s['sleep_us'] for s in sleeps[:5]]}")
        wakes = [l for l in sim.lines if l.get("event") == "deep_sleep_wake"]
        check(all(w["reset_reason"] == "deepsleep" for w in wakes), "restarts after deep sleep report reason deepsleep")
        return [(l.get("node"), l["t_us"], l["log"]) for l in sim.lines if "log" in l][:20]
    finally:
        sim.stop()


def scenario_power(simbin, gw, sensor, tmp):
    """Unplugging the node's power loses RTC memory but keeps NVS."""
    ctl = os.path.join(tmp, "ctl.sock")
    sim = Sim(simbin, ["--node", f"app={gw},mac={GW}", "--node", f"app={sensor},mac=02:00:00:00:00:20",
                       "--realtime"], control=ctl)
    try:
        # realtime: 30 s sleeps would take 30 s; the test only needs the first reading and the NVS write path
        sim.until(lambda l: l.get("node") == 1 and "sleeping" in l.get("log", ""))
        check(sim.ctl("unplug 1") == "OK", "unplug a firmware node")
        sim.until(lambda l: l.get("event") == "unplug" and l.get("index") == 1)
        check(sim.ctl("unplug 1").startswith("ERR"), "a second unplug is refused")
        check(sim.ctl("replug 1") == "OK", "replug")
        b = sim.until(lambda l: l.get("node") == 1 and "boot:" in l.get("log", ""))
        check("reset=1 wake=0 reading=1 " in b["log"], f"after power loss: power-on reset, RTC counter starts again: {b['log']}")
        check(sim.ctl("reboot 1 sw") == "OK", "reboot a firmware node")
        b = sim.until(lambda l: l.get("node") == 1 and "boot:" in l.get("log", ""))
        check("reset=3 " in b["log"], f"reboot with reason sw: {b['log']}")
    finally:
        sim.stop()


def scenario_nvs_kept(simbin, gw, sensor, tmp):
    """NVS survives a new simulator run given the same node directory (dir=)."""
    d = os.path.join(tmp, "sensor-dir")
    sim = Sim(simbin, ["--node", f"app={gw},mac={GW}", "--node", f"app={sensor},mac=02:00:00:00:00:20,dir={d}"])
    try:
        sim.until(lambda l: l.get("node") == 1 and "reading=4 " in l.get("log", ""))
    finally:
        sim.stop()
    check(os.path.exists(os.path.join(d, "nvs.bin")), "nvs.bin in the node directory")
    log = open(os.path.join(d, "console.log")).read()
    check("sensor: boot: reset=1 wake=0 reading=1 sleep_s=30" in log, "console.log keeps the node's lines")
    sim = Sim(simbin, ["--node", f"app={gw},mac={GW}", "--node", f"app={sensor},mac=02:00:00:00:00:20,dir={d}"])
    try:
        b = sim.until(lambda l: l.get("node") == 1 and "boot:" in l.get("log", ""))
        check("reset=1 wake=0 reading=1 sleep_s=10" in b["log"], f"a new run keeps the NVS interval: {b['log']}")
    finally:
        sim.stop()


def scenario_hopper(simbin, gw, hopper, tmp):
    """A node finds its gateway's channel by unicasts only the gateway acknowledges."""
    sim = Sim(simbin, ["--node", f"app={gw},mac={GW},channel=6", "--node", f"app={hopper},mac=02:00:00:00:00:30"])
    try:
        sim.until(lambda l: l.get("node") == 1 and ("found" in l.get("log", "") or "not found" in l.get("log", "")))
        logs = [l for _, l in sim.logs(1)]
        check([l.split("hopper: ")[1] for l in logs if "channel " in l and ":" in l.split("hopper: ")[1]] ==
              [f"channel {c}: no answer" for c in range(1, 6)] + ["channel 6: acknowledged"],
              f"channels 1-5 unanswered, 6 acknowledged: {logs}")
        check(any("found gateway on channel 6" in l for l in logs), "found on 6")
        hops = [t for t, l in sim.logs(1) if "channel " in l]
        check(hops[1] - hops[0] == 100000, f"100 ms between tries on the simulated clock ({hops[:2]})")
    finally:
        sim.stop()


def scenario_example_style(simbin, gw, sensor, tmp):
    """Same seed, same run: the log (order, times, values) repeats exactly (one node runs at a time)."""
    a = scenario_sensor(simbin, gw, sensor, tmp)
    b = scenario_sensor(simbin, gw, sensor, tmp)
    check(a == b and len(a) == 20, "two runs print the same first 20 lines in the same order at the same simulated times")


def scenario_missing_symbol(tmp):
    """An API the runtime does not have fails the link, naming it."""
    proj = os.path.join(tmp, "unsupported")
    os.makedirs(os.path.join(proj, "main"), exist_ok=True)
    with open(os.path.join(proj, "main", "CMakeLists.txt"), "w") as f:
        f.write('idf_component_register(SRCS "main.c" INCLUDE_DIRS ".")\n')
    with open(os.path.join(proj, "main", "main.c"), "w") as f:
        f.write('#include "esp_err.h"\nesp_err_t gpio_set_level(int pin, unsigned level);\n'
                'esp_err_t esp_wifi_connectionless_module_set_wake_interval(unsigned short ms);\n'
                'void app_main(void) { gpio_set_level(2, 1); esp_wifi_connectionless_module_set_wake_interval(100); }\n')
    r = subprocess.run([sys.executable, NODEBUILD, proj], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(r.returncode != 0, "the build fails")
    check("not provided by the node runtime" in r.stderr and "esp_wifi_connectionless_module_set_wake_interval" in r.stderr
          and "gpio_set_level" in r.stderr, "the error lists both missing symbols: " + r.stderr.strip().splitlines()[-1])


def main():
    simbin = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        gw, sensor, hopper = build("gateway", tmp), build("sensor", tmp), build("hopper", tmp)
        for name, fn in [("sensor deep sleep + downlink", lambda: scenario_sensor(simbin, gw, sensor, tmp)),
                         ("determinism", lambda: scenario_example_style(simbin, gw, sensor, tmp)),
                         ("NVS kept across runs", lambda: scenario_nvs_kept(simbin, gw, sensor, tmp)),
                         ("power unplug/replug/reboot", lambda: scenario_power(simbin, gw, sensor, tmp)),
                         ("channel hopping", lambda: scenario_hopper(simbin, gw, hopper, tmp)),
                         ("missing symbols", lambda: scenario_missing_symbol(tmp))]:
            before = failures
            fn()
            print(f"{'ok  ' if failures == before else 'FAIL'} {name}")
    print(f"{checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
