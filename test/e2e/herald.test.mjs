import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Herald, once, none, sleep, strip, connected } from "./server.mjs";

const h = new Herald();
before(() => h.start());
after(() => h.stop());
afterEach(() => h.closeSockets());

const alice = () => h.token("alice", "Alice");
const bob = () => h.token("bob", "Bob");

async function chatAs(token, room = "general") {
  const s = h.socket("/chat", { auth: { token } });
  await connected(s);
  if (room) {
    const res = await s.timeout(3000).emitWithAck("join-room", room);
    assert.equal(res.ok, true, JSON.stringify(res));
  }
  return s;
}

test("auth errors carry the seed's exact messages", async () => {
  const cases = [
    [{}, "Authentication required"],
    [{ token: "" }, "Authentication required"],
    [{ token: h.token("x", "X", { exp: Math.floor(Date.now() / 1000) - 3600 }) }, "Invalid token"],
    [{ token: h.token("x", "X", { secret: "wrong-secret-wrong-secret-wrong-secret" }) }, "Invalid token"],
    [{ token: h.token("x", "X", { alg: "none" }) }, "Invalid token"],
    [{ token: "not.a.jwt" }, "Invalid token"],
    [{ token: 42 }, "Authentication required"],
  ];
  for (const [auth, message] of cases) {
    for (const nsp of ["/", "/chat"]) {
      const s = h.socket(nsp, { auth });
      const [err] = await once(s, "connect_error");
      assert.equal(err.message, message, `${nsp} ${JSON.stringify(auth)}`);
    }
  }
});

test("two users chat in a room; messages survive a restart", async () => {
  const a = await chatAs(alice());
  const b = await chatAs(bob());
  const got = once(b, "new-message");
  const ack = await a.timeout(3000).emitWithAck("send-message", { roomId: "general", content: "hello bob" });
  assert.equal(ack.message.content, "hello bob");
  assert.deepEqual(ack.message.author, { id: "alice", name: "Alice" });
  const [msg] = await got;
  assert.equal(msg.id, ack.message.id);
  assert.equal(msg.roomId, "general");
  assert.ok(!Number.isNaN(Date.parse(msg.createdAt)));
  // the sender gets the broadcast too (the seed's useChat appends from it)
  h.closeSockets();
  await h.restart();
  const c = await chatAs(bob());
  const hist = await c.timeout(3000).emitWithAck("history", { roomId: "general" });
  assert.ok(hist.messages.some((m) => m.id === ack.message.id && m.content === "hello bob"));
});

test("forged author fields are ignored; bad payloads get clear errors", async () => {
  const a = await chatAs(alice());
  const forged = await a.timeout(3000).emitWithAck("send-message", { roomId: "general", content: "mine", author: { id: "bob", name: "Bob" }, id: "x" });
  assert.equal(forged.message.author.id, "alice");
  const bad = [
    [{ roomId: "general", content: "" }, "Message is empty"],
    [{ roomId: "general", content: "   " }, "Message is empty"],
    [{ roomId: "general", content: "x".repeat(5000) }, "Message is too long"],
    [{ roomId: "general", content: 42 }, "Invalid payload"],
    [{ roomId: 7, content: "x" }, "Invalid payload"],
    [{ content: "x" }, "Invalid payload"],
    ["general", "Invalid payload"],
    [null, "Invalid payload"],
    [{ roomId: "nope", content: "x" }, "Access denied"],
  ];
  for (const [payload, message] of bad) {
    const errEv = once(a, "error");
    const res = await a.timeout(3000).emitWithAck("send-message", payload);
    assert.equal(res.error, message, JSON.stringify(payload));
    assert.equal((await errEv)[0].message, message);
  }
  for (const payload of [42, { roomId: ["a"] }, "nope", "x".repeat(500)]) {
    const res = await a.timeout(3000).emitWithAck("join-room", payload);
    assert.ok(res.error, JSON.stringify(payload));
  }
  // the server still works and nothing stored was lost
  const hist = await a.timeout(3000).emitWithAck("history", { roomId: "general", limit: 100 });
  assert.ok(hist.messages.some((m) => m.content === "mine"));
});

test("typing start/stop, and expiry when stop never comes", async () => {
  const a = await chatAs(alice());
  const b = await chatAs(bob());
  const typing = once(b, "user-typing");
  a.emit("typing-start", "general");
  assert.deepEqual(strip(await typing)[0], { userId: "alice", name: "Alice", roomId: "general" });
  await none(a, "user-typing", 200); // not to the typer
  const stopped = once(b, "user-stopped-typing");
  a.emit("typing-stop", "general");
  assert.deepEqual(strip(await stopped)[0], { userId: "alice", roomId: "general" });
  const again = once(b, "user-typing");
  a.emit("typing-start", "general");
  await again;
  const t0 = Date.now();
  const expired = once(b, "user-stopped-typing", 5000);
  await expired;
  assert.ok(Date.now() - t0 >= 800, "expired too early");
});

