// The hooks against a real Herald server: the test builds and starts the
// herald binary (HERALD_BIN may name one already built).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useState } from "react";
import { act, create, type ReactTestRenderer } from "react-test-renderer";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import { createHmac } from "node:crypto";
import { io } from "socket.io-client";
import { HeraldProvider, useChat, useNotifications, usePresence, useRoomPresence, useRooms, useSocket } from "./hooks";

(globalThis as any).IS_REACT_ACT_ENVIRONMENT = true;

let proc: ChildProcess;
let url = "";
const KEY = "hooks-test-key";
const SECRET = "hooks-secret-hooks-secret-hooks-secret";

// hs256 signs a token by hand, for claims the dev endpoint does not make.
function hs256(claims: Record<string, unknown>) {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
  const body = b64({ alg: "HS256", typ: "JWT" }) + "." + b64(claims);
  return body + "." + createHmac("sha256", SECRET).update(body).digest("base64url");
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

async function token(name: string) {
  const r = await fetch(url + "/api/dev/token", { method: "POST", body: JSON.stringify({ name }) });
  return (await r.json()) as { token: string; user: { id: string; name: string } };
}

async function until(cond: () => boolean, ms = 8000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await act(async () => { await new Promise((r) => setTimeout(r, 25)); });
  }
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "herald-hooks-"));
  let bin = process.env.HERALD_BIN;
  if (!bin) {
    bin = join(dir, "herald");
    execFileSync("go", ["build", "-o", bin, "./cmd/herald"], { cwd: join(__dirname, "../../.."), stdio: "inherit" });
  }
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  proc = spawn(bin, [], {
    env: { ...process.env, HERALD_ADDR: `127.0.0.1:${port}`, HERALD_DATA_DIR: dir, HERALD_DEV: "1",
      HERALD_JWT_SECRET: SECRET, HERALD_API_KEY: KEY, HERALD_LOG_LEVEL: "warn", HERALD_PRESENCE_GRACE: "1s" },
    stdio: "inherit",
  });
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(url + "/readyz")).ok) return; } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("herald did not start");
}, 120000);

afterAll(() => { proc?.kill("SIGTERM"); });

function mount<T>(tok: string, hook: () => T) {
  const result: { current: T | null } = { current: null };
  function Probe() { result.current = hook(); return null; }
  let r!: ReactTestRenderer;
  act(() => { r = create(<HeraldProvider url={url} token={tok}><Probe /></HeraldProvider>); });
  return { result, unmount: () => act(() => r.unmount()) };
}

