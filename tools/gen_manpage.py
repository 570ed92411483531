#!/usr/bin/env python3
"""espnow(1) from the command's own help: reads `espnow --experimental-dump-help` (the
swift-argument-parser tool-info JSON) on stdin, writes a man page (man(7) macros) to
stdout. One page, every subcommand a section, so `man espnow` shows what `--help` does."""
import datetime
import json
import os
import sys


def esc(s):
    """Text for roff: backslashes and leading dots/quotes made harmless."""
    s = (s or "").replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in s.split("\n"):
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def names(a):
    out = []
    for n in a.get("names") or []:
        dash = "-" if n.get("kind") in ("short", "longWithSingleDash") else "--"
        out.append(dash + n["name"])
    return out


def synopsis_arg(a):
    n = names(a)
    value = a.get("valueName") or ""
    if a.get("kind") == "positional":
        t = f"<{value}>"
    elif a.get("kind") == "flag":
        t = n[0] if n else ""
    else:
        t = f"{n[0]} <{value}>" if n else f"<{value}>"
    if a.get("isRepeating"):
        t += " ..."
    return f"[{t}]" if a.get("isOptional") else t


def emit_command(cmd, path, out, top):
    full = " ".join(path)
    args = [a for a in cmd.get("arguments") or [] if a.get("shouldDisplay", True)]
    if not top:
        out.append(f".SH {esc(full.upper())}")
    out.append(".PP")
    out.append(f"\\fB{esc(full)}\\fR " + esc(" ".join(synopsis_arg(a) for a in args)))
    if cmd.get("abstract"):
        out.append(".PP")
        out.append(esc(cmd["abstract"]))
    for para in (cmd.get("discussion") or "").split("\n\n"):
        if para.strip():
            out.append(".PP")
            out.append(esc(para.strip()))
    for a in args:
        label = ", ".join(names(a)) or f"<{a.get('valueName', '')}>"
        if a.get("kind") == "option":
            label += f" <{a.get('valueName', '')}>"
        out.append(".TP")
        out.append(f"\\fB{esc(label)}\\fR")
        text = a.get("abstract") or ""
        if a.get("discussion"):
            text += " " + a["discussion"]
        if a.get("defaultValue"):
            text += f" (default: {a['defaultValue']})"
        out.append(esc(text.strip()) or "\\&")
    for sub in cmd.get("subcommands") or []:
        emit_command(sub, path + [sub["commandName"]], out, False)


def main():
    info = json.load(sys.stdin)
    cmd = info["command"]
    name = cmd["commandName"]
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    day = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
           else datetime.datetime.now(datetime.timezone.utc)).strftime("%Y-%m-%d")
    out = [f'.TH {name.upper()} 1 "{day}" "espnow-bridge" "User Commands"',
           ".SH NAME", f"{esc(name)} \\- {esc(cmd.get('abstract', ''))}", ".SH SYNOPSIS"]
    emit_command(cmd, [name], out, True)
    out += [".SH SEE ALSO", "espnow\\-sim(1); docs/CLI.md, docs/PROTOCOL.md in the espnow\\-bridge sources."]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
