#!/usr/bin/python3
"""The dashboard in a real browser: headless Chromium driven through chromedriver
(Debian's chromium, chromium-driver and python3-selenium) against the real gateway,
`espnow gateway --port sim --http 127.0.0.1:PORT`, with its simulated sensor nodes.

Checks: the node table lists the sensors the simulator announced; a new reading reaches
the table over the live stream without a reload (and is a stored reading); the chart's SVG
plots the readings; a downlink sent from the form is refused without the gateway's token,
then, with the token entered in the page, delivered to the simulated node (acknowledged by
its radio: the state the page shows and the API's agree); the layout fits a phone's width;
the page logs no errors. Saves screenshots in the output folder. Every wait is a hang
guard, never a timing assertion. Every process started here is stopped, also on failure.

usage: dashboard_test.py ESPNOW_BINARY [--out DIR]
"""
import argparse
import base64
import json
import os
import re
import signal
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

GUARD = 90          # seconds: hang guard of each wait (a busy machine is slow, never this slow)
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def get_json(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read().decode())


def wait_for(what, fn, guard=None, every=0.2):
    """Polls fn until it returns something truthy; fails naming `what` after the guard."""
    guard = guard or GUARD
    end = time.monotonic() + guard
    last = None
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                return v
        except Failure:
            raise
        except Exception as e:  # not up yet
            last = e
        time.sleep(every)
    raise Failure(f"timed out ({guard} s hang guard) waiting for {what}" + (f": {last}" if last else ""))


