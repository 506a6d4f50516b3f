// A Node socket.io node with @socket.io/postgres-adapter for the Go
// interop tests of adapter/postgres.
// Env: DATABASE_URL, PREFIX (channel prefix), TABLE (attachments table),
// PORT (0 picks one). Prints "listening on <port>".
//   join(room, ack)       joins room
//   say(room, ...args)    io.to(room).emit("said", ...args)
//   fetch(ack)            ack(ids of io.fetchSockets())
//   ssemit(ack)           ack(await io.serverSideEmitWithAck("ping", "node"))
//   ask(room, ack)        ack(await io.to(room).emitWithAck("q"))
// It answers server-side "ping" events with "pong from node".
import { createServer } from "node:http";
import { Server } from "socket.io";
import pg from "pg";
import { createAdapter } from "@socket.io/postgres-adapter";

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const table = process.env.TABLE || "socket_io_attachments";
await pool.query(`CREATE TABLE IF NOT EXISTS ${table} (id bigserial UNIQUE, created_at timestamptz DEFAULT NOW(), payload bytea)`);
const io = new Server(createServer(), {
  adapter: createAdapter(pool, { channelPrefix: process.env.PREFIX, tableName: table, heartbeatInterval: 200, heartbeatTimeout: 1000 }),
});
io.of("/").on("ping", (from, ack) => { if (typeof ack === "function") ack("pong from node"); });
io.on("connection", (socket) => {
  socket.on("join", (room, ack) => { socket.join(room); ack && ack(); });
  socket.on("say", (room, ...args) => io.to(room).emit("said", ...args));
  socket.on("fetch", async (ack) => ack((await io.fetchSockets()).map((s) => s.id)));
  socket.on("ssemit", async (ack) => {
    try { ack(await io.serverSideEmitWithAck("ping", "node")); } catch (e) { ack("error " + e.message); }
  });
  socket.on("ask", async (room, ack) => {
    try { ack(await io.to(room).timeout(3000).emitWithAck("q")); } catch (e) { ack("error " + e.message); }
  });
});
io.httpServer.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`listening on ${io.httpServer.address().port}`);
});
const stop = async () => { io.close(); await pool.end().catch(() => {}); process.exit(0); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
