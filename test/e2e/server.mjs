// Starts and stops the herald binary for the tests.
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { io } from "socket.io-client";
import crypto from "node:crypto";

export const SECRET = "e2e-secret-0123456789abcdef0123456789abcdef";
export const API_KEY = "e2e-api-key";

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

export class Herald {
  constructor(env = {}) {
    this.dataDir = mkdtempSync(join(tmpdir(), "herald-e2e-"));
    this.env = env;
    this.sockets = [];
  }
  async start() {
    this.port ??= await freePort();
    this.url = `http://127.0.0.1:${this.port}`;
    this.proc = spawn(process.env.HERALD_BIN, [], {
      env: {
        ...process.env,
        HERALD_ADDR: `127.0.0.1:${this.port}`,
        HERALD_DATA_DIR: this.dataDir,
        HERALD_JWT_SECRET: SECRET,
        HERALD_API_KEY: API_KEY,
        HERALD_DEV: "1",
        HERALD_TYPING_TIMEOUT: "1s",
        HERALD_PRESENCE_GRACE: "500ms",
        HERALD_LOG_LEVEL: "warn",
        HERALD_CONN_PER_IP_PER_MINUTE: "100000",
        ...this.env,
      },
      stdio: ["ignore", "inherit", "inherit"],
    });
    for (let i = 0; i < 200; i++) {
      try {
        const r = await fetch(this.url + "/readyz");
        if (r.ok) return this;
      } catch {}
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("herald did not start");
  }
  async stop(signal = "SIGTERM") {
    if (!this.proc) return;
    const p = this.proc;
    this.proc = null;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill(signal);
    await exited;
  }
  async restart() {
    await this.stop();
    await this.start();
  }
  // token mints an HS256 token like the server's (or a broken one).
  token(sub, name, { roles = ["user"], exp = Math.floor(Date.now() / 1000) + 3600, iat = Math.floor(Date.now() / 1000) - 10, alg = "HS256", secret = SECRET } = {}) {
    const b64 = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
    const head = b64({ alg, typ: "JWT" });
    const body = b64({ sub, name, roles, exp, iat });
    if (alg === "none") return `${head}.${body}.`;
    const sig = crypto.createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
    return `${head}.${body}.${sig}`;
  }
  socket(nsp, opts = {}) {
    const s = io(this.url + nsp, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 300, transports: ["websocket"], ...opts });
    this.sockets.push(s);
    return s;
  }
  closeSockets() {
    for (const s of this.sockets) s.disconnect();
    this.sockets = [];
  }
  async notify(body, key = API_KEY) {
    const r = await fetch(this.url + "/api/notifications", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: r.status, body: await r.json().catch(() => null) };
  }
}

export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

export function none(emitter, event, ms = 300) {
  return new Promise((resolve, reject) => {
    const h = (...a) => reject(new Error(`unexpected "${event}" ${JSON.stringify(a)}`));
    emitter.once(event, h);
    setTimeout(() => { emitter.off(event, h); resolve(); }, ms);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// strip drops the recovery offset the server appends to events.
export const strip = (args) => (typeof args.at(-1) === "string" ? args.slice(0, -1) : args);

export async function connected(s) {
  if (s.connected) return s;
  await once(s, "connect");
  return s;
}
