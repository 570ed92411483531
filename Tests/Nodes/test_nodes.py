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
import shutil
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
    src = os.path.join(HERE, "sketches", app, app + ".ino") if app in ("sender", "receiver", "sleepy") else os.path.join(HERE, "apps", app)
    out = subprocess.run([sys.executable, NODEBUILD, src, "--build-dir",
                          os.path.join(tmp, "build-" + os.path.basename(app))], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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


def scenario_arduino(simbin, sender, receiver):
    """Two tutorial-style Arduino sketches: a struct every 2 s, printed field by field."""
    sim = Sim(simbin, ["--node", f"app={sender},mac=02:00:00:00:00:40", "--node", f"app={receiver},mac=02:00:00:00:00:50"])
    try:
        sim.until(lambda l: l.get("node") == 1 and l.get("log", "").startswith("From:") and "at 6000 ms" in l["log"])
        snd = sim.logs(0)
        check(snd[0] == (1, "Sender MAC: 02:00:00:00:00:40"), f"WiFi.macAddress(): {snd[0]}")
        # The receiver boots after the sender's first send: that one is not acknowledged.
        status = [(t, l) for t, l in snd if l.startswith("Last Packet")]
        check(status[0] == (1, "Last Packet Send Status: Delivery Fail"), f"first send: {status[0]}")
        check(status[1:3] == [(2000001, "Last Packet Send Status: Delivery Success"), (4000001, "Last Packet Send Status: Delivery Success")],
              f"then delivered every 2 s of simulated time (delay(2000)): {status[1:3]}")
        rcv = [l for _, l in sim.logs(1)]
        check(rcv[0] == "Receiver MAC: 02:00:00:00:00:50", rcv[0])
        check(rcv[1] == "Channel: 1", f"WiFi.channel(): {rcv[1]}")
        check(rcv[2:9] == ["Bytes received: 44", "Char: THIS IS A CHAR", "Int: 1", "Float: 1.20", "Bool: 0",
                           "From: 02:00:00:00:00:40 at 2000 ms", "Bytes received: 44"], f"the struct's fields: {rcv[2:9]}")
    finally:
        sim.stop()


def scenario_arduino_sleep(simbin, sleepy):
    """A tutorial-style deep-sleep sketch: RTC_DATA_ATTR boot count, timer wake-up, ESP.restart."""
    sim = Sim(simbin, ["--node", f"app={sleepy}"])
    try:
        sim.until(lambda l: l.get("event") == "deep_sleep_wake" and l.get("boot") == 6)
        lg = [(t, l) for t, l in sim.logs(0)]
        boots = [(t, l) for t, l in lg if l.startswith("Boot number")]
        check(boots == [(1, "Boot number: 1"), (10001001, "Boot number: 2"), (20002001, "Boot number: 3"),
                        (30003001, "Boot number: 4"), (30003001, "Boot number: 1")],
              f"boot count kept across deep sleep, lost on ESP.restart; 10 s sleeps after 1 ms of waiting: {boots}")
        check(sum(l == "Wakeup caused by timer" for _, l in lg) == 3, "three timer wake-ups")
        check(("Restarting" in [l for _, l in lg]), "ESP.restart after the fourth boot")
        ev = [(l["event"], l["reset_reason"]) for l in sim.lines if l.get("event") in ("deep_sleep_wake", "restart")]
        check(ev == [("deep_sleep_wake", "deepsleep")] * 3 + [("restart", "sw"), ("deep_sleep_wake", "deepsleep")], f"{ev}")
    finally:
        sim.stop()


def scenario_secure(simbin, secure, secure_wrong):
    """An encrypted pair (PMK + LMK): three secrets answered; a responder with another LMK hears nothing."""
    ini, rsp = "02:00:00:00:00:70", "02:00:00:00:00:80"
    sim = Sim(simbin, ["--node", f"app={secure},mac={ini}", "--node", f"app={secure},mac={rsp}"])
    try:
        sim.until(lambda l: l.get("node") == 0 and l.get("log", "").endswith("done"))
        r = [l.split("secure: ")[1] for _, l in sim.logs(1)]
        i = [l.split("secure: ")[1] for _, l in sim.logs(0)]
        check(r[1:] == [f'got "secret {k}" from {ini}' for k in (1, 2, 3)], f"responder decrypted all three: {r}")
        check(i[1:] == [f'got "reply to secret {k}" from {rsp}' for k in (1, 2, 3)] + ["done"], f"initiator got the replies: {i}")
    finally:
        sim.stop()
    sim = Sim(simbin, ["--node", f"app={secure},mac={ini}", "--node", f"app={secure_wrong},mac={rsp}"])
    try:
        sim.until(lambda l: l.get("node") == 0 and l.get("log", "").endswith("done"))
        check(not any("got" in l for _, l in sim.logs(1)), "a responder with another LMK receives nothing")
        i = [l.split("secure: ")[1] for _, l in sim.logs(0)]
        check(i[1:] == [f"secret {k}: no reply" for k in (1, 2, 3)] + ["done"], f"no replies: {i}")
        t = [t for t, l in sim.logs(0) if "no reply" in l]
        check(t == [1500001, 2500001, 3500001], f"each wait times out after 1 s of simulated time: {t}")
    finally:
        sim.stop()


def scenario_relay(simbin, gw, relay, sensor, tmp):
    """A relay between a sensor and a gateway that cannot hear each other (scene link with loss 1)."""
    scene = os.path.join(tmp, "relay.json")
    with open(scene, "w") as f:
        json.dump({"dongles": 1, "nodes": [
            {"script": "firmware", "app": gw, "sta_mac": "02:00:00:00:00:60"},
            {"script": "firmware", "app": relay, "sta_mac": GW},
            {"script": "firmware", "app": sensor, "sta_mac": "02:00:00:00:00:20"}],
            "links": [{"a": 1, "b": 3, "loss": 1.0}]}, f)
    sim = Sim(simbin, ["--scene", scene])
    try:
        sim.until(lambda l: l.get("node") == 3 and "reading=3 " in l.get("log", ""))
        g = [l for _, l in sim.logs(1) if "reading " in l]
        check(len(g) >= 2 and all("from 02:00:00:00:00:10" in l for l in g), f"the gateway hears the readings through the relay only: {g}")
        r = [l.split("relay: ")[1] for _, l in sim.logs(2)]
        check(r[:4] == ["02:00:00:00:00:20 -> gateway: 7 bytes", "gateway -> 02:00:00:00:00:20: 7 bytes"] * 2, f"relay both ways: {r[:4]}")
        check(sum("ack after" in l for _, l in sim.logs(3)) >= 2, "the sensor gets its acks through the relay")
    finally:
        sim.stop()


def scenario_lifecycle(simbin, sender, life):
    """Software and esp_timer timers, light sleep (radio off), esp_restart, a panic; RTC no-init memory survives both resets."""
    sim = Sim(simbin, ["--node", f"app={sender},mac=02:00:00:00:00:40", "--node", f"app={life},mac=02:00:00:00:00:50"])
    try:
        sim.until(lambda l: l.get("node") == 1 and l.get("log", "").endswith("life: done"))
        lg = [(t, l.split("life: ")[1]) for t, l in sim.logs(1) if "life: " in l]
        want = [(1, "boot 1 reset=1"), (100001, "timer tick 1"), (200001, "timer tick 2"), (250001, "esp_timer fired"),
                (300001, "timer tick 3"), (300001, "both timers done (bits 3) at 300000 us"),
                (5300001, "light sleep: 5000000 us, cause 4"), (6000001, "heard 44 bytes"), (8000001, "heard 44 bytes"),
                (8300001, "boot 2 reset=3"), (9300001, "boot 3 reset=4"), (9300001, "done")]
        check(lg == want, f"timers, light sleep, restart, panic in order at exact times: {lg}")
        st = [(t, l) for t, l in sim.logs(0) if l.startswith("Last Packet")]
        check([l.endswith("Fail") for t, l in st if 1000000 < t < 5300001] == [True, True],
              f"frames sent during the light sleep are not acknowledged: {st[:4]}")
        check(any("Guru Meditation Error: Aborted" in l for _, l in sim.logs(1)), "abort() prints a panic")
        ev = [(l["event"], l["reset_reason"]) for l in sim.lines if l.get("index") == 1 and "event" in l]
        check(ev == [("restart", "sw"), ("panic", "panic")], f"restart then panic reboot: {ev}")
    finally:
        sim.stop()


def scenario_idf55(simbin, tmp):
    """--idf 5.5: the send callback gets v5.5's esp_now_send_info_t; ESP_IDF_VERSION says 5.5."""
    proj = os.path.join(tmp, "idf55")
    os.makedirs(os.path.join(proj, "main"), exist_ok=True)
    with open(os.path.join(proj, "main", "CMakeLists.txt"), "w") as f:
        f.write('idf_component_register(SRCS "main.c" INCLUDE_DIRS ".")\n')
    with open(os.path.join(proj, "main", "main.c"), "w") as f:
        f.write(r"""#include <string.h>
#include "esp_idf_version.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_now.h"
#include "esp_wifi.h"
#if ESP_IDF_VERSION < ESP_IDF_VERSION_VAL(5, 5, 0)
#error "built as 5.5"
#endif
static void sent(const esp_now_send_info_t *tx, esp_now_send_status_t st)
{
    ESP_LOGI("v55", "to " MACSTR " from " MACSTR " if %d status %d tx_status %d", MAC2STR(tx->des_addr),
             MAC2STR(tx->src_addr), (int)tx->ifidx, (int)st, (int)tx->tx_status);
}
void app_main(void)
{
    wifi_init_config_t cfg = WIFI_INIT_CONFIG_DEFAULT();
    ESP_ERROR_CHECK(esp_wifi_init(&cfg));
    ESP_ERROR_CHECK(esp_wifi_set_mode(WIFI_MODE_STA));
    ESP_ERROR_CHECK(esp_wifi_start());
    ESP_ERROR_CHECK(esp_now_init());
    ESP_ERROR_CHECK(esp_now_register_send_cb(sent));
    esp_now_peer_info_t p = { .ifidx = WIFI_IF_STA };
    memset(p.peer_addr, 0xff, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&p));
    uint8_t lonely[6] = { 2, 0, 0, 0, 0, 0x99 };
    memcpy(p.peer_addr, lonely, 6);
    ESP_ERROR_CHECK(esp_now_add_peer(&p));
    ESP_ERROR_CHECK(esp_now_send(p.peer_addr, (const uint8_t *)"x", 1));
    memset(p.peer_addr, 0xff, 6);
    ESP_ERROR_CHECK(esp_now_send(p.peer_addr, (const uint8_t *)"y", 1));
}
""")
    r = subprocess.run([sys.executable, NODEBUILD, proj, "--idf", "5.5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(r.returncode == 0, "a v5.5-style application builds with --idf 5.5: " + r.stderr[-300:])
    r4 = subprocess.run([sys.executable, NODEBUILD, proj, "--build-dir", os.path.join(tmp, "idf55-as-54")],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    check(r4.returncode != 0 and "built as 5.5" in r4.stderr, "without --idf 5.5 it is built against v5.4")
    if r.returncode != 0:
        return
    sim = Sim(simbin, ["--node", f"app={r.stdout.strip().splitlines()[-1]},mac=02:00:00:00:00:30"])
    try:
        sim.until(lambda l: l.get("node") == 0 and "to ff:ff" in l.get("log", ""))
        lg = [l.split("v55: ")[1] for _, l in sim.logs(0)]
        check(lg == ["to 02:00:00:00:00:99 from 02:00:00:00:00:30 if 0 status 1 tx_status 1",
                     "to ff:ff:ff:ff:ff:ff from 02:00:00:00:00:30 if 0 status 0 tx_status 0"], f"send info: {lg}")
    finally:
        sim.stop()


def scenario_apicheck(simbin, api):
    """The runtime's API behaviour checked from inside a node (apps/apicheck: CRC check values,
    NVS codes, queues, semaphores, mutexes, priorities, event groups, notifications, esp_event, esp_timer)."""
    sim = Sim(simbin, ["--node", f"app={api}"])
    try:
        sim.until(lambda l: l.get("node") == 0 and "checks done" in l.get("log", ""))
        lines = [l for _, l in sim.logs(0)]
        fails = [l for l in lines if ": FAIL" in l]
        check(not fails, f"failed checks: {fails}")
        check(sum(": ok" in l for l in lines) == 45, f"45 checks ran, {sum(': ok' in l for l in lines)} ok")
        check(lines[-1].endswith("checks done, 0 failed"), lines[-1])
    finally:
        sim.stop()


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
        sender, receiver = build("sender", tmp), build("receiver", tmp)
        relay, secure, life = build("relay", tmp), build("secure", tmp), build("lifecycle", tmp)
        api, sleepy = build("apicheck", tmp), build("sleepy", tmp)
        wrong = os.path.join(tmp, "secure-wrong-key")
        shutil.copytree(os.path.join(HERE, "apps", "secure"), wrong)
        with open(os.path.join(wrong, "sdkconfig.defaults"), "w") as f:
            f.write('CONFIG_SECURE_LMK="another-lmk-key!"\n')
        secure_wrong = build(wrong, tmp)
        for name, fn in [("sensor deep sleep + downlink", lambda: scenario_sensor(simbin, gw, sensor, tmp)),
                         ("determinism", lambda: scenario_example_style(simbin, gw, sensor, tmp)),
                         ("NVS kept across runs", lambda: scenario_nvs_kept(simbin, gw, sensor, tmp)),
                         ("power unplug/replug/reboot", lambda: scenario_power(simbin, gw, sensor, tmp)),
                         ("channel hopping", lambda: scenario_hopper(simbin, gw, hopper, tmp)),
                         ("Arduino sketches", lambda: scenario_arduino(simbin, sender, receiver)),
                         ("Arduino deep sleep and restart", lambda: scenario_arduino_sleep(simbin, sleepy)),
                         ("encrypted pair", lambda: scenario_secure(simbin, secure, secure_wrong)),
                         ("relay", lambda: scenario_relay(simbin, gw, relay, sensor, tmp)),
                         ("timers, light sleep, restart, panic", lambda: scenario_lifecycle(simbin, sender, life)),
                         ("ESP-IDF v5.5 send callback", lambda: scenario_idf55(simbin, tmp)),
                         ("API behaviour", lambda: scenario_apicheck(simbin, api)),
                         ("missing symbols", lambda: scenario_missing_symbol(tmp))]:
            before = failures
            fn()
            print(f"{'ok  ' if failures == before else 'FAIL'} {name}")
    print(f"{checks - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
