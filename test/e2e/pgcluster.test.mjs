// Two herald nodes with HERALD_CLUSTER=postgres and no Redis: the official
// client on each node sees the other's messages, presence and
// notifications, and a node that stops takes its users offline.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { connected, once, sleep, API_KEY } from "./server.mjs";
import { Cluster } from "./cluster.mjs";

const c = new Cluster({
  HERALD_REDIS_URL: "", // unset: the nodes meet through PostgreSQL alone
  HERALD_REDIS_PREFIX: "",
  HERALD_CLUSTER: "postgres",
  HERALD_POSTGRES_PREFIX: `herald_e2e_${crypto.randomBytes(4).toString("hex")}`,
});
const [a, b] = c.nodes;
before(() => c.start());
after(async () => {
  c.closeSockets(); // the clients of the stopped node would try it again for ever
  await c.stop();
});

// presenceOf keeps the users s is told are online (the seed's form).
function presenceOf(s) {
  const online = new Map();
  s.on("presence:list", (list) => list.forEach((u) => online.set(u.userId, u.status)));
  s.on("presence:update", (u) => (u.status === "offline" ? online.delete(u.userId) : online.set(u.userId, u.status)));
  return online;
}

async function until(cond, what, ms = 20000) {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(25)) if (await cond()) return;
  assert.fail(`timed out waiting for ${what}`);
}

test("chat, presence and notifications cross two nodes on PostgreSQL alone; a stopped node's users go offline", async () => {
  const bobMain = await connected(b.socket("/", { auth: { token: b.token("bob", "Bob") } }));
  const online = presenceOf(bobMain);
  const bob = await connected(b.socket("/chat", { auth: { token: b.token("bob", "Bob") } }));
  assert.equal((await bob.timeout(5000).emitWithAck("join-room", "general")).ok, true);

  const aliceMain = await connected(a.socket("/", { auth: { token: a.token("alice", "Alice") } }));
  const alice = await connected(a.socket("/chat", { auth: { token: a.token("alice", "Alice") } }));
  assert.equal((await alice.timeout(5000).emitWithAck("join-room", "general")).ok, true);
  await until(() => online.get("alice") === "online", "Alice (node A) online for Bob (node B)");

  const got = new Set();
  bob.on("new-message", (m) => got.add(m.content));
  const sent = await alice.timeout(5000).emitWithAck("send-message", { roomId: "general", content: "from node A" });
  assert.equal(sent.message.content, "from node A");
  await until(() => got.has("from node A"), "the message at Bob");

  // A notification posted to node B's API reaches Alice on node A.
  const note = once(aliceMain, "notification");
  const r = await fetch(b.url + "/api/v1/notifications", {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ userId: "alice", type: "t", title: "from node B", message: "" }),
  });
  assert.ok(r.ok, `notify through B: ${r.status}`);
  const [n] = await note;
  assert.equal(n.title, "from node B");

  // Who is in the room, from node B, counts Alice on node A.
  const here = await bob.timeout(5000).emitWithAck("room:presence", { roomId: "general" });
  assert.equal(here.count, 2, JSON.stringify(here));

  // Node A stops: Bob is told Alice went offline.
  await a.stop();
  await until(() => !online.has("alice"), "Alice offline for Bob after node A stopped");
  assert.equal(online.get("bob"), "online");
});
