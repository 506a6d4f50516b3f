import { test, after } from "node:test";
import assert from "node:assert/strict";
import { URL, MSGPACK, connect, connected, client, manager, track, once, none, sleep, closeAll } from "./helpers.mjs";

// With connection state recovery on (as in the contract), every event the
// server emits without an ack carries an offset as its last argument; the
// official client passes it on to the handler.
function withoutOffset(args, want) {
  assert.ok(args.length === want.length || (args.length === want.length + 1 && typeof args.at(-1) === "string"),
    `unexpected arguments ${JSON.stringify(args)}`);
  return args.slice(0, want.length);
}

after(closeAll);

test("connect with auth: welcome echoes the auth, ids are 20 characters", async () => {
  const s = connect("/", { auth: { token: "ok", extra: [1, { a: null }] } });
  const [welcome] = await once(s, "welcome");
  await connected(s);
  assert.equal(s.id.length, 20);
  assert.equal(welcome.id, s.id);
  assert.deepEqual(welcome.auth, { token: "ok", extra: [1, { a: null }] });
  assert.equal(welcome.recovered, false);
});

test("middleware rejection arrives as connect_error with message and data, no retry", async () => {
  const s = connect("/", { auth: { token: "bad" } });
  const [err] = await once(s, "connect_error");
  assert.equal(err.message, "not authorized");
  assert.deepEqual(err.data, { code: 401 });
  await none(s, "connect", 500);
  assert.equal(s.active, false);
});

test("events and acks both ways", async () => {
  const s = await client();
  const args = ["text", 42, 1.5, { nested: { list: [1, "two", null] } }, null, [true, false], ""];
  const acked = await s.timeout(3000).emitWithAck("echo", ...args);
  assert.deepEqual(acked, args[0]); // emitWithAck resolves with the first argument
  const all = await new Promise((resolve) => s.emit("echo", ...args, (...back) => resolve(back)));
  assert.deepEqual(all, args);
  const ev = once(s, "echo");
  s.emit("echo", ...args);
  assert.deepEqual(withoutOffset(await ev, args), args);
  // server → client ack
  s.once("question", (q, cb) => cb(`answer to ${q}`));
  const answer = await s.timeout(3000).emitWithAck("ask");
  assert.deepEqual(answer, { answer: "answer to q1" });
});

test("binary both ways, top-level and nested", async () => {
  const s = await client();
  const buf = Buffer.from([0, 1, 2, 253, 254, 255]);
  const nested = { file: Buffer.from("hello"), list: [Buffer.from([9]), "x"] };
  const back = await new Promise((resolve) => s.emit("echo", buf, nested, "tail", (...a) => resolve(a)));
  assert.deepEqual(Buffer.from(back[0]), buf);
  assert.deepEqual(Buffer.from(back[1].file), Buffer.from("hello"));
  assert.deepEqual(Buffer.from(back[1].list[0]), Buffer.from([9]));
  assert.equal(back[1].list[1], "x");
  assert.equal(back[2], "tail");
  const ev = once(s, "echo");
  s.emit("echo", buf);
  const evArgs = await ev;
  withoutOffset(evArgs, [buf]);
  assert.deepEqual(Buffer.from(evArgs[0]), buf);
});

test("room broadcasts reach members only, not the sender", async () => {
  const [a, b, c] = await Promise.all([client(), client(), client()]);
  await a.timeout(2000).emitWithAck("join", "r1");
  await b.timeout(2000).emitWithAck("join", "r1");
  const got = once(b, "broadcast");
  const notSender = none(a, "broadcast");
  const notOther = none(c, "broadcast");
  a.emit("broadcast", "r1", "hello", { n: 1 });
  assert.deepEqual(withoutOffset(await got, ["hello", { n: 1 }]), ["hello", { n: 1 }]);
  await Promise.all([notSender, notOther]);
  const all = [a, b, c].map((s) => once(s, "broadcast-all"));
  c.emit("broadcast-all", "everyone");
  for (const args of await Promise.all(all)) assert.deepEqual(withoutOffset(args, ["everyone"]), ["everyone"]);
});

for (const transports of [["polling"], ["websocket"]]) {
  test(`${transports[0]}-only client: connect, acks, binary`, async () => {
    const s = await client("/", { transports });
    assert.equal(s.io.engine.transport.name, transports[0]);
    assert.deepEqual(await new Promise((r) => s.emit("echo", "a", 1, (...x) => r(x))), ["a", 1]);
    const back = await new Promise((r) => s.emit("echo", Buffer.from([1, 2, 3]), (...x) => r(x)));
    assert.deepEqual(Buffer.from(back[0]), Buffer.from([1, 2, 3]));
    const many = await Promise.all(Array.from({ length: 20 }, (_, i) => s.timeout(3000).emitWithAck("echo", i)));
    assert.deepEqual(many, Array.from({ length: 20 }, (_, i) => i));
  });
}

