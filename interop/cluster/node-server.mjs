// A Node socket.io node for the Go cluster interop tests: it shares Redis
// with Herald nodes through @socket.io/redis-adapter (ADAPTER=classic, the
// default, or sharded) or @socket.io/redis-streams-adapter
// (ADAPTER=streams, with connection state recovery).
//
// Env: REDIS_URL, KEY (channel prefix, or stream name and session prefix
// with streams), SUBSCRIPTION_MODE (sharded: dynamic, static or
// dynamic-private), PORT (0 picks one). Prints "listening on <port>".
//
// Clients drive it with events:
//   join(room, ack)                      joins room
//   say(room, ...args)                   io.to(room).emit("said", ...args)
//   fetch(ack)                           ack(ids of io.fetchSockets())
//   rooms(ack)                           ack(await io.of("/").adapter.allRooms())
//   ssemit(ack)                          ack(await io.serverSideEmitWithAck("ping", "node"))
//   ask(room, ack)                       ack(await io.to(room).emitWithAck("q"))
//   joinall(room)                        io.socketsJoin(room)
//   kick(room)                           io.in(room).disconnectSockets()
// It answers server-side "ping" events with "pong from node".
import { createServer } from "node:http";
import { Server } from "socket.io";
import { createClient } from "redis";
import { createAdapter, createShardedAdapter } from "@socket.io/redis-adapter";
import { createAdapter as createStreamsAdapter } from "@socket.io/redis-streams-adapter";

const url = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const key = process.env.KEY || "socket.io";
const mode = process.env.ADAPTER || "classic";

const pub = createClient({ url });
const sub = pub.duplicate();
await Promise.all([pub.connect(), sub.connect()]);

const opts = {};
if (mode === "classic") {
  opts.adapter = createAdapter(pub, sub, { key, requestsTimeout: 3000 });
} else if (mode === "sharded") {
  opts.adapter = createShardedAdapter(pub, sub, { channelPrefix: key, subscriptionMode: process.env.SUBSCRIPTION_MODE || "dynamic" });
} else {
  opts.adapter = createStreamsAdapter(pub, { streamName: key, sessionKeyPrefix: key + ":session:" });
  opts.connectionStateRecovery = { maxDisconnectionDuration: 30000 };
}

const httpServer = createServer();
const io = new Server(httpServer, opts);

io.of("/").on("ping", (from, ack) => {
  if (typeof ack === "function") ack("pong from node");
});
io.on("connection", (socket) => {
  socket.on("join", (room, ack) => { socket.join(room); ack && ack(); });
  socket.on("say", (room, ...args) => io.to(room).emit("said", ...args));
  socket.on("fetch", async (ack) => ack((await io.fetchSockets()).map((s) => s.id)));
  socket.on("rooms", async (ack) => ack([...(await io.of("/").adapter.allRooms())]));
  socket.on("ssemit", async (ack) => {
    try { ack(await io.serverSideEmitWithAck("ping", "node")); } catch (e) { ack("error " + e.message); }
  });
  socket.on("ask", async (room, ack) => {
    try { ack(await io.to(room).timeout(3000).emitWithAck("q")); } catch (e) { ack("error " + e.message); }
  });
  socket.on("joinall", (room) => io.socketsJoin(room));
  socket.on("kick", (room) => io.in(room).disconnectSockets());
});

httpServer.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`listening on ${httpServer.address().port}`);
});
const stop = async () => { io.close(); await Promise.allSettled([pub.quit(), sub.quit()]); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
