// Cluster interop: a Node socket.io server with @socket.io/redis-adapter
// and a Herald node share Redis; broadcasts from either side reach clients
// on both, and @socket.io/redis-emitter reaches clients on Herald. Run by
// cluster.sh with NODE_URL, HERALD_URL and REDIS_URL set.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";

const sockets = [];
after(() => sockets.forEach((s) => s.disconnect()));

// PARSER=msgpack: both nodes and the clients speak socket.io-msgpack-parser.
const parser = process.env.PARSER === "msgpack" ? (await import("socket.io-msgpack-parser")).default : undefined;

function connect(url) {
  const s = io(url, { forceNew: true, transports: ["websocket"], ...(parser && { parser }) });
  sockets.push(s);
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("connect_error", reject);
  });
}
function once(s, ev, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${ev}`)), ms);
    s.once(ev, (...a) => { clearTimeout(t); resolve(a); });
  });
}
const strip = (a) => (typeof a.at(-1) === "string" && a.length > 1 ? a.slice(0, -1) : a);

test("broadcasts cross between a Node node and a Herald node", async () => {
  const onNode = await connect(process.env.NODE_URL);
  const onHerald = await connect(process.env.HERALD_URL);
  const watcher = await connect(process.env.NODE_URL);
  for (const s of [onNode, onHerald, watcher]) await s.timeout(3000).emitWithAck("join", "mixed");
  let got = once(onHerald, "broadcast");
  let got2 = once(watcher, "broadcast");
  onNode.emit("broadcast", "mixed", "from node", { n: 1 });
  assert.deepEqual(strip(await got), ["from node", { n: 1 }]);
  assert.deepEqual(strip(await got2), ["from node", { n: 1 }]);
  got = once(onNode, "broadcast");
  got2 = once(watcher, "broadcast");
  onHerald.emit("broadcast", "mixed", "from herald", [1, 2]);
  assert.deepEqual(strip(await got), ["from herald", [1, 2]]);
  assert.deepEqual(strip(await got2), ["from herald", [1, 2]]);
  // binary crosses too
  // (a broadcast to all reaches its sender too: wait for that copy as
  // well, or it may arrive after the next listener is in place)
  const bin = once(onNode, "broadcast-all");
  const own = once(onHerald, "broadcast-all");
  onHerald.emit("broadcast-all", Buffer.from([7, 8, 9]));
  assert.deepEqual(Buffer.from(strip(await bin)[0]), Buffer.from([7, 8, 9]));
  assert.deepEqual(Buffer.from(strip(await own)[0]), Buffer.from([7, 8, 9]));
  const bin2 = once(onHerald, "broadcast-all");
  const own2 = once(onNode, "broadcast-all");
  onNode.emit("broadcast-all", { nested: Buffer.from([1, 2]) });
  assert.deepEqual(Buffer.from(strip(await bin2)[0].nested), Buffer.from([1, 2]));
  assert.deepEqual(Buffer.from(strip(await own2)[0].nested), Buffer.from([1, 2]));
  // fetchSockets from Herald sees the Node node's sockets
  const n = await onHerald.timeout(5000).emitWithAck("count");
  assert.ok(n >= 3, `count ${n}`);
});

test("@socket.io/redis-emitter reaches clients on Herald", async () => {
  const onHerald = await connect(process.env.HERALD_URL);
  await onHerald.timeout(3000).emitWithAck("join", "emitted");
  const redis = createClient({ url: process.env.REDIS_URL });
  await redis.connect();
  try {
    const emitter = new Emitter(redis);
    const got = once(onHerald, "from-emitter");
    emitter.to("emitted").emit("from-emitter", 42, { ok: true });
    assert.deepEqual(strip(await got), [42, { ok: true }]);
    const kicked = once(onHerald, "disconnect");
    emitter.in("emitted").disconnectSockets();
    assert.equal((await kicked)[0], "io server disconnect");
  } finally {
    await redis.quit();
  }
});
