// Three herald nodes on Redis and PostgreSQL behind HAProxy with the
// deployment's configuration (deploy/haproxy.cfg): round robin, no
// stickiness, no cookie. Every request of a polling session may land on
// any node; the nodes forward it to the session's owner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";
import crypto from "node:crypto";
import { io } from "socket.io-client";
import YAML from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
const HAPROXY_CFG = join(ROOT, "deploy/haproxy.cfg");
const COMPOSE = join(ROOT, "docker-compose.yml");
const PG = process.env.HERALD_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS = process.env.HERALD_TEST_REDIS ?? "redis://127.0.0.1:6379/0";
const SECRET = "lb-secret-0123456789abcdef0123456789abcdef";
const EMITS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const id = crypto.randomBytes(4).toString("hex");
const database = `herald_lb_${id}`;
const dir = mkdtempSync(join(tmpdir(), "herald-lb-"));

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function until(what, f, ms = 30000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

function psql(db, sql) {
  const url = new URL(PG);
  url.pathname = "/" + db;
  execFileSync("psql", ["-q", url.href, "-c", sql], { stdio: ["ignore", "ignore", "inherit"] });
}

function token(sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
  const now = Math.floor(Date.now() / 1000);
  const body = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ sub, name: sub, roles: ["user"], iat: now - 10, exp: now + 3600 })}`;
  return `${body}.${crypto.createHmac("sha256", SECRET).update(body).digest("base64url")}`;
}

// node is one herald process; route is the prefix of its session ids,
// read from its log.
class Node {
  constructor(name, env) {
    this.name = name;
    this.env = env;
  }
  async start() {
    this.port ??= await freePort(); // a restart keeps its place in HAProxy's list
    this.route = undefined;
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(process.env.HERALD_BIN, [], {
      env: { ...process.env, ...this.env, HERALD_ADDR: `127.0.0.1:${this.port}`, HERALD_DATA_DIR: mkdtempSync(join(dir, this.name)) },
      stdio: ["ignore", "inherit", "pipe"],
    });
    // The log (stderr) names the route; lines past it are passed on.
    this.proc.stderr.setEncoding("utf8");
    this.log = "";
    this.proc.stderr.on("data", (d) => {
      if (this.route) return void process.stderr.write(d);
      this.log += d;
      const m = this.log.match(/msg="cluster node".* route=([0-9a-f]+) url=(\S+)/);
      if (m) this.route = m[1];
    });
    await until(`${this.name} ready`, async () => (await fetch(this.url + "/readyz")).ok && this.route);
    return this;
  }
  kill() {
    this.proc.kill("SIGKILL");
    this.proc = null;
  }
  async stop() {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGTERM");
    await exited;
  }
  async forwarded() {
    const text = await (await fetch(this.url + "/metrics")).text();
    let n = 0;
    for (const m of text.matchAll(/^herald_forwarded_requests_total\{transport="(\w+)"\} (\d+)/gm)) n += Number(m[2]);
    return n;
  }
}

let nodes = [];
let haproxy;
let lb;
let stats;
const haproxyEnv = {};

// frontend reads the socketio frontend's response counts from HAProxy's
// stats page.
async function frontend() {
  const csv = await (await fetch(stats + "/stats;csv")).text();
  const [head, ...rows] = csv.trim().split("\n");
  const cols = head.replace(/^# /, "").split(",");
  const row = rows.map((r) => r.split(",")).find((r) => r[0] === "socketio" && r[1] === "FRONTEND");
  return Object.fromEntries(cols.map((c, i) => [c, row[i]]));
}

async function serversUp() {
  const csv = await (await fetch(stats + "/stats;csv")).text();
  return csv.split("\n").filter((l) => l.startsWith("herald,herald") && l.split(",")[17] === "UP").length;
}

before(async () => {
  psql("test", `create database ${database}`);
  const url = new URL(PG);
  url.pathname = "/" + database;
  url.searchParams.set("sslmode", "disable");
  const env = {
    HERALD_DATABASE_URL: url.href,
    HERALD_REDIS_URL: REDIS,
    HERALD_REDIS_PREFIX: `herald-lb-${id}`,
    HERALD_JWT_SECRET: SECRET,
    HERALD_API_KEY: "lb-api-key",
    HERALD_LOG_LEVEL: "info",
    HERALD_RATE_LIMITS: "send-message=100000:100000,default=100000:100000",
    HERALD_USER_MESSAGE_RATE: "1000000/1s",
    HERALD_CONN_PER_IP_PER_MINUTE: "100000",
    HERALD_TRUSTED_PROXIES: "127.0.0.1/32", // HAProxy's X-Forwarded-For, as in the compose file
  };
  // One node first: it migrates the database, the others find it done.
  nodes = [new Node("herald1", env), new Node("herald2", env), new Node("herald3", env)];
  await nodes[0].start();
  await Promise.all(nodes.slice(1).map((n) => n.start()));
  const [lbPort, statsPort] = [await freePort(), await freePort()];
  lb = `http://127.0.0.1:${lbPort}`;
  stats = `http://127.0.0.1:${statsPort}`;
  Object.assign(haproxyEnv, { LB_BIND: `127.0.0.1:${lbPort}`, LB_STATS_BIND: `127.0.0.1:${statsPort}` });
  nodes.forEach((n, i) => (haproxyEnv[`HERALD${i + 1}_ADDR`] = `127.0.0.1:${n.port}`));
  haproxy = spawn("haproxy", ["-db", "-f", HAPROXY_CFG], { env: { ...process.env, ...haproxyEnv }, stdio: ["ignore", "pipe", "inherit"] });
  haproxy.log = "";
  haproxy.stdout.setEncoding("utf8");
  haproxy.stdout.on("data", (d) => (haproxy.log += d));
  await until("HAProxy to see 3 nodes up", async () => (await serversUp()) === 3);
});

