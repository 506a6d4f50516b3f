// End to end: two herald nodes sharing Redis and PostgreSQL, the service
// talking to node A only, clients of the official socket.io-client on
// both nodes.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import crypto from "node:crypto";
import { io, type Socket } from "socket.io-client";
import { HeraldClient, HeraldError, NotificationService } from "../src/notification-service.js";

const SECRET = "example-secret-0123456789abcdef0123456789";
const API_KEY = "example-api-key";
const nodes: { url: string; proc: ChildProcess }[] = [];
const sockets: Socket[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function startNode(): Promise<string> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const proc = spawn(process.env.HERALD_BIN!, [], {
    env: {
      ...process.env,
      HERALD_ADDR: `127.0.0.1:${port}`,
      HERALD_DATA_DIR: mkdtempSync(join(tmpdir(), "herald-example-")),
      HERALD_JWT_SECRET: SECRET,
      HERALD_API_KEY: API_KEY,
      HERALD_LOG_LEVEL: "warn",
      HERALD_CONN_PER_IP_PER_MINUTE: "100000",
    },
    stdio: ["ignore", "inherit", "inherit"],
  });
  nodes.push({ url, proc });
  for (let i = 0; i < 200; i++) {
    try {
      if ((await fetch(url + "/readyz")).ok) return url;
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("herald did not start");
}

function token(sub: string, name: string, roles = ["user"]): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const head = b64({ alg: "HS256", typ: "JWT" });
  const body = b64({ sub, name, roles, iat: now - 10, exp: now + 3600 });
  const sig = crypto.createHmac("sha256", SECRET).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

async function connect(url: string, nsp: string, user: string, roles?: string[]): Promise<Socket> {
  const s = io(url + nsp, { forceNew: true, transports: ["websocket"], auth: { token: token(user, user, roles) } });
  sockets.push(s);
  await new Promise<void>((resolve, reject) => {
    s.once("connect", () => resolve());
    s.once("connect_error", reject);
  });
  return s;
}

function next(s: Socket, event: string, ms = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    s.once(event, (...args: unknown[]) => {
      clearTimeout(t);
      // With connection state recovery on, events carry a trailing offset.
      resolve(typeof args.at(-1) === "string" ? args.slice(0, -1) : args);
    });
  });
}

function nothing(s: Socket, event: string, ms = 300): Promise<void> {
  return new Promise((resolve, reject) => {
    const h = (...a: unknown[]) => reject(new Error(`unexpected "${event}" ${JSON.stringify(a)}`));
    s.once(event, h);
    setTimeout(() => {
      s.off(event, h);
      resolve();
    }, ms);
  });
}

let a = "";
let b = "";
let service: NotificationService;
let herald: HeraldClient;

before(async () => {
  [a, b] = await Promise.all([startNode(), startNode()]);
  herald = new HeraldClient(a, API_KEY);
  service = new NotificationService(herald);
});

after(async () => {
  for (const s of sockets) s.disconnect();
  await Promise.all(
    nodes.map(({ proc }) => new Promise((r) => {
      proc.once("exit", r);
      proc.kill("SIGTERM");
    })),
  );
});

test("sendToUser and sendToUsers reach users on the other node", async () => {
  const customer = await connect(b, "/", "customer-1");
  const other = await connect(a, "/", "customer-2");
  const bystander = await connect(b, "/", "customer-3");
  const got = next(customer, "order:updated");
  await service.sendToUser("customer-1", "order:updated", { orderId: "o-1", status: "paid" });
  assert.deepEqual(await got, [{ orderId: "o-1", status: "paid" }]);

  const both = [next(customer, "promo"), next(other, "promo")];
  const quiet = nothing(bystander, "promo");
  await service.sendToUsers(["customer-1", "customer-2"], "promo", { code: "SPRING" });
  for (const p of both) assert.deepEqual(await p, [{ code: "SPRING" }]);
  await quiet;
});

test("broadcast reaches every connected user, on both nodes", async () => {
  const s1 = await connect(a, "/", "b-1");
  const s2 = await connect(b, "/", "b-2");
  const got = [next(s1, "maintenance"), next(s2, "maintenance")];
  await service.broadcast("maintenance", { at: "18:00" });
  for (const p of got) assert.deepEqual(await p, [{ at: "18:00" }]);
});

test("sendToRoom reaches the chat room's members", async () => {
  const member = await connect(b, "/chat", "r-1");
  const outsider = await connect(a, "/chat", "r-2");
  const joined = await member.timeout(3000).emitWithAck("join-room", "general");
  assert.equal(joined.ok, true);
  const got = next(member, "room:announcement");
  const quiet = nothing(outsider, "room:announcement");
  await service.sendToRoom("general", "room:announcement", { text: "welcome" });
  assert.deepEqual(await got, [{ text: "welcome" }]);
  await quiet;
});

test("notifyNewOrder: the customer gets order:created, the admins (role:admin) admin:new-order", async () => {
  const customer = await connect(b, "/", "buyer");
  const admin = await connect(a, "/", "admin-1", ["user", "admin"]);
  const adminB = await connect(b, "/", "admin-2", ["user", "admin"]);
  const created = next(customer, "order:created");
  const adminGot = [next(admin, "admin:new-order"), next(adminB, "admin:new-order")];
  const customerQuiet = nothing(customer, "admin:new-order");
  await service.notifyNewOrder({ id: "o-42", customerId: "buyer", customerName: "Buyer", status: "created", total: 99.5 });
  assert.deepEqual(await created, [{ orderId: "o-42", status: "created" }]);
  for (const p of adminGot) assert.deepEqual(await p, [{ orderId: "o-42", customer: "Buyer", total: 99.5 }]);
  await customerQuiet;
});

test("acks come back from both nodes; bad requests get coded errors", async () => {
  const s1 = await connect(a, "/", "ack-1");
  const s2 = await connect(b, "/", "ack-2");
  s1.on("confirm", (_data, ack) => ack({ from: "a" }));
  s2.on("confirm", (_data, ack) => ack({ from: "b" }));
  const res = await herald.emitWithAck({ userIds: ["ack-1", "ack-2"] }, "confirm", { q: "ok?" }, 3000);
  assert.equal(res.timedOut, false);
  assert.deepEqual(res.acks.map((a) => (a[0] as { from: string }).from).sort(), ["a", "b"]);

  await assert.rejects(herald.emit({ userId: "x" }, "disconnect"), (e: HeraldError) => e.status === 400 && e.code === "invalid_field");
  await assert.rejects(new HeraldClient(a, "wrong").emit({ all: true }, "x"), (e: HeraldError) => e.status === 401 && e.code === "unauthorized");
  await assert.rejects(herald.emit({ all: true }, "x", null, { namespace: "/nope" }), (e: HeraldError) => e.code === "unknown_namespace");
});