class Gateway:
    """`espnow gateway --port sim --http ...` in its own process group."""

    def __init__(self, binary, work):
        self.base = None
        self.token = secrets.token_hex(16)      # writes need it (reads on loopback do not)
        self.log_path = os.path.join(work, "gateway.log")
        self.log = open(self.log_path, "w+")
        env = {k: v for k, v in os.environ.items() if k not in ("ESPNOW_PORT", "ESPNOW_PORTS")}
        env["ESPNOW_GATEWAY_TOKEN"] = self.token
        self.proc = subprocess.Popen(
            [binary, "gateway", "--port", "sim", "--http", "127.0.0.1:0",
             "--db", os.path.join(work, "gateway.sqlite"), "--spool", os.path.join(work, "spool.sqlite"), "--quiet"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()

    def sensor_macs(self):
        """The MACs of the sensor nodes the simulator announced on start."""
        def announced():
            if self.proc.poll() is not None:
                raise Failure(f"the gateway exited with {self.proc.returncode}:\n{self.output()}")
            m = re.search(r"sensor nodes: (.*)", self.output())
            return m and re.findall(r"sensor ([0-9a-f]{2}(?::[0-9a-f]{2}){5})", m.group(1))
        return wait_for("the simulator's sensor nodes", announced)

    def wait_ready(self):
        """The address the server reports (it binds port 0: any free port), then /healthz."""
        def listening():
            if self.proc.poll() is not None:
                raise Failure(f"the gateway exited with {self.proc.returncode}:\n{self.output()}")
            m = re.search(r"(http://127\.0\.0\.1:\d+)/", self.output())
            return m and m.group(1)
        self.base = wait_for("the HTTP server's address", listening)
        wait_for("the gateway's /healthz", lambda: get_json(self.base, "/healthz").get("status") == "ok")

    def stop(self):
        """SIGTERM (a clean shutdown, exit 0); the whole group killed if it does not end."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=GUARD)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)   # anything of its group still alive
        except ProcessLookupError:
            pass
        if self.proc.poll() is None:
            self.proc.wait()
        self.log.close()
        return self.proc.returncode


def start_browser(work):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,1100", "--no-first-run", "--disable-extensions",
              f"--user-data-dir={os.path.join(work, 'chromium-profile')}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_path=os.path.join(work, "chromedriver.log"))
    return webdriver.Chrome(service=service, options=opts)


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def full_page_screenshot(driver, path):
    """The whole page, not only the viewport (Chrome DevTools' Page.captureScreenshot)."""
    w, h = js(driver, "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True, "clip": {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}})
    with open(path, "wb") as f:
        f.write(base64.b64decode(shot["data"]))


def run(binary, out_dir, work):
    gw = Gateway(binary, work)
    driver = None
    try:
        macs = gw.sensor_macs()
        check(len(macs) >= 2, f"the simulator announced {macs}, expected its two sensors")
        gw.wait_ready()
        print(f"gateway on {gw.base}; simulated sensors {', '.join(macs)}")

        driver = start_browser(work)
        wait = wait_for
        driver.get(gw.base + "/")
        check("espnow gateway" in driver.title, f"page title {driver.title!r}")
        js(driver, "window.__loadedOnce = 42")   # gone if the page reloads

        # 1. The node table lists every simulated sensor with its decoded values.
        def rows():
            return js(driver, """return [...document.querySelectorAll('#nodes-body tr[data-mac]')].map(r => ({
                mac: r.dataset.mac,
                fields: [...r.querySelectorAll('button.value')].map(b => b.dataset.field),
                text: r.textContent}))""")
        wait("a row with values for each sensor",
             lambda: all(any(r["mac"] == m and "temperature" in r["fields"] for r in rows()) for m in macs))
        for m in macs:
            r = next(r for r in rows() if r["mac"] == m)
            check("°C" in r["text"] and "%" in r["text"], f"row {m} shows no units: {r['text']!r}")
        headers = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "#nodes-table thead th")]
        check(headers[:3] == ["Name", "MAC", "Last values"], f"table headers {headers}")
        print(f"node table: {len(rows())} rows, sensors {macs} present with units")

        # 2. A new reading arrives over the stream, without a reload.
        wait("the live stream open", lambda: js(driver, "return document.getElementById('stream-status').dataset.state") == "open")
        cell = f"#nodes-body tr[data-mac='{macs[0]}'] button.value[data-field='temperature']"
        before = int(driver.find_element(By.CSS_SELECTOR, cell).get_attribute("data-time-us"))
        events_before = int(js(driver, "return document.getElementById('stream-status').dataset.events"))

        def streamed():
            e = driver.find_element(By.CSS_SELECTOR, cell)
            return e.get_attribute("data-source") == "stream" and int(e.get_attribute("data-time-us")) > before
        wait("a streamed temperature of " + macs[0], streamed)
        events = int(js(driver, "return document.getElementById('stream-status').dataset.events"))
        e = driver.find_element(By.CSS_SELECTOR, cell)
        shown = (int(e.get_attribute("data-time-us")), float(e.get_attribute("data-value")))
        stored = get_json(gw.base, f"/api/readings?node={macs[0]}&field=temperature&limit=100")["readings"]
        check(any((r["timeUs"], r["value"]) == shown for r in stored), f"the streamed {shown} is not among the stored readings")
        check(events > events_before, f"stream event count {events_before} -> {events}")
        check(js(driver, "return window.__loadedOnce") == 42, "the page reloaded")
        print(f"live stream: temperature of {macs[0]} updated by the stream ({events - events_before} events meanwhile)")

        # 3. The chart plots that sensor's temperature over the last 15 minutes.
        Select(driver.find_element(By.ID, "chart-node")).select_by_value(macs[0])
        Select(driver.find_element(By.ID, "chart-field")).select_by_value("temperature")
        driver.find_element(By.CSS_SELECTOR, "#chart-range input[value='900']").click()
        driver.find_element(By.ID, "chart-draw").click()

        def plotted():
            return js(driver, """const c = document.getElementById('chart');
                const s = c.querySelector('svg');
                if (!s || c.dataset.node !== arguments[0] || c.dataset.field !== 'temperature') return null;
                const w = Number(s.getAttribute('width')), h = Number(s.getAttribute('height'));
                const pts = [...s.querySelectorAll('circle.pt')];
                const line = s.querySelector('path.series');
                return {points: Number(c.dataset.points), circles: pts.length, w, h,
                        drawn: line ? Number(line.dataset.drawn) : 0, path: line ? line.getAttribute('d') : '',
                        inside: pts.every(p => +p.getAttribute('cx') >= 0 && +p.getAttribute('cx') <= w && +p.getAttribute('cy') >= 0 && +p.getAttribute('cy') <= h),
                        labels: [...s.querySelectorAll('text')].map(t => t.textContent)}""", macs[0])
        p = wait("at least two plotted temperatures", lambda: (lambda p: p if p and p["drawn"] >= 2 else None)(plotted()))
        check(p["drawn"] <= p["points"], f"chart draws {p['drawn']} points for {p['points']} readings")
        check(len(re.findall(r"[ML]", p["path"])) == p["drawn"], f"the line has not {p['drawn']} points: {p['path'][:80]}")
        check(p["circles"] in (0, p["drawn"]), f"{p['circles']} markers for {p['drawn']} points")
        check(p["inside"], "a plotted point lies outside the chart")
        check(any("°C" in t for t in p["labels"]), f"no unit on the value axis: {p['labels']}")
        check(sum(1 for t in p["labels"] if re.fullmatch(r"\d\d:\d\d(:\d\d)?", t)) >= 2, f"no time axis labels: {p['labels']}")
        print(f"chart: {p['drawn']} points plotted of {p['points']} readings")

        # 4. A downlink from the form reaches the second sensor (its radio acknowledges it).
        # Writes need the token: refused without it, sent once it is entered in the page.
        result = lambda: driver.find_element(By.ID, "downlink-result")
        Select(driver.find_element(By.ID, "downlink-node")).select_by_value(macs[1])
        driver.find_element(By.ID, "downlink-kind-text").click()
        box = driver.find_element(By.ID, "downlink-payload")
        box.clear()
        box.send_keys("interval=60")
        driver.find_element(By.ID, "downlink-send").click()
        wait("the refusal without a token", lambda: result().get_attribute("data-state") == "error")
        check("access token" in result().text, f"a write without the token: {result().text!r}")
        check(get_json(gw.base, f"/api/nodes/{macs[1]}/downlinks")["downlinks"] == [], "a downlink was queued without the token")
        driver.find_element(By.ID, "token").send_keys(gw.token)
        driver.find_element(By.ID, "token-save").click()
        check(js(driver, "return Object.values(sessionStorage).includes(arguments[0]) && !Object.values(localStorage).includes(arguments[0])", gw.token),
              "the token is not kept in sessionStorage only")
        driver.find_element(By.ID, "downlink-send").click()
        wait("the downlink queued", lambda: result().get_attribute("data-id") not in ("", None))
        dl_id = result().get_attribute("data-id")
        check(result().get_attribute("data-state") != "error", f"the form reported {result().text!r}")
        wait(f"downlink #{dl_id} delivered", lambda: result().get_attribute("data-state") in ("delivered", "failed"))
        check(result().get_attribute("data-state") == "delivered", f"downlink ended {result().text!r}")
        d = get_json(gw.base, f"/api/downlinks/{dl_id}")
        check(d["state"] == "delivered" and d["node"] == macs[1], f"the API says {d}")
        wait("the downlink listed as delivered",
             lambda: driver.find_elements(By.CSS_SELECTOR, f"#downlinks-body tr[data-id='{dl_id}'][data-state='delivered']"))
        print(f"downlink #{dl_id} to {macs[1]}: delivered after {d.get('attempts')} attempt(s)")

        # 5. Gateway panel: the simulated dongle connected, the database ready; the stream
        # back (it reconnected to send the token).
        wait("the stream open again", lambda: js(driver, "return document.getElementById('stream-status').dataset.state") == "open")
        wait("the dongle listed as connected",
             lambda: driver.find_elements(By.CSS_SELECTOR, "#dongles-body tr td.ok"))
        wait("ready", lambda: driver.find_element(By.ID, "health-ready").get_attribute("data-ready") == "true")

        os.makedirs(out_dir, exist_ok=True)
        shot = os.path.join(out_dir, "dashboard.png")
        full_page_screenshot(driver, shot)

        # 6. A phone's width: nothing wider than the screen, the table scrolls in its box.
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True})
        # A mobile viewport widens to content that does not fit: then innerWidth exceeds 390.
        inner = wait("the phone's viewport", lambda: (lambda w: w if w < 1280 else None)(js(driver, "return window.innerWidth")))
        check(inner == 390, f"the page is wider than a phone's screen (viewport {inner} px, not 390)")
        wait("the chart redrawn at the phone's width", lambda: js(driver, """const c = document.getElementById('chart');
            const s = c.querySelector('svg'); return s && Number(s.getAttribute('width')) === Math.max(280, Math.floor(c.clientWidth))
                && c.clientWidth < 390 && c.dataset.field === 'temperature'"""))
        overflow = js(driver, "return document.documentElement.scrollWidth - window.innerWidth")
        check(overflow <= 0, f"the page is {overflow} px wider than a phone's screen")
        phone = os.path.join(out_dir, "dashboard-phone.png")
        full_page_screenshot(driver, phone)

        # 7. No script errors or failed requests logged by the page (but the refused write).
        refused = f"/api/nodes/{macs[1]}/downlinks - Failed to load resource: the server responded with a status of 401"
        errors = [e for e in driver.get_log("browser") if e.get("level") == "SEVERE" and refused not in e.get("message", "")]
        check(not errors, f"browser console errors: {errors}")
        print(f"screenshots: {shot}, {phone}")
    except Exception:
        print("--- gateway output ---\n" + gw.output()[-4000:], file=sys.stderr)
        raise
    finally:
        if driver is not None:
            driver.quit()
        code = gw.stop()
    check(code == 0, f"the gateway exited with {code} after SIGTERM")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--out", default=".build")
    a = ap.parse_args()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="espnow-browser-") as work:
        try:
            run(os.path.abspath(a.binary), a.out, work)
        except Failure as e:
            print(f"FAIL: {e}", file=sys.stderr)
            return 1
    print(f"dashboard browser test passed ({time.monotonic() - start:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
