#!/bin/sh
# make node-demo: an Arduino sketch (Tests/Nodes/sketches/sender) built with
# `espnow node build` runs as a firmware node on the simulated air; a simulated
# dongle takes the address the sketch sends to, and `espnow listen` shows its
# packets arriving through the bridge protocol, as from a board on the desk.
set -e
BIN=${BIN:-.build/debug}
WORK=$(mktemp -d /tmp/espnow-node-demo.XXXXXX)
trap 'kill $SIM 2>/dev/null; wait $SIM 2>/dev/null; rm -rf "$WORK"' EXIT INT TERM
"$BIN/espnow" node build Tests/Nodes/sketches/sender/sender.ino --build-dir "$WORK/build" -o "$WORK/sender"
cat > "$WORK/scene.json" <<JSON
{ "dongles": [ { "sta_mac": "02:00:00:00:00:50" } ],
  "nodes": [ { "script": "firmware", "app": "$WORK/sender", "sta_mac": "02:00:00:00:00:40" } ] }
JSON
"$BIN/espnow-sim" --scene "$WORK/scene.json" --realtime --link-dir "$WORK/links" > "$WORK/sim.out" &
SIM=$!
i=0
while [ ! -e "$WORK/links/dongle0" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
echo "firmware node: the sender sketch, 02:00:00:00:00:40; dongle: $WORK/links/dongle0 (02:00:00:00:00:50)"
"$BIN/espnow" listen --port "$WORK/links/dongle0" --count 3 --timeout 30
echo "the sketch's console (from the coordinator):"
grep '"node":1' "$WORK/sim.out" | head -8
