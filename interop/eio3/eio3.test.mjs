// socket.io-client 2.x (Engine.IO v3, Socket.IO protocol 4) against a
// server with allowEIO3: Herald's examples/interop or the Node reference
// (../ref-server.mjs), the same tests for both (run.sh).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import io from "socket.io-client";
import { io as ioV4 } from "socket.io-client-v4";

const URL = process.env.SERVER_URL || "http://127.0.0.1:3000";
const HERALD = process.env.SERVER_KIND === "herald";

const open = new Set();
after(() => {
  for (const s of open) s.close();
});

// connect returns a v2 client socket, closed after the file.
function connect(nsp = "/", opts = {}) {
  const s = io(URL + nsp, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, ...opts });
  open.add(s);
  return s;
}

function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

function connected(s) {
  if (s.connected) return Promise.resolve(s);
  return new Promise((resolve, reject) => {
    s.once("connect", () => resolve(s));
    s.once("error", (e) => reject(new Error(`error event: ${JSON.stringify(e)}`)));
    s.once("connect_error", reject);
  });
}

async function client(nsp = "/", opts = {}) {
  return connected(connect(nsp, opts));
}

// ack emits and resolves with the arguments of the server's ack.
function ack(s, ...args) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no ack for ${JSON.stringify(args[0])}`)), 5000);
    s.emit(...args, (...back) => {
      clearTimeout(t);
      resolve(back);
    });
  });
}

// An event may carry the recovery offset last (both servers run with
// connection state recovery): compare what comes before it.
const withoutOffset = (got, want) => got.slice(0, want.length);

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test("connect: the server connects / by itself; the socket id is the engine id", async () => {
  const s = connect("/", { query: { token: "t1" } });
  const [welcome] = await once(s, "welcome");
  await connected(s);
  assert.equal(s.id, s.io.engine.id);
  assert.deepEqual(welcome, { id: s.id, auth: {}, recovered: false });
});

test("middleware refusal on / arrives as the error event with the error's data", async () => {
  const s = connect("/", { query: { token: "bad" }, reconnection: false });
  const [err] = await once(s, "error");
  assert.deepEqual(err, { code: 401 });
  assert.equal(s.connected, false);
});

test("events and acks both ways", async () => {
  const s = await client();
  s.emit("echo", "hi", { n: 1 }, [true, null]);
  assert.deepEqual(withoutOffset(await once(s, "echo"), [1, 2, 3]), ["hi", { n: 1 }, [true, null]]);
  assert.deepEqual(await ack(s, "echo", "😀 é 𝄞", 42), ["😀 é 𝄞", 42]); // astral characters: UTF-16 lengths
  s.once("question", (q, cb) => cb(`answer to ${q}`));
  assert.deepEqual(await ack(s, "ask"), [{ answer: "answer to q1" }]);
});

test("binary both ways, top-level and nested", async () => {
  const s = await client();
  const [back] = await ack(s, "echo", Buffer.from([1, 2, 3, 255]));
  assert.deepEqual(Buffer.from(back), Buffer.from([1, 2, 3, 255]));
  const nested = { file: Buffer.from("hello"), list: [Buffer.from([9]), "x"] };
  s.emit("echo", "n", nested);
  const [, got] = await once(s, "echo");
  assert.deepEqual(Buffer.from(got.file), Buffer.from("hello"));
  assert.deepEqual(Buffer.from(got.list[0]), Buffer.from([9]));
  assert.equal(got.list[1], "x");
});

test("room broadcasts reach members only, not the sender", async () => {
  const [a, b, c] = await Promise.all([client(), client(), client()]);
  await ack(a, "join", "r1");
  await ack(b, "join", "r1");
  const got = once(b, "broadcast");
  let leaked = false;
  c.on("broadcast", () => (leaked = true));
  a.on("broadcast", () => (leaked = true));
  a.emit("broadcast", "r1", "hello", { n: 1 });
  assert.deepEqual(withoutOffset(await got, ["hello", { n: 1 }]), ["hello", { n: 1 }]);
  assert.equal(await ack(a, "echo", "sync").then((x) => x[0]), "sync");
  assert.equal(leaked, false);
});

test("a v2 and a v4 client in one room receive the same broadcast", async () => {
  const v2 = await client();
  const v4 = ioV4(URL, { forceNew: true, reconnection: false });
  open.add(v4);
  await new Promise((resolve, reject) => {
    v4.once("connect", resolve);
    v4.once("connect_error", reject);
  });
  await ack(v2, "join", "mixed");
  await v4.timeout(5000).emitWithAck("join", "mixed");
  const sender = await client();
  const args = ["news", { n: 2 }, Buffer.from([7, 8])];
  const [got2, got4] = [once(v2, "broadcast"), once(v4, "broadcast")];
  sender.emit("broadcast", "mixed", ...args);
  for (const got of await Promise.all([got2, got4])) {
    const [word, obj, buf] = withoutOffset(got, args);
    assert.equal(word, "news");
    assert.deepEqual(obj, { n: 2 });
    assert.deepEqual(Buffer.from(buf), Buffer.from([7, 8]));
  }
});

test("a custom namespace: the query is its auth, its id <nsp>#<engine id>", async () => {
  const s = connect("/custom", { query: { token: "abc" } });
  const [hello] = await once(s, "hello");
  await connected(s);
  assert.deepEqual(hello, { nsp: "/custom" });
  const [me] = await ack(s, "whoami");
  assert.equal(me.id, `/custom#${s.io.engine.id}`);
  assert.equal(me.id, s.id);
  assert.deepEqual(me.auth, { token: "abc" });
  assert.deepEqual(await ack(s, "echo", "c"), ["c"]);
});

