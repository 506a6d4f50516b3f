// What the Dockerfile's image would do, without a container runtime: the
// release build (scripts/release.sh, as the image's build stage runs it),
// the final stage's files alone in an empty root (the binary, CA
// certificates, /data, /tmp), started under chroot with the final stage's
// USER, ENV and ENTRYPOINT, checked with its HEALTHCHECK and a chat round
// trip through the official client. Needs root (chroot); CI runs as root.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, copyFileSync, chmodSync, chownSync, readFileSync, rmSync, openSync, readSync, closeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import net from "node:net";
import { Herald, once, connected } from "./server.mjs";

const repo = resolve(import.meta.dirname, "../..");
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), "herald-image-"));
const VERSION = "v0.0.0-imagetest";
// The children get only the image's environment, so no PATH to find chroot by.
const CHROOT = spawnSync("sh", ["-c", "command -v chroot"], { encoding: "utf8" }).stdout.trim() || "/usr/sbin/chroot";

// finalStage reads the Dockerfile's last stage: its ENV, USER, ENTRYPOINT,
// HEALTHCHECK and the files it copies in.
function finalStage() {
  const lines = readFileSync(join(repo, "Dockerfile"), "utf8").replace(/\\\n/g, " ").split("\n");
  const from = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  const stage = { env: {}, copies: [], from: lines[from].split(/\s+/)[1] };
  for (const l of lines.slice(from + 1)) {
    const [, word, rest] = l.match(/^(\w+)\s+(.*)$/) ?? [];
    if (!word) continue;
    switch (word.toUpperCase()) {
      case "ENV":
        for (const [, k, v] of rest.matchAll(/(\w+)=(\S+)/g)) stage.env[k] = v;
        break;
      case "USER": stage.user = rest.trim(); break;
      case "ENTRYPOINT": stage.entrypoint = JSON.parse(rest); break;
      case "HEALTHCHECK": stage.healthcheck = JSON.parse(rest.slice(rest.indexOf("CMD") + 3)); break;
      case "VOLUME": stage.volume = rest.trim(); break;
      case "COPY": stage.copies.push(rest.trim().split(/\s+/).slice(-1)[0]); break;
    }
  }
  return stage;
}

async function freePort() {
  return new Promise((ok) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

const stage = finalStage();
const root = join(work, "root");
let bin;
let proc;
let url;
let logs = "";

function inRoot(args, env) {
  return ["--userspec=" + stage.user, root, ...args, { env }];
}

function start(env) {
  const [...args] = inRoot(stage.entrypoint, env);
  const opts = args.pop();
  const p = spawn(CHROOT, args, { ...opts, stdio: ["ignore", "pipe", "pipe"] });
  p.stdout.on("data", (d) => (logs += d));
  p.stderr.on("data", (d) => (logs += d));
  return p;
}

// The release build compiles everything twice (two platforms) on a cold cache.
before(async () => {
  if (!isRoot) return;
  const out = join(work, "dist");
  const r = spawnSync("bash", ["scripts/release.sh"], {
    cwd: repo, encoding: "utf8",
    env: { ...process.env, OUT: out, VERSION, PLATFORMS: "linux/amd64 linux/arm64" },
  });
  assert.equal(r.status, 0, r.stderr);
  const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, encoding: "utf8" });
  assert.equal(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /herald-v0\.0\.0-imagetest-linux-amd64: OK/);
  assert.match(check.stdout, /herald-v0\.0\.0-imagetest-linux-arm64: OK/);
  bin = join(out, `herald-${VERSION}-linux-${process.arch === "arm64" ? "arm64" : "amd64"}`);
  // The image's root: exactly what the final stage copies, nothing else.
  assert.equal(stage.from, "scratch");
  mkdirSync(join(root, "etc/ssl/certs"), { recursive: true });
  copyFileSync("/etc/ssl/certs/ca-certificates.crt", join(root, "etc/ssl/certs/ca-certificates.crt"));
  copyFileSync(bin, join(root, "herald"));
  chmodSync(join(root, "herald"), 0o755);
  for (const d of ["data", "tmp"]) mkdirSync(join(root, d));
  const [uid, gid] = stage.user.split(":").map(Number);
  chownSync(join(root, "data"), uid, gid);
  chmodSync(join(root, "tmp"), 0o1777);
  assert.deepEqual(stage.copies.sort(), ["/", "/etc/ssl/certs/ca-certificates.crt", "/herald"].sort());
}, { timeout: 15 * 60_000 });

