// The demo chat app: login with a development token, rooms, chat with
// history, typing, presence, notifications, and the connection state; unread
// badges, direct messages, invitations, read receipts, edit and delete, and
// who is in the room.
import { useEffect, useRef, useState, type FormEvent } from "react";
import { HeraldProvider, useChat, useNotifications, usePresence, useRoomPresence, useRooms, useSocket } from "../herald/hooks";
import type { Notification } from "../herald/events";

interface Session { token: string; user: { id: string; name: string; roles: string[] } }

export function App() {
  const [session, setSession] = useState<Session | null>(() => {
    const s = sessionStorage.getItem("herald");
    return s ? JSON.parse(s) : null;
  });
  const [refreshed, setRefreshed] = useState(0);
  if (!session) return <Login onLogin={(s) => { sessionStorage.setItem("herald", JSON.stringify(s)); setSession(s); }} />;
  // A live token: ahead of its expiry the provider asks for the next one
  // (here the development endpoint's), and the connections keep going.
  const refreshToken = async () => {
    const r = await fetch("/api/dev/token", { method: "POST", body: JSON.stringify({ name: session.user.name }) });
    if (!r.ok) throw new Error("refresh failed");
    const body: Session = await r.json();
    sessionStorage.setItem("herald", JSON.stringify({ ...session, token: body.token }));
    setRefreshed((n) => n + 1);
    return body.token;
  };
  return (
    <HeraldProvider token={session.token} refreshToken={refreshToken}>
      <Chat user={session.user} refreshed={refreshed} onLogout={() => { sessionStorage.removeItem("herald"); setSession(null); }} />
    </HeraldProvider>
  );
}

function Login({ onLogin }: { onLogin: (s: Session) => void }) {
  const [name, setName] = useState("");
  const [error, setError] = useState("");
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await fetch("/api/dev/token", { method: "POST", body: JSON.stringify({ name }) });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) { setError(body.error || "Login failed"); return; }
    onLogin(body);
  };
  return (
    <div id="login">
      <h1>Herald</h1>
      <p>Pick a name to get a development token and join the chat.</p>
      <form id="loginForm" onSubmit={submit}>
        <input id="name" placeholder="Your name" autoFocus maxLength={32} required value={name} onChange={(e) => setName(e.target.value)} />
        <button>Join</button>
      </form>
      <p id="loginError" style={{ color: "var(--bad)" }}>{error}</p>
    </div>
  );
}