test("an unknown namespace is refused with the error event", async () => {
  const s = connect("/random", { reconnection: false });
  const [err] = await once(s, "error");
  // Herald sends the string, as socket.io 2 servers did; Node 4 sends
  // the object it sends v4 clients.
  assert.deepEqual(err, HERALD ? "Invalid namespace" : { message: "Invalid namespace" });
});

test("reconnection after the server drops the connection", async () => {
  const s = await client("/", { transports: ["websocket"] });
  const first = s.id;
  const reconnected = once(s, "reconnect");
  const [reason] = await Promise.all([once(s, "disconnect").then((a) => a[0]), s.emit("drop")]);
  assert.equal(reason, "transport close");
  await reconnected;
  await connected(s);
  assert.notEqual(s.id, first);
  assert.deepEqual(await ack(s, "echo", "back"), ["back"]);
});

test("a server kick: disconnect with reason io server disconnect, no reconnection", async () => {
  const s = await client();
  const [reason] = await Promise.all([once(s, "disconnect").then((a) => a[0]), s.emit("kick-me")]);
  assert.equal(reason, "io server disconnect");
});

for (const [name, opts] of [
  ["websocket-only", { transports: ["websocket"] }],
  ["polling-only (binary payloads)", { transports: ["polling"] }],
  ["polling-only with forceBase64 (b64=1)", { transports: ["polling"], forceBase64: true }],
]) {
  test(`${name}: connect, acks, binary, heartbeats`, async () => {
    const s = await client("/", opts);
    assert.equal(s.io.engine.transport.name, opts.transports[0]);
    assert.deepEqual(await ack(s, "echo", "a", 1), ["a", 1]);
    const [back] = await ack(s, "echo", Buffer.from([1, 2, 3]));
    assert.deepEqual(Buffer.from(back), Buffer.from([1, 2, 3]));
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => ack(s, "echo", i, "😀").then((x) => x[0])));
    assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => i));
    // The client pings (every second here), the server answers.
    await once(s.io, "pong");
    await once(s.io, "pong");
    assert.equal(s.connected, true);
    assert.deepEqual(await ack(s, "echo", "still"), ["still"]);
  });
}

test("upgrade from polling to websocket loses nothing", async () => {
  const s = connect("/");
  const upgraded = once(s.io.engine, "upgrade");
  await connected(s);
  const acks = [];
  for (let i = 0; i < 50; i++) acks.push(ack(s, "echo", i).then((x) => x[0]));
  assert.deepEqual(await Promise.all(acks), Array.from({ length: 50 }, (_, i) => i));
  await upgraded;
  for (let i = 0; i < 50 && s.io.engine.transport.name !== "websocket"; i++) await sleep(20);
  assert.equal(s.io.engine.transport.name, "websocket");
  const [bin] = await ack(s, "echo", Buffer.from([5]));
  assert.deepEqual(Buffer.from(bin), Buffer.from([5]));
  await once(s.io, "pong"); // heartbeats go on over the new transport
  assert.equal(s.connected, true);
});