test("upgrade from polling to websocket loses nothing", async () => {
  const s = connect("/");
  const upgraded = once(s.io.engine ?? s.io, "upgrade").catch(() => null);
  await connected(s);
  const acks = [];
  for (let i = 0; i < 50; i++) acks.push(s.timeout(5000).emitWithAck("echo", i));
  assert.deepEqual(await Promise.all(acks), Array.from({ length: 50 }, (_, i) => i));
  await upgraded;
  for (let i = 0; i < 50 && s.io.engine.transport.name !== "websocket"; i++) await sleep(20);
  assert.equal(s.io.engine.transport.name, "websocket");
  assert.equal(await s.timeout(2000).emitWithAck("echo", "after"), "after");
});

test("custom and dynamic namespaces; unknown ones are refused", async () => {
  const custom = connect("/custom");
  assert.deepEqual((await once(custom, "hello"))[0], { nsp: "/custom" });
  const dyn = connect("/dyn-abc");
  assert.deepEqual((await once(dyn, "hello"))[0], { nsp: "/dyn-abc" });
  assert.equal(await dyn.timeout(2000).emitWithAck("echo", "x"), "x");
  for (const name of ["/dyn", "/random"]) {
    const bad = connect(name);
    const [err] = await once(bad, "connect_error");
    assert.equal(err.message, "Invalid namespace");
  }
});

test("several namespaces share one connection", async () => {
  const m = manager();
  const main = track(m.socket("/"));
  const custom = track(m.socket("/custom"));
  main.connect();
  custom.connect();
  await Promise.all([connected(main), connected(custom)]);
  assert.equal(main.io, custom.io);
  assert.equal(await custom.timeout(2000).emitWithAck("echo", "c"), "c");
  assert.equal(await main.timeout(2000).emitWithAck("echo", "m"), "m");
  custom.disconnect();
  assert.equal(await main.timeout(2000).emitWithAck("echo", "still"), "still");
  main.disconnect();
  m.engine?.close();
});

test("reconnection after the server drops the connection", async () => {
  const s = await client("/", { transports: ["websocket"] });
  const reconnected = once(s.io, "reconnect");
  const [reason] = await Promise.all([once(s, "disconnect").then((a) => a[0]), s.emit("drop")]);
  assert.equal(reason, "transport close");
  await reconnected;
  await connected(s);
  assert.equal(await s.timeout(2000).emitWithAck("echo", "back"), "back");
});

test("emit with ack to many clients, with a timeout", async () => {
  const answerers = await Promise.all([client(), client(), client()]);
  const asker = await client();
  for (const s of answerers) await s.timeout(2000).emitWithAck("join", "ask");
  answerers[0].on("question", (q, cb) => cb("a0"));
  answerers[1].on("question", (q, cb) => cb("a1"));
  answerers[2].on("question", () => {}); // never answers
  const partial = await asker.timeout(5000).emitWithAck("ask-all", "ask", 500);
  assert.equal(partial.err, true);
  assert.deepEqual([...partial.responses].sort(), ["a0", "a1"]);
  answerers[2].removeAllListeners("question");
  answerers[2].on("question", (q, cb) => cb("a2"));
  const full = await asker.timeout(5000).emitWithAck("ask-all", "ask", 2000);
  assert.equal(full.err, false);
  assert.deepEqual([...full.responses].sort(), ["a0", "a1", "a2"]);
});

test("connection state recovery delivers what was missed", async () => {
  const s = connect("/", { transports: ["websocket"] });
  const welcomes = [];
  s.on("welcome", (w) => welcomes.push(w));
  await connected(s);
  for (let i = 0; i < 50 && welcomes.length === 0; i++) await sleep(10);
  assert.equal(welcomes[0].recovered, false);
  const id = s.id;
  await s.timeout(2000).emitWithAck("join", "rec");
  const other = await client();
  // one broadcast before the drop, so the client holds an offset (the
  // reference needs one to recover)
  const b0 = once(s, "broadcast");
  other.emit("broadcast", "rec", "m0");
  assert.equal((await b0)[0], "m0");
  const got = [];
  const gone = once(s, "disconnect");
  s.emit("drop");
  await gone;
  s.on("broadcast", (m) => got.push(m));
  const back = once(s, "connect");
  other.emit("broadcast", "rec", "m1");
  other.emit("broadcast", "rec", "m2");
  await back;
  for (let i = 0; i < 100 && (welcomes.length < 2 || got.length < 2); i++) await sleep(10);
  assert.equal(s.recovered, true);
  assert.equal(welcomes.length, 2, "the connection handler runs again on recovery");
  assert.equal(welcomes[1].recovered, true);
  assert.equal(s.id, id);
  assert.deepEqual(got, ["m1", "m2"]);
});

