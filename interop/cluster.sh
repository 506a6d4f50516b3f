#!/usr/bin/env bash
# Runs cluster.mjs: a Node reference node and a Herald node sharing Redis
# (NODE_CMD replaces the first: a Herald node makes a Herald cluster).
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379}
HERALD_CMD=${HERALD_CMD:-go run ../examples/interop}
free() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
p1=$(free); p2=$(free)
l1=$(mktemp); l2=$(mktemp)
PORT=$p1 ${NODE_CMD:-node ref-server.mjs} >"$l1" 2>&1 & n1=$!
PORT=$p2 $HERALD_CMD >"$l2" 2>&1 & n2=$!
for _ in $(seq 600); do grep -q "listening on" "$l1" && grep -q "listening on" "$l2" && break; sleep 0.1; done
NODE_URL="http://127.0.0.1:$p1" HERALD_URL="http://127.0.0.1:$p2" node --test --test-timeout=30000 cluster.mjs
status=$?
kill $n1 $n2 2>/dev/null; wait 2>/dev/null
[ $status -ne 0 ] && { echo "--- node log"; cat "$l1"; echo "--- herald log"; cat "$l2"; }
rm -f "$l1" "$l2"
exit $status
