// Emits with @socket.io/redis-emitter for the Go cluster interop tests.
// Env: REDIS_URL, KEY. Args: <room> <event> <json args...>; an argument
// "bin:<hex>" is sent as a Buffer.
import { createClient } from "redis";
import { Emitter } from "@socket.io/redis-emitter";

const [room, event, ...raw] = process.argv.slice(2);
const args = raw.map((a) => (a.startsWith("bin:") ? Buffer.from(a.slice(4), "hex") : JSON.parse(a)));
const redis = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379" });
await redis.connect();
const emitter = new Emitter(redis, { key: process.env.KEY || "socket.io" });
(room ? emitter.to(room) : emitter).emit(event, ...args);
await redis.quit();