after(async () => {
  proc?.kill("SIGTERM");
  rm();
});
function rm() { try { rmSync(work, { recursive: true, force: true }); } catch {} }

const skip = isRoot ? false : "needs root for chroot";

test("release binaries are static, for amd64 and arm64, and know their version", { skip }, () => {
  const machine = (f) => {
    const fd = openSync(f, "r"); const b = Buffer.alloc(20); readSync(fd, b, 0, 20, 0); closeSync(fd);
    return b.readUInt16LE(18); // ELF e_machine
  };
  assert.equal(machine(bin.replace(/-(amd64|arm64)$/, "-amd64")), 62); // x86-64
  assert.equal(machine(bin.replace(/-(amd64|arm64)$/, "-arm64")), 183); // AArch64
  const [...args] = inRoot(["/herald", "version"], {});
  const opts = args.pop();
  const v = spawnSync(CHROOT, args, { ...opts, encoding: "utf8" });
  assert.equal(v.status, 0, v.stderr);
  assert.match(v.stdout, new RegExp(`^herald ${VERSION.replace(/\./g, "\\.")}\ncommit [0-9a-f]{40}\nbuilt \\d{4}-`));
});

test("without a secret the image refuses to start in dev mode on a network address, and says what to set", { skip }, async () => {
  logs = "";
  const p = start({ ...stage.env });
  const code = await new Promise((ok) => p.once("exit", ok));
  assert.notEqual(code, 0);
  assert.match(logs, /HERALD_JWT_SECRET/);
});

test("the image's root serves: healthcheck, /readyz, a chat round trip, data kept in the volume", { skip }, async () => {
  const port = await freePort();
  const h = new Herald();
  const env = { ...stage.env, HERALD_ADDR: `0.0.0.0:${port}`, HERALD_JWT_SECRET: "image-test-secret-0123456789abcdef0123456789" };
  const tok = (id, name) => h.token(id, name, { secret: env.HERALD_JWT_SECRET });
  url = `http://127.0.0.1:${port}`;
  logs = "";
  proc = start(env);
  let ready = false;
  for (let i = 0; i < 200 && !ready; i++) {
    try { ready = (await fetch(url + "/readyz")).ok; } catch {}
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(ready, "not ready: " + logs);
  const [...hargs] = inRoot(stage.healthcheck, env);
  const hopts = hargs.pop();
  assert.equal(spawnSync(CHROOT, hargs, hopts).status, 0, "HEALTHCHECK failed");

  h.url = url;
  const join1 = async (token) => {
    const s = h.socket("/chat", { auth: { token } });
    await connected(s);
    const res = await s.timeout(5000).emitWithAck("join-room", "general");
    assert.equal(res.ok, true, JSON.stringify(res));
    return s;
  };
  const a = await join1(tok("alice", "Alice"));
  const b = await join1(tok("bob", "Bob"));
  const got = once(b, "new-message");
  const ack = await a.timeout(5000).emitWithAck("send-message", { roomId: "general", content: "from the image" });
  assert.equal(ack.message.content, "from the image");
  const [msg] = await got;
  assert.equal(msg.id, ack.message.id);
  h.closeSockets();
  assert.match(logs, new RegExp(`"version":"${VERSION.replace(/\./g, "\\.")}"`), "the start log names the version");

  // Stopped and started again, the message is still in the data volume.
  const exited = new Promise((ok) => proc.once("exit", ok));
  proc.kill("SIGTERM");
  assert.equal(await exited, 0, logs);
  proc = start(env);
  ready = false;
  for (let i = 0; i < 200 && !ready; i++) {
    try { ready = (await fetch(url + "/readyz")).ok; } catch {}
    if (!ready) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(ready);
  const c = await join1(tok("carol", "Carol"));
  const hist = await c.timeout(5000).emitWithAck("history", { roomId: "general" });
  assert.ok(hist.messages.some((m) => m.id === ack.message.id));
  h.closeSockets();
});