after(async () => {
  for (const s of clients) s.disconnect();
  haproxy?.kill("SIGTERM");
  await Promise.all(nodes.map((n) => n.stop()));
  try {
    psql("test", `drop database if exists ${database} with (force)`);
  } catch {}
  rmSync(dir, { recursive: true, force: true });
});

const clients = [];

function client(user, opts = {}) {
  const s = io(lb + "/chat", { forceNew: true, auth: { token: token(user) }, reconnectionDelay: 100, reconnectionDelayMax: 500, ...opts });
  clients.push(s);
  return s;
}

async function connected(s) {
  if (!s.connected) await new Promise((resolve, reject) => { s.once("connect", resolve); s.once("connect_error", reject); });
  return s;
}

async function emits(s, room, n) {
  for (let i = 0; i < n; i++) {
    const ack = await s.timeout(20000).emitWithAck("send-message", { roomId: room, content: `${s.id} ${i}` });
    assert.ok(ack.message, `emit ${i}: ${JSON.stringify(ack)}`);
  }
}

// The 400s HAProxy answered or passed on, and every 4xx and 5xx.
function bad(f) {
  return { "4xx": Number(f.hrsp_4xx), "5xx": Number(f.hrsp_5xx) };
}

test("polling-only and upgrading clients complete 1,000 emits with acks each, with no 4xx and no 5xx", async () => {
  const polling = [client("poll-a", { transports: ["polling"] }), client("poll-b", { transports: ["polling"] })];
  const upgrading = [client("up-a"), client("up-b")];
  const all = [...polling, ...upgrading];
  await Promise.all(all.map(connected));
  // Each its own room: the acks, not a shared room's fan-out, are the load.
  await Promise.all(all.map(async (s, i) => {
    const r = await s.emitWithAck("create-room", { name: `lb ${id} ${i}`, public: false });
    assert.ok(r.room, JSON.stringify(r));
    s.room = r.room.id;
    const j = await s.emitWithAck("join-room", s.room);
    assert.ok(j.ok, JSON.stringify(j));
  }));
  for (const s of upgrading) {
    await until("the upgrade to WebSocket", async () => s.io.engine.transport.name === "websocket");
  }
  await Promise.all(all.map((s) => emits(s, s.room, EMITS)));
  for (const s of polling) assert.equal(s.io.engine.transport.name, "polling");
  const f = await frontend();
  const forwarded = (await Promise.all(nodes.map((n) => n.forwarded()))).reduce((a, b) => a + b, 0);
  console.log(`# HAProxy: ${f.req_tot} requests, 2xx ${f.hrsp_2xx}, 4xx ${f.hrsp_4xx}, 5xx ${f.hrsp_5xx}; forwarded by the nodes: ${forwarded}`);
  assert.deepEqual(bad(f), { "4xx": 0, "5xx": 0 });
  assert.ok(forwarded > EMITS, `only ${forwarded} requests were forwarded: was the balancing round robin?`);
  for (const s of all) s.disconnect();
});

const owns = (n, s) => s.io.engine.id.startsWith(n.route + ".");

// offNode reconnects s until its session is held by a node other than n.
async function offNode(s, n) {
  while (owns(n, s)) {
    s.disconnect();
    s.connect();
    await connected(s);
  }
  return s;
}

// A user in general, polling only, who records what they get.
async function member(name) {
  const s = await connected(client(name, { transports: ["polling"] }));
  s.got = [];
  s.on("new-message", (m) => {
    s.got.push(m.content);
    s.last = m.id;
  });
  const j = await s.emitWithAck("join-room", "general");
  assert.ok(j.ok, JSON.stringify(j));
  return s;
}

async function send(s, content) {
  const ack = await s.timeout(20000).emitWithAck("send-message", { roomId: "general", content });
  assert.ok(ack.message, JSON.stringify(ack));
}