function time(iso: string) {
  const d = new Date(iso);
  return isNaN(+d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

function Chat({ user, refreshed, onLogout }: { user: Session["user"]; refreshed: number; onLogout: () => void }) {
  const [roomId, setRoomId] = useState("general");
  const [toasts, setToasts] = useState<{ id: number; title: string; text: string }[]>([]);
  const toast = (title: string, text = "") => {
    const id = Math.random();
    setToasts((t) => [...t, { id, title, text }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), 5000);
  };
  const main = useSocket("/");
  const chat = useChat(roomId);
  const { rooms, create, openDM, invite } = useRooms();
  const here = useRoomPresence(roomId);
  const { online, setStatus } = usePresence();
  const notes = useNotifications((n: Notification) => toast(n.title, n.message));
  const [showNotes, setShowNotes] = useState(false);
  const [text, setText] = useState("");
  const [newRoom, setNewRoom] = useState("");
  const [privateRoom, setPrivateRoom] = useState(false);
  const [invitee, setInvitee] = useState("");
  const box = useRef<HTMLDivElement>(null);

  useEffect(() => { if (main.authError) onLogout(); }, [main.authError]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => { if (chat.error) toast("Error", chat.error); }, [chat.error]);
  useEffect(() => { box.current?.scrollTo(0, box.current.scrollHeight); }, [chat.messages.length]);
  // The open room is read as its messages arrive: its badge (and the
  // user's other tabs') clears, and the others get a receipt.
  useEffect(() => { chat.markRead(); }, [chat.messages.length, roomId]); // eslint-disable-line react-hooks/exhaustive-deps
  const current = rooms.find((r) => r.id === roomId);
  const edit = async (id: string, content: string) => {
    const next = window.prompt("Edit message", content);
    if (next && next.trim() && next !== content) { const err = await chat.editMessage(id, next.trim()); if (err) toast("Edit", err); }
  };
  const remove = async (id: string) => { const err = await chat.deleteMessage(id); if (err) toast("Delete", err); };

  const send = (e: FormEvent) => {
    e.preventDefault();
    const content = text.trim();
    if (!content) return;
    setText("");
    chat.sendMessage(content, user);
  };
  const typing = chat.typingUsers;
  return (
    <div id="app">
      <header>
        <h1>Herald <small id="me" style={{ color: "var(--muted)", fontWeight: 400 }}>· {user.name}</small></h1>
        <select id="status" title="Your status" onChange={(e) => setStatus(e.target.value as "online" | "away" | "busy")}>
          <option>online</option><option>away</option><option>busy</option>
        </select>
        <div className="bell" id="bell" title="Notifications" onClick={() => setShowNotes((v) => !v)}>
          <svg width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9" /><path d="M13.7 21a2 2 0 0 1-3.4 0" /></svg>
          <span id="unread" className={notes.unreadCount ? "" : "hidden"}>{notes.unreadCount}</span>
        </div>
        {refreshed > 0 && <small id="refreshed" style={{ color: "var(--muted)" }} title="The token was replaced before it expired, on the same connection">token refreshed ×{refreshed}</small>}
        <span id="conn" className={"badge " + chat.state}>{chat.state}</span>
      </header>
      <div id="notes" style={{ display: showNotes ? "block" : "none" }}>
        <div style={{ display: "flex", justifyContent: "space-between", padding: "8px 12px" }}>
          <b>Notifications</b><button className="ghost" id="readAll" onClick={notes.markAllAsRead}>Mark all read</button>
        </div>
        <div id="noteList">
          {notes.notifications.length === 0 && <div className="n">Nothing yet</div>}
          {notes.notifications.map((n) => (
            <div key={n.id} className={"n " + (n.read ? "" : "unread")} onClick={() => !n.read && notes.markAsRead(n.id)}>
              <b>{n.title}</b><br />{n.message}
            </div>
          ))}
        </div>
      </div>
      <main>
        <aside>
          <h2>Rooms</h2>
          <div id="rooms">
            {rooms.map((r) => (
              <div key={r.id} className={"room " + (r.id === roomId ? "active" : "")} onClick={() => setRoomId(r.id)}>
                {r.dm ? "@ " + r.dm.name : r.name}<small>{r.public || r.dm ? "" : "🔒"}</small>
                {r.id !== roomId && (r.unread ?? 0) > 0 && <span className="count">{(r.unread ?? 0) > 99 ? "99+" : r.unread}</span>}
              </div>
            ))}
          </div>
          <form id="newRoom" style={{ display: "flex", gap: 6, padding: "10px 14px" }}
            onSubmit={async (e) => { e.preventDefault(); const r = await create(newRoom.trim(), !privateRoom); setNewRoom(""); if (r) setRoomId(r.id); }}>
            <input id="roomName" placeholder="New room" maxLength={64} value={newRoom} onChange={(e) => setNewRoom(e.target.value)} />
            <label title="Private: members only"><input type="checkbox" id="roomPrivate" checked={privateRoom} onChange={(e) => setPrivateRoom(e.target.checked)} /> private</label>
            <button>+</button>
          </form>
        </aside>
        <section>
          <div style={{ padding: "8px 18px", borderBottom: "1px solid var(--line)", display: "flex", justifyContent: "space-between", alignItems: "center" }}>
            <b id="roomTitle">{current?.dm ? "@ " + current.dm.name : chat.room?.name ?? "—"} <small id="here" style={{ color: "var(--muted)", fontWeight: 400 }}>· {here.count} here<span id="hereNames">{here.users.length ? ": " + here.users.map((u) => u.name).join(", ") : ""}</span></small></b>
            {current && !current.public && !current.dm && (
              <form id="inviteForm" style={{ display: "flex", gap: 6 }}
                onSubmit={async (e) => { e.preventDefault(); const err = await invite(roomId, invitee.trim()); setInvitee(""); toast("Invite", err ?? "sent"); }}>
                <input id="invitee" placeholder="Invite user id" value={invitee} onChange={(e) => setInvitee(e.target.value)} /><button>Invite</button>
              </form>
            )}
            <button className="ghost" id="older" disabled={!chat.hasOlder} onClick={chat.loadOlder}>Load older</button>
          </div>
          <div id="messages" ref={box}>
            {chat.messages.map((m) => (
              <div key={m.id} className={"msg " + m.state + (m.deleted ? " deleted" : "")}>
                <span className="who">{m.author.name}</span>
                <span className="text">{m.deleted ? "message deleted" : m.content}{m.editedAt && !m.deleted ? <small> (edited)</small> : null}</span>
                <span className="time">{time(m.createdAt)}</span>
                {m.author.id === user.id && m.state === "sent" && !m.deleted && (
                  <span className="actions">
                    <button className="ghost edit" title="Edit" onClick={() => edit(m.id, m.content)}>✎</button>
                    <button className="ghost delete" title="Delete" onClick={() => remove(m.id)}>✕</button>
                  </span>
                )}
                {m.state === "failed" && m.clientId && <button className="ghost retry" onClick={() => chat.retryMessage(m.clientId!)}>retry</button>}
              </div>
            ))}
          </div>
          <div id="receipts">{chat.receipts.length ? "Read by " + chat.receipts.map((r) => r.name).join(", ") : ""}</div>
          <div id="typing">{typing.length ? `${typing.join(", ")} ${typing.length === 1 ? "is" : "are"} typing…` : ""}</div>
          <form className="send" id="sendForm" onSubmit={send}>
            <input id="text" placeholder="Type a message…" autoComplete="off" maxLength={4000} value={text}
              onChange={(e) => { setText(e.target.value); chat.onInput(); }} />
            <button>Send</button>
          </form>
        </section>
        <aside>
          <h2>Online</h2>
          <div id="people">
            {online.map((p) => (
              <div key={p.userId} className="user" title={p.userId === user.id ? "" : "Direct message"}
                onClick={async () => { if (p.userId === user.id) return; const r = await openDM(p.userId); if (r) setRoomId(r.id); }}>
                <span className={"dot " + p.status} />{p.name}{p.userId === user.id ? " (you)" : ""}
              </div>
            ))}
          </div>
        </aside>
      </main>
      <div id="toasts">{toasts.map((t) => <div key={t.id} className="toast"><b>{t.title}</b><br />{t.text}</div>)}</div>
    </div>
  );
}
