// The server API observed by the official client: binary arguments,
// acks, disconnection with a reason, revocation.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Herald, API_KEY, once, strip, connected } from "./server.mjs";

const h = new Herald();
before(() => h.start());
after(() => h.stop());
afterEach(() => h.closeSockets());

async function api(method, path, body) {
  const r = await fetch(h.url + path, {
    method,
    headers: { authorization: `Bearer ${API_KEY}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

test("an emit with {$binary} arrives as a Buffer; a binary ack comes back as base64", async () => {
  const s = await connected(h.socket("/", { auth: { token: h.token("bin", "Bin") } }));
  const got = once(s, "file");
  const res = await api("POST", "/api/v1/emit", { userId: "bin", event: "file", data: { name: "a", body: { $binary: "AAEC/w==" } } });
  assert.equal(res.status, 200);
  const [file] = strip(await got);
  assert.equal(file.name, "a");
  assert.ok(Buffer.isBuffer(file.body));
  assert.deepEqual([...file.body], [0, 1, 2, 255]);

  s.on("confirm", (q, ack) => ack({ q, raw: Buffer.from("hi") }));
  const acked = await api("POST", "/api/v1/emit", { userId: "bin", event: "confirm", data: "ok?", ack: { timeoutMs: 3000 } });
  assert.equal(acked.status, 200);
  assert.deepEqual(acked.body.acks, [[{ q: "ok?", raw: { $binary: Buffer.from("hi").toString("base64") } }]]);
});

test("disconnect with a reason: the event first, then io server disconnect", async () => {
  const s = await connected(h.socket("/chat", { auth: { token: h.token("kick", "Kick") } }));
  const reason = once(s, "kicked");
  const gone = once(s, "disconnect");
  const res = await api("POST", "/api/v1/sockets/disconnect", { userId: "kick", reason: { event: "kicked", data: { why: "spam" } } });
  assert.equal(res.status, 200);
  assert.deepEqual(strip(await reason), [{ why: "spam" }]);
  assert.equal((await gone)[0], "io server disconnect");
});

test("revocation: auth:revoked and a disconnection; the old token is refused, a new one accepted", async () => {
  const old = h.token("rev", "Rev");
  const s = await connected(h.socket("/", { auth: { token: old } }));
  const revoked = once(s, "auth:revoked");
  const gone = once(s, "disconnect");
  const res = await api("POST", "/api/v1/users/rev/revoke");
  assert.equal(res.status, 200);
  assert.equal(strip(await revoked)[0].message, "Session revoked");
  assert.equal((await gone)[0], "io server disconnect");

  const again = h.socket("/", { auth: { token: old } });
  const [err] = await once(again, "connect_error");
  assert.equal(err.message, "Invalid token");
  assert.deepEqual(err.data, { reason: "revoked" });
  again.disconnect();
  // A token issued after the revocation's second is accepted.
  const iat = Math.floor(Date.parse(res.body.revokedAt) / 1000) + 1;
  await connected(h.socket("/", { auth: { token: h.token("rev", "Rev", { iat }) } }));
});
