// Backend hooks observed from a real HTTP backend started here: it
// verifies signed webhooks, answers rpc events and authorizes
// connections, driven by the official client.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import crypto from "node:crypto";
import { Herald, once, strip, connected, sleep } from "./server.mjs";

const WEBHOOK_SECRET = "e2e-webhook-secret-0123456789";

// verify is the README's receiver check: HMAC-SHA256 of "<t>.<body>",
// compared in constant time, at most 5 minutes old.
function verify(header, body, secret, toleranceSec = 300) {
  const parts = Object.fromEntries((header ?? "").split(",").map((p) => p.split("=", 2)));
  const t = Number(parts.t);
  if (!parts.v1 || !Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSec) return false;
  const want = crypto.createHmac("sha256", secret).update(`${t}.${body}`).digest();
  const got = Buffer.from(parts.v1, "hex");
  return got.length === want.length && crypto.timingSafeEqual(got, want);
}

const webhooks = [];
const rejected = [];
const rpcCalls = [];
const backend = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", () => {
    const reply = (obj, status = 200) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(obj));
    };
    if (req.url === "/webhooks") {
      if (!verify(req.headers["herald-signature"], body, WEBHOOK_SECRET)) {
        rejected.push(body);
        return reply({ error: "bad signature" }, 401);
      }
      webhooks.push({ ...JSON.parse(body), delivery: req.headers["herald-delivery"] });
      return reply({});
    }
    const call = JSON.parse(body);
    if (req.url === "/rpc") {
      rpcCalls.push(call);
      switch (call.event) {
        case "rpc:add":
          return reply({
            result: { sum: call.args[0].a + call.args[0].b },
            actions: [{ type: "emit", event: "rpc:added", data: { by: call.user.id } }],
          });
        case "rpc:fail":
          return reply({ error: { code: "out_of_stock", message: "Out of stock" } });
        case "rpc:slow":
          return setTimeout(() => reply({ result: "late" }), 3000);
      }
      return reply({ result: null });
    }
    if (req.url === "/connect") {
      if (call.user?.id === "blocked") return reply({ error: { message: "Account suspended", data: { until: "2030-01-01" } } });
      return reply({
        user: { ...call.user, name: `${call.user.name} (${call.headers["X-Tenant"] ?? "no tenant"})`, data: { plan: "pro" } },
        rooms: ["tenant:acme"],
      });
    }
    reply({}, 404);
  });
});

let h;
before(async () => {
  await new Promise((r) => backend.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${backend.address().port}`;
  h = new Herald({
    HERALD_WEBHOOKS: `${base}/webhooks`,
    HERALD_WEBHOOK_SECRET: WEBHOOK_SECRET,
    HERALD_RPC_URL: `${base}/rpc`,
    HERALD_RPC_EVENTS: "rpc:*",
    HERALD_RPC_TIMEOUT: "1s",
    HERALD_CONNECT_PROXY_URL: `${base}/connect`,
    HERALD_CONNECT_PROXY_HEADERS: "X-Tenant",
  });
  await h.start();
});
after(async () => {
  await h.stop();
  backend.close();
});
afterEach(() => h.closeSockets());

async function until(cond, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(webhooks.map((w) => w.type))}`);
    await sleep(20);
  }
}

test("the connect proxy names the user and joins rooms; a refusal reaches connect_error", async () => {
  const s = h.socket("/", { auth: { token: h.token("hooks-ann", "Ann") }, extraHeaders: { "X-Tenant": "acme" } });
  const [list] = await once(s, "presence:list"); // sent right after the connection
  assert.ok(list.some((u) => u.userId === "hooks-ann" && u.name === "Ann (acme)"), JSON.stringify(list));
  const news = once(s, "tenant-news");
  const r = await fetch(h.url + "/api/v1/emit", {
    method: "POST",
    headers: { authorization: "Bearer e2e-api-key", "content-type": "application/json" },
    body: JSON.stringify({ room: "tenant:acme", event: "tenant-news", data: "hello acme" }),
  });
  assert.equal(r.status, 200);
  assert.deepEqual(strip(await news), ["hello acme"]);

  const blocked = h.socket("/", { auth: { token: h.token("blocked", "Blocked") }, reconnection: false });
  const [err] = await once(blocked, "connect_error");
  assert.equal(err.message, "Account suspended");
  assert.deepEqual(err.data, { until: "2030-01-01" });
});

test("rpc events: the backend's answer is the ack, its actions run, errors and timeouts are clear", async () => {
  const s = await connected(h.socket("/chat", { auth: { token: h.token("hooks-rpc", "Rex") } }));
  const added = once(s, "rpc:added");
  assert.deepEqual(await s.emitWithAck("rpc:add", { a: 2, b: 3 }), { sum: 5 });
  assert.deepEqual(strip(await added), [{ by: "hooks-rpc" }]);
  const call = rpcCalls.find((c) => c.event === "rpc:add");
  assert.equal(call.socketId, s.id);
  assert.equal(call.namespace, "/chat");
  assert.deepEqual(call.args, [{ a: 2, b: 3 }]);
  assert.equal(call.user.id, "hooks-rpc");
  assert.deepEqual(call.user.data, { plan: "pro" });

  assert.deepEqual(await s.emitWithAck("rpc:fail"), { error: { code: "out_of_stock", message: "Out of stock" } });
  // A slow call times out with a clear error, and does not hold a quick one.
  const slow = s.emitWithAck("rpc:slow");
  assert.deepEqual(await s.emitWithAck("rpc:add", { a: 1, b: 1 }), { sum: 2 });
  assert.deepEqual(await slow, { error: { code: "timeout", message: "Backend timeout" } });
});

test("webhooks: signed, in order, for presence and chat", async () => {
  const s = await connected(h.socket("/", { auth: { token: h.token("hooks-web", "Wendy") } }));
  const chat = await connected(h.socket("/chat", { auth: { token: h.token("hooks-web", "Wendy") } }));
  assert.equal((await chat.emitWithAck("join-room", "general")).ok, true);
  const { message } = await chat.emitWithAck("send-message", { roomId: "general", content: "hook me" });
  s.disconnect();
  chat.disconnect();
  const mine = () => webhooks.filter((w) => w.data.userId === "hooks-web" || w.data.user?.id === "hooks-web" || w.data.author?.id === "hooks-web");
  await until(() => mine().some((w) => w.type === "user.offline"), "user.offline");
  // In order per user and per room (a user's presence comes with the
  // next presence tick, so it may follow the room's events).
  const of = (...types) => mine().map((w) => w.type).filter((t) => types.includes(t));
  assert.deepEqual(of("user.online", "user.offline"), ["user.online", "user.offline"]);
  assert.deepEqual(of("member.joined", "message.created"), ["member.joined", "message.created"]);
  const created = mine().find((w) => w.type === "message.created");
  assert.equal(created.data.id, message.id);
  assert.equal(created.data.content, "hook me");
  assert.equal(created.id, created.delivery);
  assert.match(created.id, /^evt_/);
  assert.equal(rejected.length, 0);
});
