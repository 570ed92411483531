#!/usr/bin/env python3
"""Builds an ESP-IDF application (PROJECT/main + PROJECT/components) or an
Arduino sketch (SKETCH.ino) into a node executable for espnow-sim.

  nodebuild.py PATH [-o OUTPUT] [--build-dir DIR] [--kconfig-python PY]

Configuration as idf.py does it: the runtime's Kconfig options, then the
project's main/Kconfig.projbuild and components' Kconfig/Kconfig.projbuild,
with sdkconfig.defaults (and an existing sdkconfig), through ESP-IDF's own
kconfgen (PyPI package esp-idf-kconfig, in a venv: .build-node/venv, made on
first use). Sources: what each component's CMakeLists.txt registers (SRCS /
SRC_DIRS, INCLUDE_DIRS / PRIV_INCLUDE_DIRS), compiled with the system C
compiler against firmware-bridge/host/node and the ESP-IDF emulation. A
symbol the runtime does not provide fails the link with the list of them.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = os.path.dirname(HERE)
REPO = os.path.dirname(os.path.dirname(HOST))
IDF_INC = os.path.join(HOST, "idf", "include")
NODE_INC = os.path.join(HERE, "include")
ARDUINO_DIR = os.path.join(HERE, "arduino")
RUNTIME_SRCS = sorted(glob.glob(os.path.join(HERE, "src", "*.c"))) + \
    sorted(glob.glob(os.path.join(HOST, "idf", "src", "*.c")))
KCONFIG_PKG = "esp-idf-kconfig>=2.5,<4"


def fail(msg):
    print(f"espnow node build: {msg}", file=sys.stderr)
    sys.exit(1)


def run(cmd, what):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        explain(p.stdout, what)
    return p.stdout


def explain(out, what):
    missing = sorted(set(re.findall(r"undefined reference to [`']([^'`]+)'", out)))
    headers = sorted(set(re.findall(r"fatal error: ([^:\s]+): No such file or directory", out)))
    sys.stderr.write(out)
    if missing:
        fail("not provided by the node runtime (see docs/NODES.md): " + ", ".join(missing))
    if headers:
        fail("header not provided by the node runtime (see docs/NODES.md): " + ", ".join(headers))
    fail(f"{what} failed")


def kconfig_python(given):
    if given:
        return given
    env = os.environ.get("ESPNOW_KCONFIG_PYTHON")
    if env:
        return env
    venv = os.path.join(REPO, ".build-node", "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        print(f"espnow node build: creating {venv} with {KCONFIG_PKG}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", KCONFIG_PKG], check=True)
    return py


def cmake_register(cmakelists):
    """SRCS, SRC_DIRS, INCLUDE_DIRS, PRIV_INCLUDE_DIRS of idf_component_register (literal values only)."""
    if not os.path.exists(cmakelists):
        return None
    text = re.sub(r"#[^\n]*", "", open(cmakelists).read())
    m = re.search(r"idf_component_register\s*\((.*?)\)", text, re.S)
    if not m:
        return None
    keys = {"SRCS", "SRC_DIRS", "EXCLUDE_SRCS", "INCLUDE_DIRS", "PRIV_INCLUDE_DIRS", "REQUIRES", "PRIV_REQUIRES",
            "LDFRAGMENTS", "EMBED_FILES", "EMBED_TXTFILES", "KCONFIG", "KCONFIG_PROJBUILD", "WHOLE_ARCHIVE"}
    out, cur = {}, None
    for tok in re.findall(r'"[^"]*"|\S+', m.group(1)):
        tok = tok.strip('"')
        if tok in keys:
            cur = tok
            out.setdefault(cur, [])
        elif cur:
            if "${" in tok:
                fail(f"{cmakelists}: CMake variable in {cur} ({tok}) is not supported; list the files literally")
            out[cur].append(tok)
    return out


def component_sources(cdir):
    reg = cmake_register(os.path.join(cdir, "CMakeLists.txt"))
    srcs, incs = [], [cdir]
    if reg is None:
        srcs = sorted(glob.glob(os.path.join(cdir, "*.c")) + glob.glob(os.path.join(cdir, "*.cpp")))
        return srcs, incs
    for s in reg.get("SRCS", []):
        srcs.append(os.path.join(cdir, s))
    for d in reg.get("SRC_DIRS", []):
        srcs += sorted(glob.glob(os.path.join(cdir, d, "*.c")) + glob.glob(os.path.join(cdir, d, "*.cpp")))
    excl = {os.path.normpath(os.path.join(cdir, e)) for e in reg.get("EXCLUDE_SRCS", [])}
    srcs = [s for s in srcs if os.path.normpath(s) not in excl]
    for d in reg.get("INCLUDE_DIRS", []) + reg.get("PRIV_INCLUDE_DIRS", []):
        incs.append(os.path.join(cdir, d))
    for s in srcs:
        if not os.path.exists(s):
            fail(f"{cdir}/CMakeLists.txt names {s}, which does not exist")
    return srcs, incs


def sdkconfig(project, build, py, kconfigs):
    top = os.path.join(build, "Kconfig")
    with open(top, "w") as f:
        f.write('mainmenu "espnow-sim node configuration"\n')
        f.write(f'source "{os.path.join(HERE, "Kconfig.runtime")}"\n')
        for k in kconfigs:
            f.write(f'source "{k}"\n')
    gen = os.path.join(build, "config")
    os.makedirs(gen, exist_ok=True)
    cmd = [py, "-m", "kconfgen", "--kconfig", top, "--output", "header", os.path.join(gen, "sdkconfig.h"),
           "--output", "config", os.path.join(build, "sdkconfig")]
    existing = os.path.join(project, "sdkconfig") if project else None
    if existing and os.path.exists(existing):
        cmd += ["--config", existing]
    else:
        cmd += ["--config", os.path.join(build, "sdkconfig")]
        if os.path.exists(os.path.join(build, "sdkconfig")):
            os.remove(os.path.join(build, "sdkconfig"))
    if not project:
        # Arduino-ESP32's own settings: a 1 kHz tick.
        ard = os.path.join(build, "sdkconfig.arduino")
        with open(ard, "w") as f:
            f.write("CONFIG_FREERTOS_HZ=1000\n")
        cmd += ["--defaults", ard]
    if project:
        for d in ("sdkconfig.defaults", "sdkconfig.defaults.esp32", "sdkconfig.defaults.linux"):
            p = os.path.join(project, d)
            if os.path.exists(p) and d != "sdkconfig.defaults.linux":
                cmd += ["--defaults", p]
    env = dict(os.environ, IDF_TARGET="esp32", IDF_ENV_FPGA="0", IDF_INIT_VERSION="5.4.2")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write(p.stdout)
        fail("configuration (kconfgen) failed")
    hdr = os.path.join(gen, "sdkconfig.h")
    with open(hdr, "a") as f:
        f.write("\n/* The values the emulated ESP-IDF headers need (firmware-bridge/host/idf/include). */\n"
                "#include_next <sdkconfig.h>\n")
    return gen


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("path", help="ESP-IDF project directory (with main/) or an Arduino sketch (.ino)")
    ap.add_argument("-o", "--output", help="executable to write (default: BUILD/<name>)")
    ap.add_argument("--build-dir", help="build directory (default: PROJECT/build-node)")
    ap.add_argument("--kconfig-python", help="Python with esp-idf-kconfig installed")
    ap.add_argument("--idf", choices=["5.4", "5.5"], default="5.4",
                    help="ESP-IDF API the application is written for (5.5: the send callback takes esp_now_send_info_t)")
    ap.add_argument("--cc", default=os.environ.get("CC", "gcc"))
    ap.add_argument("--cxx", default=os.environ.get("CXX", "g++"))
    a = ap.parse_args()

    path = os.path.abspath(a.path)
    sketch = path.endswith(".ino")
    if sketch:
        if not os.path.isfile(path):
            fail(f"{a.path}: no such sketch")
        project, name = None, os.path.splitext(os.path.basename(path))[0]
        build = os.path.abspath(a.build_dir or os.path.join(os.path.dirname(path), "build-node", name))
    else:
        if not os.path.isdir(os.path.join(path, "main")):
            fail(f"{a.path}: not an ESP-IDF project (no main/ directory)")
        project, name = path, os.path.basename(path.rstrip("/"))
        build = os.path.abspath(a.build_dir or os.path.join(path, "build-node"))
    os.makedirs(os.path.join(build, "obj"), exist_ok=True)
    out = os.path.abspath(a.output or os.path.join(build, name))

    comps, kconfigs = [], []
    if project:
        for cdir in [os.path.join(project, "main")] + sorted(glob.glob(os.path.join(project, "components", "*"))):
            if not os.path.isdir(cdir):
                continue
            comps.append(cdir)
            for k in ("Kconfig", "Kconfig.projbuild"):
                if os.path.exists(os.path.join(cdir, k)):
                    kconfigs.append(os.path.join(cdir, k))
    gen = sdkconfig(project, build, kconfig_python(a.kconfig_python), kconfigs)

    app_srcs, app_incs = [], []
    for c in comps:
        s, i = component_sources(c)
        app_srcs += s
        app_incs += i
    if sketch:
        cpp = os.path.join(build, name + ".ino.cpp")
        with open(cpp, "w") as f:
            f.write(f'#include <Arduino.h>\n#line 1 "{path}"\n')
            f.write(open(path).read())
        app_srcs.append(cpp)
        app_incs.append(os.path.dirname(path))
    if not app_srcs:
        fail("no source files found")

    base_inc = ["-I" + gen, "-I" + NODE_INC, "-I" + IDF_INC]
    if sketch:
        base_inc.insert(1, "-I" + ARDUINO_DIR)
    common = ["-g", "-O1", "-pthread", "-D_GNU_SOURCE", "-DESP_PLATFORM", "-DESPNOW_SIM_NODE=1",
              "-include", os.path.join(gen, "sdkconfig.h")]
    objs = []

    def compile_cmd(src, flags, strict):
        obj = os.path.join(build, "obj", re.sub(r"[^A-Za-z0-9_.]", "_", os.path.relpath(src, "/")) + ".o")
        is_cpp = src.endswith((".cpp", ".cc", ".cxx"))
        cc = a.cxx if is_cpp else a.cc
        std = ["-std=gnu++20"] if is_cpp else ["-std=gnu17"]
        warn = ["-Wall", "-Wextra", "-Werror"] if strict else ["-Wall"]
        objs.append(obj)
        return src, [cc] + std + common + warn + flags + ["-c", src, "-o", obj]

    jobs = [compile_cmd(s, base_inc, True) for s in RUNTIME_SRCS]
    if sketch:
        jobs += [compile_cmd(s, base_inc, True) for s in sorted(glob.glob(os.path.join(ARDUINO_DIR, "*.cpp")))]
    app_flags = ["-I" + i for i in app_incs] + base_inc + (["-DSIM_NODE_IDF_5_5=1"] if a.idf == "5.5" else [])
    jobs += [compile_cmd(s, app_flags, False) for s in app_srcs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(lambda j: (j[0], subprocess.run(j[1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                                   text=True)), jobs))
    for src, p in results:                       # the first failure in source order is reported
        if p.returncode != 0:
            explain(p.stdout, f"compiling {src}")
    linker = a.cxx if sketch or any(s.endswith((".cpp", ".cc")) for s in app_srcs) else a.cc
    run([linker, "-pthread", "-o", out] + objs, "linking")
    print(out)


if __name__ == "__main__":
    main()
