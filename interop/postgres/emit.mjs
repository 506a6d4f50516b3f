// Emits with @socket.io/postgres-emitter for the Go interop tests.
// Env: DATABASE_URL, PREFIX, TABLE. Args: <room> <event> <json args...>;
// an argument "bin:<hex>" is sent as a Buffer.
import pg from "pg";
import { Emitter } from "@socket.io/postgres-emitter";

const [room, event, ...raw] = process.argv.slice(2);
const args = raw.map((a) => (a.startsWith("bin:") ? Buffer.from(a.slice(4), "hex") : JSON.parse(a)));
const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
const emitter = new Emitter(pool, undefined, { channelPrefix: process.env.PREFIX, tableName: process.env.TABLE });
(room ? emitter.to(room) : emitter).emit(event, ...args);
await new Promise((r) => setTimeout(r, 500)); // the emitter does not wait for its queries
await pool.end();
