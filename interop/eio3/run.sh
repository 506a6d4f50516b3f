#!/usr/bin/env bash
# Runs the socket.io-client 2.x suite against a server with allowEIO3:
# SERVER_CMD (Herald's examples/interop binary), or by default the Node
# reference (../ref-server.mjs, socket.io 4.8 with allowEIO3: true). The
# server runs with ALLOW_EIO3=1 and 1 s heartbeats.
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
[ -d ../node_modules ] || (cd .. && npm ci --no-audit --no-fund --loglevel=error)
if [ -n "${SERVER_CMD:-}" ]; then kind=herald; else kind=node; SERVER_CMD="node ref-server.mjs"; fi
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log=$(mktemp)
(cd .. && exec env PORT="$PORT" ALLOW_EIO3=1 PING_INTERVAL=1000 PING_TIMEOUT=1000 $SERVER_CMD) >"$log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "listening on" "$log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if ! grep -q "listening on" "$log"; then echo "server did not start:"; cat "$log"; kill $pid 2>/dev/null; exit 1; fi
SERVER_KIND=$kind SERVER_URL="http://127.0.0.1:$PORT" node --test --test-concurrency=1 --test-timeout=20000 ./*.test.mjs
status=$?
kill $pid 2>/dev/null
wait $pid 2>/dev/null
rm -f "$log"
exit $status