describe("hooks against a Herald server", () => {
  it("useChat: history, sends with acks de-duplicated, live messages and typing between two users", async () => {
    const alice = await token("Alice Hooks");
    const bob = await token("Bob Hooks");
    const a = mount(alice.token, () => useChat("general"));
    const b = mount(bob.token, () => useChat("general"));
    await until(() => !!a.result.current?.room && !!b.result.current?.room);
    await act(async () => { await a.result.current!.sendMessage("hello from hooks", alice.user); });
    await until(() => b.result.current!.messages.some((m) => m.content === "hello from hooks"));
    const mine = a.result.current!.messages.filter((m) => m.content === "hello from hooks");
    expect(mine).toHaveLength(1); // the ack and the broadcast are one message
    expect(mine[0].state).toBe("sent");
    act(() => b.result.current!.onInput());
    await until(() => a.result.current!.typingUsers.includes("Bob Hooks"));
    a.unmount();
    b.unmount();
  });

  it("useChat: a send carries a client id; a resend of it (another tab, after a reconnect) is the same message, shown once", async () => {
    const alice = await token("Alice Resend");
    const bob = await token("Bob Resend");
    const a = mount(alice.token, () => useChat("general"));
    const b = mount(bob.token, () => useChat("general"));
    await until(() => !!a.result.current?.room && !!b.result.current?.room);
    await act(async () => { await a.result.current!.sendMessage("sent once", alice.user); });
    const sent = a.result.current!.messages.find((m) => m.content === "sent once")!;
    expect(sent.state).toBe("sent");
    expect(sent.clientId).toBeTruthy();
    const raw = io(url + "/chat", { auth: { token: alice.token }, transports: ["websocket"], forceNew: true });
    try {
      await raw.timeout(5000).emitWithAck("join-room", "general");
      const again = await raw.timeout(5000).emitWithAck("send-message", { roomId: "general", content: "sent once", clientId: sent.clientId });
      expect(again.message.id).toBe(sent.id);
      await raw.timeout(5000).emitWithAck("send-message", { roomId: "general", content: "after the resend" });
    } finally {
      raw.disconnect();
    }
    await until(() => b.result.current!.messages.some((m) => m.content === "after the resend"));
    expect(b.result.current!.messages.filter((m) => m.content === "sent once")).toHaveLength(1);
    expect(a.result.current!.messages.filter((m) => m.content === "sent once")).toHaveLength(1);
    a.unmount();
    b.unmount();
  });

  it("useRooms: openDM gives both users the same private room, which the other sees at once", async () => {
    const erin = await token("Erin DM");
    const fay = await token("Fay DM");
    const e = mount(erin.token, () => useRooms());
    const f = mount(fay.token, () => useRooms());
    await until(() => e.result.current!.rooms.length > 0 && f.result.current!.rooms.length > 0);
    let room: Awaited<ReturnType<NonNullable<typeof e.result.current>["openDM"]>> = null;
    await act(async () => { room = await e.result.current!.openDM(fay.user.id); });
    expect(room!.dm).toEqual({ userId: fay.user.id, name: "Fay DM" });
    await until(() => f.result.current!.rooms.some((r) => r.id === room!.id));
    expect(f.result.current!.rooms.find((r) => r.id === room!.id)!.dm).toEqual({ userId: erin.user.id, name: "Erin DM" });
    let again: typeof room = null;
    await act(async () => { again = await f.result.current!.openDM(erin.user.id); });
    expect(again!.id).toBe(room!.id);
    e.unmount();
    f.unmount();
  });

  it("useRooms: the owner invites to a private room (the invitee sees it and is notified), removes; members leave", async () => {
    const gil = await token("Gil Owner");
    const hal = await token("Hal Guest");
    const g = mount(gil.token, () => useRooms());
    const h = mount(hal.token, () => ({ rooms: useRooms(), notes: useNotifications() }));
    await until(() => g.result.current!.rooms.length > 0 && h.result.current!.rooms.rooms.length > 0);
    let room: Awaited<ReturnType<NonNullable<typeof g.result.current>["create"]>> = null;
    await act(async () => { room = await g.result.current!.create("Gil's den", false); });
    expect(h.result.current!.rooms.rooms.some((r) => r.id === room!.id)).toBe(false);
    expect(await h.result.current!.rooms.invite(room!.id, hal.user.id)).toBe("Access denied");
    await act(async () => { expect(await g.result.current!.invite(room!.id, hal.user.id)).toBeNull(); });
    await until(() => h.result.current!.rooms.rooms.some((r) => r.id === room!.id));
    await until(() => h.result.current!.notes.notifications.some((n) => n.title === "Invited to Gil's den"));
    await act(async () => { expect(await g.result.current!.remove(room!.id, hal.user.id)).toBeNull(); });
    await until(() => !h.result.current!.rooms.rooms.some((r) => r.id === room!.id));
    await act(async () => { await g.result.current!.invite(room!.id, hal.user.id); });
    await until(() => h.result.current!.rooms.rooms.some((r) => r.id === room!.id));
    await act(async () => { expect(await h.result.current!.rooms.leave(room!.id)).toBeNull(); });
    await until(() => !h.result.current!.rooms.rooms.some((r) => r.id === room!.id));
    g.unmount();
    h.unmount();
  });

  it("read state: unread badges, markRead in one tab clears the other tab's, the sender sees the receipt", async () => {
    const ida = await token("Ida Reader");
    const jo = await token("Jo Writer");
    const tabA = mount(ida.token, () => ({ rooms: useRooms(), chat: useChat("general") }));
    const j = mount(jo.token, () => useChat("general"));
    await until(() => !!tabA.result.current?.chat.room && !!j.result.current?.room);
    const tabB = mount(ida.token, () => useRooms()); // a tab with the room list only
    await until(() => !!tabB.result.current!.rooms.find((r) => r.id === "general")?.member);
    await act(async () => { await j.result.current!.sendMessage("read this", jo.user); });
    await until(() => (tabB.result.current!.rooms.find((r) => r.id === "general")?.unread ?? 0) > 0);
    await until(() => tabA.result.current!.chat.messages.some((m) => m.content === "read this" && m.state === "sent"));
    await act(async () => { await tabA.result.current!.chat.markRead(); });
    await until(() => tabB.result.current!.rooms.find((r) => r.id === "general")!.unread === 0);
    await until(() => j.result.current!.receipts.some((r) => r.userId === ida.user.id));
    tabA.unmount();
    tabB.unmount();
    j.unmount();
  });

  it("useChat: the author edits and deletes; the other user sees both; others' messages are refused", async () => {
    const kim = await token("Kim Editor");
    const lee = await token("Lee Viewer");
    const k = mount(kim.token, () => useChat("general"));
    const l = mount(lee.token, () => useChat("general"));
    await until(() => !!k.result.current?.room && !!l.result.current?.room);
    await act(async () => { await k.result.current!.sendMessage("first draft", kim.user); });
    await until(() => l.result.current!.messages.some((m) => m.content === "first draft"));
    const id = k.result.current!.messages.find((m) => m.content === "first draft")!.id;
    expect(await l.result.current!.editMessage(id, "hijacked")).toBe("Access denied");
    await act(async () => { expect(await k.result.current!.editMessage(id, "final draft")).toBeNull(); });
    await until(() => l.result.current!.messages.find((m) => m.id === id)?.content === "final draft");
    expect(l.result.current!.messages.find((m) => m.id === id)!.editedAt).toBeTruthy();
    await act(async () => { expect(await k.result.current!.deleteMessage(id)).toBeNull(); });
    await until(() => !!l.result.current!.messages.find((m) => m.id === id)?.deleted);
    expect(k.result.current!.messages.find((m) => m.id === id)!.content).toBe("");
    k.unmount();
    l.unmount();
  });

  it("useRoomPresence: who is in the room, arrivals and departures", async () => {
    const mia = await token("Mia Present");
    const ned = await token("Ned Passing");
    const m = mount(mia.token, () => ({ chat: useChat("general"), here: useRoomPresence("general") }));
    await until(() => m.result.current!.here.users.some((u) => u.userId === mia.user.id));
    const n = mount(ned.token, () => useChat("general"));
    await until(() => m.result.current!.here.users.some((u) => u.userId === ned.user.id && u.name === "Ned Passing"));
    n.unmount();
    await until(() => !m.result.current!.here.users.some((u) => u.userId === ned.user.id));
    m.unmount();
  });

  it("useNotifications: a notification from the HTTP API arrives; read all", async () => {
    const carol = await token("Carol Hooks");
    const n = mount(carol.token, () => useNotifications());
    await until(() => !!n.result.current?.isConnected);
    const r = await fetch(url + "/api/notifications", {
      method: "POST", headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ userId: carol.user.id, type: "info", title: "Hi Carol", message: "" }),
    });
    expect(r.status).toBe(202);
    await until(() => n.result.current!.unreadCount === 1);
    expect(n.result.current!.notifications[0].title).toBe("Hi Carol");
    await act(async () => { await n.result.current!.markAllAsRead(); });
    expect(n.result.current!.unreadCount).toBe(0);
    n.unmount();
  });

  it("useNotifications: reading in one tab marks it read in the user's other tab", async () => {
    const dan = await token("Dan Hooks");
    const a = mount(dan.token, () => useNotifications());
    const b = mount(dan.token, () => useNotifications());
    await until(() => !!a.result.current?.isConnected && !!b.result.current?.isConnected);
    await fetch(url + "/api/notifications", {
      method: "POST", headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ userId: dan.user.id, type: "info", title: "Hi Dan", message: "" }),
    });
    await until(() => a.result.current!.unreadCount === 1 && b.result.current!.unreadCount === 1);
    await act(async () => { await a.result.current!.markAsRead(a.result.current!.notifications[0].id); });
    await until(() => b.result.current!.unreadCount === 0);
    a.unmount();
    b.unmount();
  });

  it("usePresence: pages who is online, then follows the batched changes: arrival, status, departure", async () => {
    const erin = await token("Erin Presence");
    const finn = await token("Finn Presence");
    const e = mount(erin.token, () => usePresence());
    const has = (id: string, status?: string) =>
      e.result.current!.online.some((p) => p.userId === id && (!status || p.status === status));
    await until(() => has(erin.user.id)); // herself, from the page or her change
    const f = mount(finn.token, () => usePresence({ pageSize: 1 })); // pages of one user
    await until(() => has(finn.user.id, "online"));
    await until(() => f.result.current!.online.some((p) => p.userId === erin.user.id));
    act(() => { f.result.current!.setStatus("away"); });
    await until(() => has(finn.user.id, "away"));
    f.unmount();
    await until(() => !has(finn.user.id)); // after the grace
    e.unmount();
  });

  it("useSocket: a token that expires ends the connection with an authentication error", async () => {
    // The server allows 30 s of clock skew: this token has about a second left.
    const now = Math.floor(Date.now() / 1000);
    const s = mount(hs256({ sub: "expiring", name: "Expiring", iat: now - 3600, exp: now - 29 }), () => useSocket("/"));
    await until(() => s.result.current?.isConnected === true);
    await until(() => s.result.current?.authError === "Token expired");
    expect(s.result.current!.isConnected).toBe(false);
    s.unmount();
  });

  it("HeraldProvider: refreshToken is called ahead of expiry and the connection outlives the old token", async () => {
    const now = Math.floor(Date.now() / 1000);
    const short = hs256({ sub: "refresher", name: "Refresher", iat: now - 3600, exp: now - 28 }); // about 2 s left
    let calls = 0;
    const result: { current: ReturnType<typeof useSocket> | null } = { current: null };
    // Answered once the socket is up on the short token, so that the new
    // one reaches it through auth:refresh, not a fresh handshake.
    const refreshToken = async () => {
      while (!result.current?.isConnected) await new Promise((r) => setTimeout(r, 20));
      calls++;
      return hs256({ sub: "refresher", name: "Refresher", iat: now, exp: now + 3600 });
    };
    function Probe() { result.current = useSocket("/chat"); return null; }
    let r!: ReactTestRenderer;
    act(() => { r = create(<HeraldProvider url={url} token={short} refreshToken={refreshToken} refreshAhead={1000}><Probe /></HeraldProvider>); });
    const control = mount(short, () => useSocket("/chat")); // the same token, never refreshed
    await until(() => calls > 0 && result.current?.isConnected === true);
    await until(() => control.result.current?.authError === "Token expired");
    expect(result.current!.authError).toBeNull();
    expect(result.current!.isConnected).toBe(true);
    const ack = await result.current!.socket!.timeout(5000).emitWithAck("rooms:list", {});
    expect("rooms" in ack).toBe(true);
    control.unmount();
    act(() => r.unmount());
  });

  it("HeraldProvider: a refresh before the socket is up, and a socket made after it, both carry the new token", async () => {
    const now = Math.floor(Date.now() / 1000);
    const short = hs256({ sub: "refresher2", name: "Refresher", iat: now - 3600, exp: now - 28 }); // about 2 s left
    let calls = 0;
    const refreshToken = async () => { calls++; return hs256({ sub: "refresher2", name: "Refresher", iat: now, exp: now + 3600 }); };
    const chat: { current: ReturnType<typeof useSocket> | null } = { current: null };
    const main: { current: ReturnType<typeof useSocket> | null } = { current: null };
    let showMain!: (v: boolean) => void;
    function Chat() { chat.current = useSocket("/chat"); return null; }
    function Main() { main.current = useSocket("/"); return null; }
    function Root() { const [m, setM] = useState(false); showMain = setM; return <><Chat />{m && <Main />}</>; }
    let r!: ReactTestRenderer;
    act(() => { r = create(<HeraldProvider url={url} token={short} refreshToken={refreshToken} refreshAhead={1000}><Root /></HeraldProvider>); });
    await until(() => calls > 0); // answered at once, while /chat may still be connecting
    act(() => showMain(true)); // made after the refresh
    const control = mount(short, () => useSocket("/chat")); // the old token, never refreshed
    await until(() => chat.current?.isConnected === true && main.current?.isConnected === true);
    await until(() => control.result.current?.authError === "Token expired"); // the old token's end has passed
    for (const s of [chat, main]) {
      expect(s.current!.authError).toBeNull();
      expect(s.current!.isConnected).toBe(true);
    }
    control.unmount();
    act(() => r.unmount());
  });

  it("useSocket: an invalid token is an authentication error, with no retry loop", async () => {
    const s = mount("not-a-token", () => useSocket("/"));
    await until(() => s.result.current?.authError === "Invalid token");
    expect(s.result.current!.isConnected).toBe(false);
    s.unmount();
  });
});