test("presence: two tabs of one user stay online until both close", async () => {
  const watcher = h.socket("/", { auth: { token: bob() } });
  const [list] = await once(watcher, "presence:list");
  assert.ok(Array.isArray(list));
  const updates = [];
  watcher.on("presence:update", (u) => u.userId === "alice" && updates.push(u.status));
  const tab1 = h.socket("/", { auth: { token: alice() } });
  await connected(tab1);
  const tab2 = h.socket("/", { auth: { token: alice() } });
  const [list2] = await once(tab2, "presence:list");
  assert.ok(list2.some((e) => e.userId === "alice" && e.status === "online"));
  await sleep(200);
  assert.deepEqual(updates, ["online"]);
  tab1.disconnect();
  await sleep(900);
  assert.deepEqual(updates, ["online"], "one tab left: still online");
  await tab2.timeout(2000).emitWithAck("presence:status", "away");
  await sleep(400); // changes leave once per presence tick (100 ms)
  assert.deepEqual(updates, ["online", "away"]);
  const bad = await tab2.timeout(2000).emitWithAck("presence:status", "sleeping");
  assert.equal(bad.error, "Invalid status");
  tab2.disconnect();
  await sleep(1200);
  assert.deepEqual(updates, ["online", "away", "offline"]);
});

test("notifications through the HTTP API reach a user, and wait for an offline one", async () => {
  const a = h.socket("/", { auth: { token: alice() } });
  await connected(a);
  const got = once(a, "notification");
  const res = await h.notify({ userId: "alice", type: "order", title: "Order shipped", message: "#42" });
  assert.equal(res.status, 202);
  const [n] = await got;
  assert.equal(n.title, "Order shipped");
  assert.equal(n.read, false);
  assert.ok(n.id && n.createdAt);
  // carol is offline: the notification waits for her
  const off = await h.notify({ userId: "carol", type: "info", title: "While you were away", message: "hi" });
  assert.equal(off.status, 202);
  const c = h.socket("/", { auth: { token: h.token("carol", "Carol") } });
  const [missed] = await once(c, "notification");
  assert.equal(missed.title, "While you were away");
  const list = await c.timeout(2000).emitWithAck("notifications:list");
  assert.equal(list.unreadCount, 1);
  assert.deepEqual(await c.timeout(2000).emitWithAck("notifications:read", missed.id), { ok: true });
  const notMine = await a.timeout(2000).emitWithAck("notifications:read", missed.id);
  assert.equal(notMine.error, "Notification not found");
  assert.equal((await c.timeout(2000).emitWithAck("notifications:list")).unreadCount, 0);
  await h.notify({ role: "user", type: "info", title: "t1", message: "" });
  assert.deepEqual(await a.timeout(2000).emitWithAck("notifications:read-all"), { ok: true });
  assert.equal((await a.timeout(2000).emitWithAck("notifications:list")).unreadCount, 0);
});

test("notifications API refuses bad keys and bad bodies", async () => {
  assert.equal((await h.notify({ userId: "a", type: "t", title: "x" }, "wrong")).status, 401);
  for (const body of ["{not json", JSON.stringify({ type: "t", title: "x" }), JSON.stringify({ userId: "a", all: true, type: "t", title: "x" }),
    JSON.stringify({ userId: "a", type: "", title: "" }), JSON.stringify({ userId: "a", type: "t", title: "x", extra: 1 }),
    JSON.stringify({ userId: "a", type: "t", title: "x".repeat(500) })]) {
    const r = await h.notify(body);
    assert.equal(r.status, 400, body);
    assert.ok(r.body.error);
  }
  const r = await fetch(h.url + "/api/notifications");
  assert.equal(r.status, 405);
});

test("history pages newest first with a cursor", async () => {
  const a = await chatAs(alice(), null);
  const { room } = await a.timeout(2000).emitWithAck("create-room", { name: "paging", public: true });
  await a.timeout(2000).emitWithAck("join-room", room.id);
  for (let i = 0; i < 25; i++) {
    if (i >= 8) await sleep(210); // stay under the default 5 messages/s
    const r = await a.timeout(2000).emitWithAck("send-message", { roomId: room.id, content: `m${i}` });
    assert.ok(r.message, JSON.stringify(r));
  }
  const seen = [];
  let before;
  for (let page = 0; page < 5; page++) {
    const res = await a.timeout(2000).emitWithAck("history", { roomId: room.id, before, limit: 10 });
    seen.push(...res.messages.map((m) => m.content));
    if (!res.nextCursor) break;
    before = res.nextCursor;
  }
  assert.deepEqual(seen, Array.from({ length: 25 }, (_, i) => `m${24 - i}`));
});