// A rolling restart: the node that holds the session stops (SIGTERM), its
// sessions are kept in Redis, and the client, sent by HAProxy to another
// node, gets its session back there with what it missed.
test("connection state recovery on another node when the session's node restarts", async () => {
  const watcher = await member("watcher");
  const s = await member("survivor");
  try {
    await send(watcher, "before");
    await until("the first message", async () => s.got.includes("before"));
    const owner = nodes.find((n) => owns(n, s));
    assert.ok(owner, `no node has the route of ${s.io.engine.id}`);
    await offNode(watcher, owner);
    await watcher.emitWithAck("join-room", "general");
    const before = bad(await frontend());
    const recovered = new Promise((resolve) => s.once("connect", () => resolve(s.recovered)));
    await owner.stop();
    await send(watcher, "while away");
    assert.equal(await recovered, true, "the session was not recovered");
    assert.ok(!owns(owner, s));
    await until("the missed message", async () => s.got.includes("while away"));
    assert.equal(bad(await frontend())["4xx"], before["4xx"], "a 4xx during the restart");
    await owner.start();
    await until("HAProxy to see 3 nodes up", async () => (await serversUp()) === 3);
  } finally {
    watcher.disconnect();
    s.disconnect();
  }
});

// A node killed -9 saw none of its clients leave, but their sessions were
// kept in Redis while they were connected (SessionKeeper): a client of
// that node, sent by HAProxy to a live node, gets its session back there
// with what it missed; the requests the dead node was relaying for other
// nodes' sessions are cut, and those clients reconnect. Meanwhile a
// backend posts through a live node's API.
test("a client of a node killed -9 recovers its session on another node through HAProxy", async () => {
  const s = await member("victim");
  try {
    const owner = nodes.find((n) => owns(n, s));
    const live = nodes.find((n) => n !== owner);
    const post = async (content) => {
      const r = await fetch(live.url + "/api/v1/rooms/general/messages", {
        method: "POST", headers: { authorization: "Bearer lb-api-key", "content-type": "application/json" },
        body: JSON.stringify({ content }),
      });
      assert.equal(r.status, 201, await r.text());
    };
    await post("before the kill");
    await until("the first message", async () => s.got.includes("before the kill"));
    const before = bad(await frontend());
    const back = new Promise((resolve) => s.once("connect", () => resolve(s.recovered)));
    const last = s.last;
    owner.kill();
    await post("during the kill");
    assert.equal(await back, true, "the session was not recovered after kill -9");
    assert.ok(!owns(owner, s));
    await until("the missed message", async () => s.got.includes("during the kill"));
    const sync = await s.timeout(20000).emitWithAck("sync-state", { lastMessageIds: { general: last } });
    assert.deepEqual(sync.missed.general.map((m) => m.content), ["during the kill"]);
    const f = bad(await frontend());
    console.log(`# around the kill -9: 4xx ${f["4xx"] - before["4xx"]}, 5xx ${f["5xx"] - before["5xx"]}`);
    assert.equal(f["4xx"], before["4xx"], "a 4xx after the kill");
    await owner.start();
  } finally {
    s.disconnect();
  }
});

// docker-compose.yml runs the same HAProxy file with the same variables,
// in front of three nodes that each publish the address the others reach
// them at.
test("docker-compose.yml is in step with the test's HAProxy configuration", () => {
  const compose = YAML.parse(readFileSync(COMPOSE, "utf8"), { merge: true });
  const lbService = compose.services.haproxy;
  assert.ok(lbService.volumes.some((v) => String(v).startsWith("./deploy/haproxy.cfg:")), "haproxy mounts deploy/haproxy.cfg");
  const cfgVars = [...readFileSync(HAPROXY_CFG, "utf8").matchAll(/"\$\{(\w+)\}"/g)].map((m) => m[1]).sort();
  assert.deepEqual(cfgVars.sort(), Object.keys(haproxyEnv).sort(), "the test sets every variable the file reads");
  assert.deepEqual(Object.keys(lbService.environment).sort(), cfgVars, "compose sets every variable the file reads");
  for (const i of [1, 2, 3]) {
    const node = compose.services[`herald${i}`];
    assert.ok(node, `herald${i}`);
    assert.equal(lbService.environment[`HERALD${i}_ADDR`], `herald${i}:8080`);
    assert.equal(node.environment.HERALD_NODE_URL, `http://herald${i}:8080`);
    assert.match(node.environment.HERALD_REDIS_URL, /^redis:\/\/redis:6379/);
    assert.match(node.environment.HERALD_DATABASE_URL, /^postgres:\/\/.*@postgres:5432\//);
    assert.equal(node.build?.context ?? node.build, ".");
    assert.ok(node.environment.HERALD_TRUSTED_PROXIES, "the nodes believe HAProxy's X-Forwarded-For");
    assert.equal(node.ports, undefined, "only HAProxy reaches the nodes");
  }
  const port = lbService.environment.LB_BIND.split(":").at(-1);
  assert.ok(lbService.ports.some((p) => String(p).endsWith(`:${port}`)), `the balancer's port ${port} is published`);
});
