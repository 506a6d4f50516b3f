import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { connected } from "./server.mjs";
import { Cluster } from "./cluster.mjs";

const c = new Cluster();
const [a, b] = c.nodes;
before(() => c.start());
after(() => c.stop());
afterEach(() => c.closeSockets());

async function chatOn(node, id, name, opts = {}) {
  const s = node.socket("/chat", { auth: { token: node.token(id, name) }, ...opts });
  await connected(s);
  const res = await s.timeout(5000).emitWithAck("join-room", "general");
  assert.equal(res.ok, true, JSON.stringify(res));
  return s;
}

// received counts the new-message events of s by content.
function received(s) {
  const seen = new Map();
  s.on("new-message", (m) => seen.set(m.content, (seen.get(m.content) ?? 0) + 1));
  return seen;
}

async function eventsIn(node, event) {
  const text = await (await fetch(node.url + "/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`herald_events_in_total{event="${event}"}`));
  return line ? Number(line.split(" ").at(-1)) : 0;
}

async function until(cond, what) {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`timed out waiting for ${typeof what === "function" ? what() : what}`);
}

test("a send retried by the client (retries, ackTimeout) is stored, broadcast and acked once", async () => {
  const bob = await chatOn(b, "bob", "Bob");
  const seen = received(bob);
  const before = await eventsIn(a, "send-message");
  // An ack timeout shorter than a store round trip makes the official
  // client send the same packet again; each copy carries the client id.
  const alice = await chatOn(a, "alice", "Alice", { retries: 3, ackTimeout: 1 });
  const send = { roomId: "general", content: "retried send", clientId: "e2e-retry-1" };
  await alice.emitWithAck("send-message", send).catch(() => null); // every try may time out
  await until(async () => (await eventsIn(a, "send-message")) - before >= 2, "the client's retries");
  // The same send once more, after a reconnect, on the other node.
  const again = await chatOn(b, "alice", "Alice");
  const res = await again.timeout(5000).emitWithAck("send-message", send);
  assert.equal(res.message.content, "retried send");
  assert.equal(res.message.clientId, "e2e-retry-1");
  await again.timeout(5000).emitWithAck("send-message", { roomId: "general", content: "marker" });
  await until(() => seen.get("marker") === 1, "the marker at Bob");
  assert.equal(seen.get("retried send"), 1);
  const hist = await bob.timeout(5000).emitWithAck("history", { roomId: "general" });
  const stored = hist.messages.filter((m) => m.content === "retried send");
  assert.equal(stored.length, 1);
  assert.equal(stored[0].id, res.message.id);
});

test("a send with a bad client id is refused", async () => {
  const alice = await chatOn(a, "alice", "Alice");
  for (const clientId of [5, "", ["x"], {}, "x".repeat(129)]) {
    const res = await alice.timeout(5000).emitWithAck("send-message", { roomId: "general", content: "x", clientId });
    assert.deepEqual(res, { error: "Invalid payload" }, JSON.stringify(clientId));
  }
});

test("dm:open gives the same private room for the pair on either node", async () => {
  const alice = a.socket("/chat", { auth: { token: a.token("alice", "Alice") } });
  const bob = b.socket("/chat", { auth: { token: b.token("bob", "Bob") } });
  const carol = b.socket("/chat", { auth: { token: b.token("carol", "Carol") } });
  await Promise.all([alice, bob, carol].map(connected));
  const added = new Promise((resolve) => bob.once("rooms:added", resolve));
  const [ra, rb] = await Promise.all([
    alice.timeout(5000).emitWithAck("dm:open", { userId: "bob" }),
    bob.timeout(5000).emitWithAck("dm:open", { userId: "alice" }),
  ]);
  assert.equal(ra.room.id, rb.room.id);
  assert.equal(ra.room.public, false);
  assert.deepEqual(ra.room.dm, { userId: "bob", name: "Bob" });
  assert.deepEqual(rb.room.dm, { userId: "alice", name: "Alice" });
  assert.equal((await added).room.id, ra.room.id);
  const id = ra.room.id;
  for (const s of [alice, bob]) assert.equal((await s.timeout(5000).emitWithAck("join-room", id)).ok, true);
  const got = new Promise((resolve) => bob.once("new-message", resolve));
  await alice.timeout(5000).emitWithAck("send-message", { roomId: id, content: "psst" });
  assert.equal((await got).content, "psst");
  assert.deepEqual(await carol.timeout(5000).emitWithAck("join-room", id), { error: "Access denied" });
  assert.deepEqual(await carol.timeout(5000).emitWithAck("history", { roomId: id }), { error: "Access denied" });
  const list = await carol.timeout(5000).emitWithAck("rooms:list", {});
  assert.ok(!list.rooms.some((r) => r.id === id));
  for (const bad of [{ userId: 5 }, {}, { userId: "alice" }]) {
    assert.deepEqual(await alice.timeout(5000).emitWithAck("dm:open", bad), { error: "Invalid payload" });
  }
});

test("the owner invites and removes members of a private room; members leave", async () => {
  const alice = a.socket("/chat", { auth: { token: a.token("alice", "Alice") } });
  const bob = b.socket("/chat", { auth: { token: b.token("bob", "Bob") } });
  const bobMain = b.socket("/", { auth: { token: b.token("bob", "Bob") } });
  await Promise.all([alice, bob, bobMain].map(connected));
  const { room } = await alice.timeout(5000).emitWithAck("create-room", { name: "Plans", public: false });
  assert.deepEqual(await bob.timeout(5000).emitWithAck("join-room", room.id), { error: "Access denied" });
  assert.deepEqual(await bob.timeout(5000).emitWithAck("room:invite", { roomId: room.id, userId: "bob" }), { error: "Access denied" });
  const added = new Promise((resolve) => bob.once("rooms:added", resolve));
  const notified = new Promise((resolve) => bobMain.on("notification", (n) => n.type === "invitation" && resolve(n)));
  assert.deepEqual(await alice.timeout(5000).emitWithAck("room:invite", { roomId: room.id, userId: "bob" }), { ok: true });
  assert.equal((await added).room.id, room.id);
  assert.equal((await notified).title, "Invited to Plans");
  const list = await bob.timeout(5000).emitWithAck("rooms:list", {});
  assert.ok(list.rooms.some((r) => r.id === room.id && r.member));
  assert.equal((await bob.timeout(5000).emitWithAck("join-room", room.id)).ok, true);
  const members = await alice.timeout(5000).emitWithAck("room:members", { roomId: room.id });
  assert.deepEqual(members.members, ["alice", "bob"]);
  const removed = new Promise((resolve) => bob.once("rooms:removed", resolve));
  assert.deepEqual(await alice.timeout(5000).emitWithAck("room:remove", { roomId: room.id, userId: "bob" }), { ok: true });
  assert.equal((await removed).roomId, room.id);
  assert.deepEqual(await bob.timeout(5000).emitWithAck("history", { roomId: room.id }), { error: "Access denied" });
  await alice.timeout(5000).emitWithAck("room:invite", { roomId: room.id, userId: "bob" });
  assert.deepEqual(await bob.timeout(5000).emitWithAck("room:leave", { roomId: room.id }), { ok: true });
  assert.deepEqual(await bob.timeout(5000).emitWithAck("join-room", room.id), { error: "Access denied" });
  assert.deepEqual(await alice.timeout(5000).emitWithAck("room:invite", { roomId: room.id, userId: 7 }), { error: "Invalid payload" });
});

test("mark-read: unread counts, the user's other tab and the members' read receipts", async () => {
  const alice = a.socket("/chat", { auth: { token: a.token("alice", "Alice") } });
  const tab = b.socket("/chat", { auth: { token: b.token("alice", "Alice") } });
  const bob = b.socket("/chat", { auth: { token: b.token("bob", "Bob") } });
  await Promise.all([alice, tab, bob].map(connected));
  const { room } = await bob.timeout(5000).emitWithAck("create-room", { name: "Reads", public: false });
  await bob.timeout(5000).emitWithAck("room:invite", { roomId: room.id, userId: "alice" });
  for (const s of [alice, bob]) await s.timeout(5000).emitWithAck("join-room", room.id);
  const ids = [];
  for (const content of ["one", "two"]) ids.push((await bob.timeout(5000).emitWithAck("send-message", { roomId: room.id, content })).message.id);
  const listed = async () => (await alice.timeout(5000).emitWithAck("rooms:list", {})).rooms.find((r) => r.id === room.id);
  assert.equal((await listed()).unread, 2);
  const state = new Promise((resolve) => tab.once("read-state", resolve));
  const receipt = new Promise((resolve) => bob.once("read-receipt", resolve));
  const ack = await alice.timeout(5000).emitWithAck("mark-read", { roomId: room.id, messageId: ids[0] });
  assert.deepEqual(ack, { ok: true, lastReadId: ids[0], unread: 1 });
  assert.deepEqual(await state, { roomId: room.id, lastReadId: ids[0], unread: 1 });
  assert.deepEqual(await receipt, { roomId: room.id, userId: "alice", name: "Alice", messageId: ids[0] });
  assert.equal((await listed()).unread, 1);
  assert.deepEqual(await alice.timeout(5000).emitWithAck("mark-read", { roomId: room.id, messageId: 7 }), { error: "Invalid payload" });
  const carol = a.socket("/chat", { auth: { token: a.token("carol", "Carol") } });
  await connected(carol);
  assert.deepEqual(await carol.timeout(5000).emitWithAck("mark-read", { roomId: room.id, messageId: ids[1] }), { error: "Access denied" });
});

test("edit and delete reach the room, history, sync-state and a recovered session", async () => {
  const alice = a.socket("/chat", { auth: { token: a.token("alice", "Alice") } });
  const bob = b.socket("/chat", { auth: { token: b.token("bob", "Bob") } });
  await Promise.all([alice, bob].map(connected));
  for (const s of [alice, bob]) await s.timeout(5000).emitWithAck("join-room", "general");
  const sent = [];
  for (const content of ["keep", "fix me", "drop me"]) sent.push((await alice.timeout(5000).emitWithAck("send-message", { roomId: "general", content })).message);
  const changes = [];
  bob.on("message-updated", (m) => changes.push(["updated", m.id, m.content]));
  bob.on("message-deleted", (m) => changes.push(["deleted", m.id]));
  // Bob's connection drops; the changes happen while he comes back.
  const back = new Promise((resolve) => bob.once("connect", () => resolve(bob.recovered)));
  bob.io.engine.close();
  const edited = await alice.timeout(5000).emitWithAck("edit-message", { roomId: "general", messageId: sent[1].id, content: "fixed" });
  assert.equal(edited.message.content, "fixed");
  assert.ok(edited.message.editedAt);
  assert.deepEqual(await alice.timeout(5000).emitWithAck("delete-message", { roomId: "general", messageId: sent[2].id }), { ok: true });
  assert.equal(await back, true, "the session was not recovered");
  await until(() => changes.length === 2, "the changes at Bob");
  assert.deepEqual(changes, [["updated", sent[1].id, "fixed"], ["deleted", sent[2].id]]);
  const hist = await bob.timeout(5000).emitWithAck("history", { roomId: "general", limit: 5 });
  const byId = new Map(hist.messages.map((m) => [m.id, m]));
  assert.equal(byId.get(sent[1].id).content, "fixed");
  assert.equal(byId.get(sent[2].id).deleted, true);
  assert.equal(byId.get(sent[2].id).content, "");
  const sync = await bob.timeout(5000).emitWithAck("sync-state", { lastMessageIds: { general: sent[2].id } });
  assert.deepEqual(sync.updated.general.map((m) => [m.id, m.deleted ?? false]), [[sent[1].id, false], [sent[2].id, true]]);
  assert.deepEqual(await bob.timeout(5000).emitWithAck("edit-message", { roomId: "general", messageId: sent[0].id, content: "mine" }), { error: "Access denied" });
  assert.deepEqual(await alice.timeout(5000).emitWithAck("delete-message", { roomId: "general", messageId: 3 }), { error: "Invalid payload" });
});

test("auth:refresh replaces the token of a live connection; expiry follows the new one", async () => {
  const now = Math.floor(Date.now() / 1000);
  const short = a.token("dana", "Dana", { exp: now - 28 }); // the server allows 30 s of skew: about 2 s left
  const s = a.socket("/chat", { auth: { token: short } });
  const control = a.socket("/chat", { auth: { token: short } });
  await Promise.all([s, control].map(connected));
  let expired = false;
  s.on("auth:expired", () => { expired = true; });
  assert.deepEqual(await s.timeout(5000).emitWithAck("auth:refresh", { token: a.token("erik", "Erik") }), { error: "Invalid token" });
  assert.deepEqual(await s.timeout(5000).emitWithAck("auth:refresh", { token: 42 }), { error: "Invalid token" });
  const res = await s.timeout(5000).emitWithAck("auth:refresh", { token: a.token("dana", "Dana") });
  assert.equal(res.ok, true);
  assert.ok(Date.parse(res.expiresAt) > Date.now());
  await new Promise((resolve) => control.once("auth:expired", resolve)); // the old deadline has passed
  const list = await s.timeout(5000).emitWithAck("rooms:list", {});
  assert.ok(Array.isArray(list.rooms));
  assert.equal(s.connected, true);
  assert.equal(expired, false);
});

test("presence across nodes: a user online on either node, offline after the last tab on both", async () => {
  const watcher = a.socket("/", { auth: { token: a.token("walt", "Walt"), presence: "changes" } });
  const seen = [];
  watcher.on("presence:changes", (cs) => { for (const c of cs) if (c.userId === "pia") seen.push(c.status); });
  await connected(watcher);
  const tabB = b.socket("/", { auth: { token: b.token("pia", "Pia") } });
  await connected(tabB);
  await until(() => seen.length === 1, () => `pia online: ${JSON.stringify(seen)}`);
  const tabA = a.socket("/", { auth: { token: a.token("pia", "Pia") } });
  await connected(tabA);
  const page = await watcher.timeout(5000).emitWithAck("presence:list", {});
  assert.ok(page.users.some((u) => u.userId === "pia" && u.status === "online"), JSON.stringify(page));
  tabB.disconnect(); // still there on node A
  await new Promise((r) => setTimeout(r, 1000)); // past the 500 ms grace: nothing to tell
  tabA.disconnect();
  await until(() => seen.at(-1) === "offline", () => `pia offline: ${JSON.stringify(seen)}`);
  // (A second tab on another node says online again: each node tells
  // the cluster of its own users.)
  assert.deepEqual(seen.filter((x, i) => x !== seen[i - 1]), ["online", "offline"]);
});

for (const order of ["disconnect on B, then at once leave-room on A", "leave-room on A, then at once disconnect on B"]) {
  test(`room presence: users in a room across nodes, first socket in and last out (${order})`, async () => {
    const wes = a.socket("/chat", { auth: { token: a.token("wes", "Wes") } });
    const amyA = a.socket("/chat", { auth: { token: a.token("amy", "Amy") } });
    const amyB = b.socket("/chat", { auth: { token: b.token("amy", "Amy") } });
    await Promise.all([wes, amyA, amyB].map(connected));
    await wes.timeout(5000).emitWithAck("join-room", "general");
    const events = [];
    wes.on("presence:room", (e) => { if (e.userId === "amy") events.push([e.joined, e.count]); });
    await amyB.timeout(5000).emitWithAck("join-room", "general");
    await amyA.timeout(5000).emitWithAck("join-room", "general");
    const here = await wes.timeout(5000).emitWithAck("room:presence", "general");
    assert.deepEqual(here.users.map((u) => u.userId).sort(), ["amy", "wes"]);
    assert.equal(here.count, 2);
    // Both tabs go in the same tick, one on each node.
    let left;
    if (order.startsWith("disconnect")) {
      amyB.disconnect();
      left = amyA.timeout(5000).emitWithAck("leave-room", "general");
    } else {
      left = amyA.timeout(5000).emitWithAck("leave-room", "general");
      amyB.disconnect();
    }
    assert.equal((await left).ok, true);
    await until(() => events.length >= 2, () => `amy's arrival and departure: ${JSON.stringify(events)}`);
    // Whatever node B told the room before it arrives before B's marker.
    const max = await chatOn(b, "max", "Max");
    const marked = new Promise((resolve) => wes.on("new-message", (m) => { if (m.content === "marker") resolve(); }));
    await max.timeout(5000).emitWithAck("send-message", { roomId: "general", content: "marker" });
    await marked;
    assert.deepEqual(events, [[true, 2], [false, 1]]);
    const now = await wes.timeout(5000).emitWithAck("room:presence", "general");
    assert.deepEqual(now.users.map((u) => u.userId), ["max", "wes"]);
    assert.deepEqual(await wes.timeout(5000).emitWithAck("room:presence", { roomId: 5 }), { error: "Invalid payload" });
  });
}