test("sync-state after a reconnect returns the rooms and what was missed", async () => {
  const a = await chatAs(alice());
  const b = await chatAs(bob());
  const first = await a.timeout(2000).emitWithAck("send-message", { roomId: "general", content: "before" });
  b.disconnect();
  await a.timeout(2000).emitWithAck("send-message", { roomId: "general", content: "missed 1" });
  await a.timeout(2000).emitWithAck("send-message", { roomId: "general", content: "missed 2" });
  b.connect();
  await connected(b);
  const res = await b.timeout(3000).emitWithAck("sync-state", { lastMessageIds: { general: first.message.id } });
  assert.ok(res.rooms.includes("general"));
  assert.deepEqual(res.missed.general.map((m) => m.content), ["missed 1", "missed 2"]);
  // re-joined: new messages arrive without an explicit join
  const live = once(b, "new-message");
  await a.timeout(2000).emitWithAck("send-message", { roomId: "general", content: "live" });
  assert.equal((await live)[0].content, "live");
});

test("private rooms refuse outsiders with Access denied", async () => {
  const a = await chatAs(alice(), null);
  const { room } = await a.timeout(2000).emitWithAck("create-room", { name: "secret", public: false });
  assert.equal(room.public, false);
  const b = await chatAs(bob(), null);
  const err = once(b, "error");
  const res = await b.timeout(2000).emitWithAck("join-room", room.id);
  assert.equal(res.error, "Access denied");
  assert.deepEqual((await err)[0], { message: "Access denied", event: "join-room" });
  const hist = await b.timeout(2000).emitWithAck("history", { roomId: room.id });
  assert.equal(hist.error, "Access denied");
  // the seed's fire-and-forget form gets the error event too
  const err2 = once(b, "error");
  b.emit("join-room", room.id);
  assert.equal((await err2)[0].message, "Access denied");
  assert.equal((await a.timeout(2000).emitWithAck("join-room", room.id)).ok, true);
});

test("rate limits: errors name the event; a flooder is disconnected", async () => {
  const a = await chatAs(alice());
  const errors = [];
  a.on("error", (e) => errors.push(e));
  const gone = once(a, "disconnect", 10000);
  for (let i = 0; i < 200 && a.connected; i++) {
    a.emit("send-message", { roomId: "general", content: `flood ${i}` });
    a.emit("typing-start", "general");
  }
  const [reason] = await gone;
  assert.equal(reason, "io server disconnect");
  assert.ok(errors.some((e) => e.message === "Rate limit exceeded" && e.event === "send-message"));
  // everyone else is fine
  const b = await chatAs(bob());
  const ok = await b.timeout(2000).emitWithAck("send-message", { roomId: "general", content: "still up" });
  assert.equal(ok.message.content, "still up");
});

test("the seed's client code: connect_error redirect and reconnect re-sync", async () => {
  // useSocket: connect_error with "Authentication required" sends the user to login
  const s = h.socket("/", { auth: {} });
  const [err] = await once(s, "connect_error");
  assert.equal(err.message, "Authentication required");
  // reconnect → sync-state
  const a = await chatAs(alice());
  const reconnected = once(a.io, "reconnect", 10000);
  await h.restart();
  await reconnected;
  await connected(a);
  const res = await a.timeout(3000).emitWithAck("sync-state");
  assert.ok(res.rooms.includes("general"));
});

test("new connections per IP are limited", async () => {
  const limited = new Herald({ HERALD_CONN_PER_IP_PER_MINUTE: "3" });
  await limited.start();
  try {
    const results = [];
    for (let i = 0; i < 5; i++) {
      const s = limited.socket("/", { auth: { token: alice() }, reconnection: false });
      results.push(await Promise.race([once(s, "connect").then(() => "ok"), once(s, "connect_error").then(() => "refused")]));
    }
    assert.deepEqual(results, ["ok", "ok", "ok", "refused", "refused"]);
  } finally {
    limited.closeSockets();
    await limited.stop();
  }
});

test("a typing indicator ends when the typer disconnects", async () => {
  const a = await chatAs(alice());
  const b = await chatAs(bob());
  const typing = once(b, "user-typing");
  a.emit("typing-start", "general");
  await typing;
  const stopped = once(b, "user-stopped-typing", 3000);
  const t0 = Date.now();
  a.disconnect();
  assert.deepEqual(strip(await stopped)[0], { userId: "alice", roomId: "general" });
  assert.ok(Date.now() - t0 < 900, "cleared on disconnect, not by the expiry");
});