test("server-side utilities: fetchSockets count and disconnectSockets", async () => {
  const [a, b] = await Promise.all([client(), client()]);
  const n = await a.timeout(2000).emitWithAck("count");
  assert.ok(n >= 2, `count ${n}`);
  await b.timeout(2000).emitWithAck("join", "kick");
  const reason = once(b, "disconnect");
  a.emit("kick-room", "kick");
  assert.equal((await reason)[0], "io server disconnect");
  await none(b, "connect", 500); // no automatic reconnection after a server disconnect
  assert.equal(await a.timeout(2000).emitWithAck("echo", "alive"), "alive");
});

test("a server kick over polling: exactly one disconnect, reason io server disconnect", async () => {
  const s = await client("/", { transports: ["polling"] });
  const reasons = [];
  s.on("disconnect", (reason) => reasons.push(reason));
  s.emit("kick-me");
  for (let i = 0; i < 200 && reasons.length === 0; i++) await sleep(10);
  await none(s, "connect", 500); // and nothing else follows
  assert.deepEqual(reasons, ["io server disconnect"]);
});

test("bad input: a malformed packet closes only that connection; oversized POST gets 413", async () => {
  const good = await client();
  const hs = await (await fetch(`${URL}/socket.io/?EIO=4&transport=polling`)).text();
  const sid = JSON.parse(hs.slice(1)).sid;
  const u = `${URL}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  let res = await fetch(u, { method: "POST", body: "40" });
  assert.equal(res.status, 200);
  await (await fetch(u)).text(); // CONNECT answer
  res = await fetch(u, { method: "POST", body: "42abc" });
  await res.text();
  // The session ends: at most a closing packet, then "Session ID unknown".
  let closed = false;
  for (let i = 0; i < 3 && !closed; i++) {
    const r = await fetch(u);
    const body = await r.text();
    if (r.status === 400) closed = true;
    else assert.ok(body.split("\x1e").every((p) => p === "1" || p === "6"), `unexpected poll answer ${body}`);
  }
  assert.ok(closed, "session should be closed after a malformed packet");
  const hs2 = await (await fetch(`${URL}/socket.io/?EIO=4&transport=polling`)).text();
  const sid2 = JSON.parse(hs2.slice(1)).sid;
  res = await fetch(`${URL}/socket.io/?EIO=4&transport=polling&sid=${sid2}`, {
    method: "POST",
    body: "4" + "x".repeat(1_100_000),
  });
  await res.text().catch(() => {});
  assert.equal(res.status, 413);
  assert.equal(await good.timeout(2000).emitWithAck("echo", "ok"), "ok");
});

test("msgpack parser: each packet one binary message, binary as native bin; malformed msgpack closes", { skip: !MSGPACK }, async () => {
  const { Decoder } = (await import("socket.io-msgpack-parser")).default;
  const s = await client("/", { transports: ["websocket"] });
  const frames = [];
  s.io.engine.on("packet", (p) => p.type === "message" && frames.push(p.data));
  const buf = Buffer.from([1, 2, 3]);
  const back = await new Promise((resolve) => s.emit("echo", "x", buf, { nested: buf }, (...a) => resolve(a)));
  assert.deepEqual(Buffer.from(back[1]), buf);
  assert.deepEqual(Buffer.from(back[2].nested), buf);
  // Other packets may arrive meanwhile (a server's welcome event): look
  // at the acks among the messages.
  const decode = (f) => new Promise((resolve) => {
    const decoder = new Decoder();
    decoder.on("decoded", resolve);
    decoder.add(Buffer.from(f));
  });
  assert.ok(frames.every((f) => typeof f !== "string"), "every message binary");
  const acks = (await Promise.all(frames.map(decode))).filter((p) => p.type === 3);
  assert.equal(acks.length, 1, "the ack and its two buffers are one message");
  const decoded = acks[0];
  assert.deepEqual(Object.keys(decoded).sort(), ["data", "id", "nsp", "type"]);
  assert.equal(decoded.type, 3);
  assert.equal(decoded.nsp, "/");
  assert.ok(Buffer.isBuffer(decoded.data[1]), "binary arrives as msgpack bin");

  // Over polling, a binary message that is not msgpack ends the session.
  const hs = await (await fetch(`${URL}/socket.io/?EIO=4&transport=polling`)).text();
  const u = `${URL}/socket.io/?EIO=4&transport=polling&sid=${JSON.parse(hs.slice(1)).sid}`;
  await (await fetch(u, { method: "POST", body: "b" + Buffer.from([0x85, 0xa4]).toString("base64") })).text();
  let closed = false;
  for (let i = 0; i < 3 && !closed; i++) {
    const r = await fetch(u);
    await r.text();
    closed = r.status === 400;
  }
  assert.ok(closed, "session should be closed after malformed msgpack");
  assert.equal(await s.timeout(2000).emitWithAck("echo", "still here"), "still here");
});
