#!/usr/bin/env bash
# Runs the interop suite against a server: SERVER_CMD (default: the Node
# reference) is started on a free port and the tests drive it with the
# official socket.io-client.
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
SERVER_CMD=${SERVER_CMD:-node ref-server.mjs}
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log=$(mktemp)
(cd "${SERVER_DIR:-.}" && exec env PORT="$PORT" PING_INTERVAL=${PING_INTERVAL:-1000} PING_TIMEOUT=${PING_TIMEOUT:-1000} $SERVER_CMD) >"$log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q "listening on" "$log" && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
if ! grep -q "listening on" "$log"; then echo "server did not start:"; cat "$log"; kill $pid 2>/dev/null; exit 1; fi
SERVER_URL="http://127.0.0.1:$PORT" node --test --test-concurrency=1 --test-timeout=20000 ./*.test.mjs
status=$?
kill $pid 2>/dev/null
wait $pid 2>/dev/null
rm -f "$log"
exit $status
