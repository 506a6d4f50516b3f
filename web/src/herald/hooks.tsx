// React hooks for Herald, on the official socket.io-client. One socket per
// namespace is shared by every component through HeraldProvider (so React
// StrictMode's double mount opens no second connection), and every
// listener a hook adds is removed when it unmounts.
import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import { io, type Socket } from "socket.io-client";
import {
  AUTH_ERRORS, TOKEN_EXPIRED,
  type ChatClientToServer, type ChatServerToClient, type MainClientToServer, type MainServerToClient,
  type Message, type Notification, type Presence, type ReadReceipt, type ReadState, type Room, type Status,
} from "./events";
import { applyPresence, connectionState, lastId, markFailed, mergeMessages, newClientId, typingDebouncer, type ChatMessage, type ConnectionState } from "./logic";

export type ChatSocket = Socket<ChatServerToClient, ChatClientToServer>;
export type MainSocket = Socket<MainServerToClient, MainClientToServer>;

export interface HeraldOptions {
  url?: string; // default: same origin
  token: string;
  reconnectionAttempts?: number;
  reconnectionDelay?: number;
  reconnectionDelayMax?: number;
  // refreshToken gets a new token of the same user; the provider calls it
  // refreshAhead ms (default 60 s) before the token's exp and hands the
  // result to every socket (auth:refresh, and the auth of its reconnects).
  refreshToken?: () => Promise<string>;
  refreshAhead?: number;
}

// tokenExp reads a JWT's exp claim, in ms (undefined without one).
export function tokenExp(token: string): number | undefined {
  try {
    const body = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const exp = JSON.parse(atob(body)).exp;
    return typeof exp === "number" ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

interface Entry { socket: Socket; refs: number }
interface Ctx { acquire(nsp: string): Socket; release(nsp: string): void }
const HeraldContext = createContext<Ctx | null>(null);

export function HeraldProvider({ children, ...opts }: HeraldOptions & { children: ReactNode }) {
  const sockets = useRef(new Map<string, Entry>());
  // The token now: the given one, or the last the refresh callback gave
  // (a socket made after a refresh connects with it).
  const tokenRef = useRef(opts.token);
  const givenRef = useRef(opts.token);
  if (givenRef.current !== opts.token) givenRef.current = tokenRef.current = opts.token;
  const ctx = useMemo<Ctx>(() => ({
    acquire(nsp) {
      let e = sockets.current.get(nsp);
      if (!e) {
        const socket = io((opts.url ?? "") + nsp, {
          // On "/", presence in the batched form: one presence:changes per
          // tick, and the online users paged on demand instead of a list
          // of everyone at each connection.
          auth: nsp === "/" ? { token: tokenRef.current, presence: "changes" } : { token: tokenRef.current },
          reconnection: true,
          reconnectionAttempts: opts.reconnectionAttempts ?? Infinity,
          reconnectionDelay: opts.reconnectionDelay ?? 1000,
          reconnectionDelayMax: opts.reconnectionDelayMax ?? 5000,
        });
        e = { socket, refs: 0 };
        sockets.current.set(nsp, e);
      }
      e.refs++;
      return e.socket;
    },
    release(nsp) {
      const e = sockets.current.get(nsp);
      if (e && --e.refs === 0) {
        // Deferred: a StrictMode remount acquires it again at once.
        setTimeout(() => {
          if (e.refs === 0 && sockets.current.get(nsp) === e) {
            e.socket.disconnect();
            sockets.current.delete(nsp);
          }
        }, 0);
      }
    },
  }), [opts.url, opts.token]); // eslint-disable-line react-hooks/exhaustive-deps

  // Live tokens: ahead of each token's exp, get the next one and give it
  // to the connections, which stay up.
  const refreshRef = useRef(opts.refreshToken);
  refreshRef.current = opts.refreshToken;
  const hasRefresh = !!opts.refreshToken;
  const ahead = opts.refreshAhead ?? 60000;
  useEffect(() => {
    if (!hasRefresh) return;
    let token = opts.token;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const schedule = () => {
      const exp = tokenExp(token);
      if (exp === undefined || stopped) return;
      timer = setTimeout(refresh, Math.max(0, exp - ahead - Date.now()));
    };
    const refresh = async () => {
      const next = await refreshRef.current?.().catch(() => null);
      if (!next || stopped) return;
      token = next;
      tokenRef.current = next;
      for (const { socket } of sockets.current.values()) {
        socket.auth = { ...(socket.auth as Record<string, unknown>), token: next };
        // A socket still connecting may be doing so with the old token:
        // it gets the new one once connected.
        if (socket.connected) socket.emit("auth:refresh", { token: next });
        else socket.once("connect", () => socket.emit("auth:refresh", { token: next }));
      }
      schedule();
    };
    schedule();
    return () => { stopped = true; clearTimeout(timer); };
  }, [opts.token, hasRefresh, ahead]);
  return <HeraldContext.Provider value={ctx}>{children}</HeraldContext.Provider>;
}

// useSocket returns the namespace's shared socket and its connection state;
// authError is set (and reconnection stops) when the server refuses the token.
export function useSocket<S extends Socket = Socket>(namespace = "/") {
  const ctx = useContext(HeraldContext);
  if (!ctx) throw new Error("useSocket needs a HeraldProvider");
  const [socket, setSocket] = useState<S | null>(null);
  const [state, setState] = useState<ConnectionState>("connecting");
  const [error, setError] = useState<string | null>(null);
  const [authError, setAuthError] = useState<string | null>(null);
  useEffect(() => {
    const s = ctx.acquire(namespace) as S;
    setSocket(s);
    let ever = s.connected;
    let reconnecting = false;
    const update = () => setState(connectionState({ connected: s.connected, reconnecting, everConnected: ever, online: typeof navigator === "undefined" || navigator.onLine }));
    const onConnect = () => { ever = true; reconnecting = false; setError(null); update(); };
    const onDisconnect = () => update();
    const onConnectError = (err: Error) => {
      setError(err.message);
      if (AUTH_ERRORS.includes(err.message)) { setAuthError(err.message); s.disconnect(); }
      update();
    };
    // The server ends a connection whose token expired; reconnecting with
    // the same token would be refused, so stop and say so.
    const onExpired = () => { setAuthError(TOKEN_EXPIRED); s.disconnect(); update(); };
    const onAttempt = () => { reconnecting = true; update(); };
    const onFailed = () => { reconnecting = false; setState("offline"); };
    s.on("connect", onConnect);
    s.on("disconnect", onDisconnect);
    s.on("connect_error", onConnectError);
    s.on("auth:expired" as never, onExpired);
    s.io.on("reconnect_attempt", onAttempt);
    s.io.on("reconnect_failed", onFailed);
    update();
    return () => {
      s.off("connect", onConnect);
      s.off("disconnect", onDisconnect);
      s.off("connect_error", onConnectError);
      s.off("auth:expired" as never, onExpired);
      s.io.off("reconnect_attempt", onAttempt);
      s.io.off("reconnect_failed", onFailed);
      ctx.release(namespace);
    };
  }, [ctx, namespace]);
  return { socket, state, isConnected: state === "connected", error, authError };
}

// useChat follows one room: history, live messages, typing, sends with
// acks (pending → sent or failed, de-duplicated by id), and re-sync after
// a reconnect through sync-state.
export function useChat(roomId: string | null) {
  const { socket, isConnected, state } = useSocket<ChatSocket>("/chat");
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [typing, setTyping] = useState<Map<string, string>>(new Map());
  const [cursor, setCursor] = useState<string | null>(null);
  const [room, setRoom] = useState<{ id: string; name: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const [receipts, setReceipts] = useState<Map<string, ReadReceipt>>(new Map());

  useEffect(() => {
    if (!socket || !isConnected || !roomId) return;
    let cancelled = false;
    (async () => {
      const joined = await socket.timeout(5000).emitWithAck("join-room", roomId).catch(() => ({ error: "timeout" }));
      if (cancelled) return;
      if ("error" in joined) { setError(joined.error); return; }
      setRoom(joined.room);
      const last = lastId(messagesRef.current.filter((m) => m.roomId === roomId));
      if (last) {
        const res = await socket.timeout(5000).emitWithAck("sync-state", { lastMessageIds: { [roomId]: last } }).catch(() => null);
        if (!cancelled && res && !("error" in res)) {
          // What came, then what changed (edits and deletions) while away.
          const got = [...(res.missed[roomId] ?? []), ...(res.updated?.[roomId] ?? [])];
          setMessages((prev) => mergeMessages(prev, got.map((m: Message) => ({ ...m, state: "sent" }))));
        }
        return;
      }
      const hist = await socket.timeout(5000).emitWithAck("history", { roomId, limit: 30 }).catch(() => null);
      if (!cancelled && hist && !("error" in hist)) {
        // Merge: a live message may have arrived before the history.
        setMessages((prev) => mergeMessages(prev, hist.messages.map((m: Message) => ({ ...m, state: "sent" }))));
        setCursor(hist.nextCursor);
      }
    })();
    return () => {
      cancelled = true;
      socket.emit("leave-room", roomId);
    };
  }, [socket, isConnected, roomId]);

  useEffect(() => { setMessages([]); setTyping(new Map()); setCursor(null); setError(null); setReceipts(new Map()); }, [roomId]);

  // Who read up to where: the other members' read-receipt events.
  useEffect(() => {
    if (!socket) return;
    const onReceipt = (r: ReadReceipt) => { if (r.roomId === roomId) setReceipts((prev) => new Map(prev).set(r.userId, r)); };
    socket.on("read-receipt", onReceipt);
    return () => { socket.off("read-receipt", onReceipt); };
  }, [socket, roomId]);

  // markRead moves the user's read position to the newest message held
  // (the server keeps it only if it is newer); every tab of the user hears
  // of it as read-state.
  const markRead = useCallback(async () => {
    if (!socket || !roomId) return;
    const last = lastId(messagesRef.current.filter((m) => m.roomId === roomId));
    if (!last) return;
    await socket.timeout(5000).emitWithAck("mark-read", { roomId, messageId: last }).catch(() => null);
  }, [socket, roomId]);

  useEffect(() => {
    if (!socket) return;
    const onMessage = (m: ChatMessageLike) => { if (m.roomId === roomId) setMessages((prev) => mergeMessages(prev, [{ ...m, state: "sent" }])); };
    const onTyping = (u: { userId: string; name: string; roomId: string }) => {
      if (u.roomId === roomId) setTyping((prev) => new Map(prev).set(u.userId, u.name));
    };
    const onStop = (u: { userId: string; roomId: string }) => {
      setTyping((prev) => { const next = new Map(prev); next.delete(u.userId); return next; });
    };
    const onError = (e: { message: string; event?: string }) => setError(e.event ? `${e.message} (${e.event})` : e.message);
    const onUpdated = (m: ChatMessageLike) => {
      if (m.roomId === roomId) setMessages((prev) => prev.some((x) => x.id === m.id) ? mergeMessages(prev, [{ ...m, state: "sent" }]) : prev);
    };
    const onDeleted = (d: { id: string; roomId: string }) => {
      if (d.roomId === roomId) setMessages((prev) => prev.map((x) => (x.id === d.id ? { ...x, content: "", deleted: true } : x)));
    };
    socket.on("new-message", onMessage);
    socket.on("message-updated", onUpdated);
    socket.on("message-deleted", onDeleted);
    socket.on("user-typing", onTyping);
    socket.on("user-stopped-typing", onStop);
    socket.on("error", onError);
    return () => {
      socket.off("new-message", onMessage);
      socket.off("message-updated", onUpdated);
      socket.off("message-deleted", onDeleted);
      socket.off("user-typing", onTyping);
      socket.off("user-stopped-typing", onStop);
      socket.off("error", onError);
    };
  }, [socket, roomId]);

  const debouncer = useMemo(() => socket && roomId
    ? typingDebouncer(() => socket.emit("typing-start", roomId), () => socket.emit("typing-stop", roomId))
    : null, [socket, roomId]);

  // deliver sends under the client id the pending message is kept by: a
  // retry of a failed send (retryMessage) reuses it, so the server stores
  // it once however many copies arrive.
  const deliver = useCallback(async (clientId: string, content: string) => {
    if (!socket || !roomId) return;
    try {
      const res = await socket.timeout(10000).emitWithAck("send-message", { roomId, content, clientId });
      if ("error" in res) { setMessages((prev) => markFailed(prev, clientId)); setError(res.error); return; }
      setMessages((prev) => mergeMessages(prev, [{ ...res.message, state: "sent", tempId: clientId }]));
    } catch {
      setMessages((prev) => markFailed(prev, clientId));
    }
  }, [socket, roomId]);

  const sendMessage = useCallback(async (content: string, user: { id: string; name: string }) => {
    if (!socket || !roomId) return;
    debouncer?.flush();
    const clientId = newClientId();
    setMessages((prev) => mergeMessages(prev, [{ id: clientId, clientId, roomId, content, author: user, createdAt: new Date().toISOString(), state: "pending" }]));
    await deliver(clientId, content);
  }, [socket, roomId, debouncer, deliver]);

  // editMessage and deleteMessage change one of the user's own messages;
  // they answer null or the refusal. The room (this tab too) hears of it.
  const editMessage = useCallback(async (messageId: string, content: string) => {
    if (!socket || !roomId) return "Not connected";
    const res = await socket.timeout(5000).emitWithAck("edit-message", { roomId, messageId, content }).catch(() => null);
    if (!res) return "No answer";
    if ("error" in res) return res.error;
    setMessages((prev) => mergeMessages(prev, [{ ...res.message, state: "sent" }]));
    return null;
  }, [socket, roomId]);
  const deleteMessage = useCallback(async (messageId: string) => {
    if (!socket || !roomId) return "Not connected";
    const res = await socket.timeout(5000).emitWithAck("delete-message", { roomId, messageId }).catch(() => null);
    if (!res) return "No answer";
    if ("error" in res) return res.error;
    setMessages((prev) => prev.map((x) => (x.id === messageId ? { ...x, content: "", deleted: true } : x)));
    return null;
  }, [socket, roomId]);

  // retryMessage sends a failed message again, with its client id.
  const retryMessage = useCallback(async (clientId: string) => {
    const m = messagesRef.current.find((x) => x.id === clientId && x.state === "failed");
    if (!m) return;
    setMessages((prev) => prev.map((x) => (x.id === clientId ? { ...x, state: "pending" } : x)));
    await deliver(clientId, m.content);
  }, [deliver]);

  const loadOlder = useCallback(async () => {
    if (!socket || !roomId || !cursor) return;
    const res = await socket.timeout(5000).emitWithAck("history", { roomId, before: cursor, limit: 30 }).catch(() => null);
    if (res && !("error" in res)) {
      setMessages((prev) => mergeMessages(prev, res.messages.map((m: Message) => ({ ...m, state: "sent" }))));
      setCursor(res.nextCursor);
    }
  }, [socket, roomId, cursor]);

  return {
    room, messages, typingUsers: [...typing.values()], sendMessage, retryMessage, loadOlder, hasOlder: !!cursor,
    markRead, receipts: [...receipts.values()], editMessage, deleteMessage,
    onInput: () => debouncer?.input(), isConnected, state, error,
  };
}
type ChatMessageLike = Omit<ChatMessage, "state">;

// useRooms lists the rooms the user can see (the server pages them; up
// to maxPages pages are read), and creates rooms.
export function useRooms(maxPages = 10) {
  const { socket, isConnected } = useSocket<ChatSocket>("/chat");
  const [rooms, setRooms] = useState<Room[]>([]);
  const refresh = useCallback(async () => {
    if (!socket) return;
    const all: Room[] = [];
    let after: string | undefined;
    for (let page = 0; page < maxPages; page++) {
      const res = await socket.timeout(5000).emitWithAck("rooms:list", after ? { after } : {}).catch(() => null);
      if (!res || "error" in res) return;
      all.push(...res.rooms);
      if (!res.nextCursor) break;
      after = res.nextCursor;
    }
    setRooms(all);
  }, [socket, maxPages]);
  // The socket joins every room the user is a member of (sync-state with
  // no positions) before the list is read, so that new messages in any of
  // them count toward its unread badge.
  useEffect(() => {
    if (!isConnected || !socket) return;
    socket.timeout(5000).emitWithAck("sync-state", { lastMessageIds: {} }).catch(() => null).then(() => refresh());
  }, [socket, isConnected, refresh]);
  // A room the user was added to (a DM opened by someone, an invitation)
  // arrives at once.
  useEffect(() => {
    if (!socket) return;
    const onAdded = ({ room }: { room: Room }) => setRooms((prev) => [...prev.filter((r) => r.id !== room.id), room]);
    // A private room the user left or was removed from goes; a public
    // one stays, no longer a member's.
    const onRemoved = ({ roomId }: { roomId: string }) => setRooms((prev) => prev.flatMap((r) =>
      r.id !== roomId ? [r] : r.public ? [{ ...r, member: false }] : []));
    // Unread badges: a new message counts until a tab marks the room read
    // (read-state, from any tab of the user, sets the server's count).
    const onMessage = (m: Message) => setRooms((prev) => prev.map((r) =>
      r.id === m.roomId && r.member ? { ...r, unread: (r.unread ?? 0) + 1 } : r));
    const onRead = (st: ReadState) => setRooms((prev) => prev.map((r) =>
      r.id === st.roomId ? { ...r, unread: st.unread, lastReadId: st.lastReadId } : r));
    socket.on("rooms:added", onAdded);
    socket.on("rooms:removed", onRemoved);
    socket.on("new-message", onMessage);
    socket.on("read-state", onRead);
    return () => {
      socket.off("rooms:added", onAdded);
      socket.off("rooms:removed", onRemoved);
      socket.off("new-message", onMessage);
      socket.off("read-state", onRead);
    };
  }, [socket]);
  // openDM returns the direct-message room with the user (the same one
  // every time, for either of the two).
  const openDM = useCallback(async (userId: string) => {
    if (!socket) return null;
    const res = await socket.timeout(5000).emitWithAck("dm:open", { userId }).catch(() => null);
    if (!res || "error" in res) return null;
    setRooms((prev) => [...prev.filter((r) => r.id !== res.room.id), res.room]);
    return res.room;
  }, [socket]);
  // invite, remove (the owner's) and leave answer null or the refusal.
  const member = useCallback(async (ev: "room:invite" | "room:remove" | "room:leave", q: { roomId: string; userId?: string }) => {
    if (!socket) return "Not connected";
    const res = await socket.timeout(5000).emitWithAck(ev as "room:invite", q as { roomId: string; userId: string }).catch(() => null);
    if (!res) return "No answer";
    return "error" in res ? res.error : null;
  }, [socket]);
  const invite = useCallback((roomId: string, userId: string) => member("room:invite", { roomId, userId }), [member]);
  const remove = useCallback((roomId: string, userId: string) => member("room:remove", { roomId, userId }), [member]);
  const leave = useCallback((roomId: string) => member("room:leave", { roomId }), [member]);
  const create = useCallback(async (name: string, isPublic = true) => {
    if (!socket) return null;
    const res = await socket.timeout(5000).emitWithAck("create-room", { name, public: isPublic }).catch(() => null);
    await refresh();
    return res && !("error" in res) ? res.room : null;
  }, [socket, refresh]);
  return { rooms, refresh, create, openDM, invite, remove, leave };
}

// useRoomPresence follows who is in a room now (users, across the
// cluster): the list when the socket connects or the room changes, then
// presence:room arrivals and departures.
export function useRoomPresence(roomId: string | null) {
  const { socket, isConnected } = useSocket<ChatSocket>("/chat");
  const [users, setUsers] = useState<Map<string, string>>(new Map());
  useEffect(() => {
    setUsers(new Map());
    if (!socket || !isConnected || !roomId) return;
    let cancelled = false;
    const onPresence = (e: { roomId: string; userId: string; name: string; joined: boolean }) => {
      if (e.roomId !== roomId) return;
      setUsers((prev) => {
        const next = new Map(prev);
        if (e.joined) next.set(e.userId, e.name); else next.delete(e.userId);
        return next;
      });
    };
    socket.on("presence:room", onPresence);
    socket.timeout(5000).emitWithAck("room:presence", roomId).then((res) => {
      if (cancelled || "error" in res) return;
      // An arrival that came while the list was on its way stays.
      setUsers((prev) => new Map([...res.users.map((u: { userId: string; name: string }) => [u.userId, u.name] as [string, string]), ...prev]));
    }).catch(() => {});
    return () => { cancelled = true; socket.off("presence:room", onPresence); };
  }, [socket, isConnected, roomId]);
  const list = [...users].map(([userId, name]) => ({ userId, name })).sort((a, b) => (a.userId < b.userId ? -1 : 1));
  return { users: list, count: list.length };
}

// useNotifications keeps the user's notifications and unread count.
export function useNotifications(onNew?: (n: Notification) => void) {
  const { socket, isConnected } = useSocket<MainSocket>("/");
  const [notifications, setNotifications] = useState<Notification[]>([]);
  const onNewRef = useRef(onNew);
  onNewRef.current = onNew;
  const seen = useRef(new Set<string>());
  useEffect(() => {
    if (!socket || !isConnected) return;
    socket.timeout(5000).emitWithAck("notifications:list").then((res) => {
      if (!("error" in res)) {
        res.notifications.forEach((n: Notification) => seen.current.add(n.id));
        // One that came live while the list was on its way is newer than
        // the list: keep it in front, not replaced by the list.
        const listed = new Set(res.notifications.map((n: Notification) => n.id));
        setNotifications((prev) => [...prev.filter((n) => !listed.has(n.id)), ...res.notifications]);
      }
    }).catch(() => {});
  }, [socket, isConnected]);
  useEffect(() => {
    if (!socket) return;
    const on = (n: Notification) => {
      // A notification can come twice (live, then again as "missed" after
      // a server restart): keep and announce it once.
      if (seen.current.has(n.id)) return;
      seen.current.add(n.id);
      setNotifications((prev) => [n, ...prev]);
      onNewRef.current?.(n);
    };
    // Read state follows the user's other tabs.
    const onState = (st: { read?: string[]; all?: true }) => {
      const read = new Set(st.read ?? []);
      setNotifications((prev) => prev.map((n) => (st.all || read.has(n.id) ? { ...n, read: true } : n)));
    };
    socket.on("notification", on);
    socket.on("notifications:state", onState);
    return () => { socket.off("notification", on); socket.off("notifications:state", onState); };
  }, [socket]);
  const markAsRead = useCallback(async (id: string) => {
    await socket?.timeout(5000).emitWithAck("notifications:read", id).catch(() => null);
    setNotifications((prev) => prev.map((n) => (n.id === id ? { ...n, read: true } : n)));
  }, [socket]);
  const markAllAsRead = useCallback(async () => {
    await socket?.timeout(5000).emitWithAck("notifications:read-all").catch(() => null);
    setNotifications((prev) => prev.map((n) => ({ ...n, read: true })));
  }, [socket]);
  return { notifications, unreadCount: notifications.filter((n) => !n.read).length, markAsRead, markAllAsRead, isConnected };
}

// usePresence keeps who is online (up to maxUsers, paged in after each
// connection), applies the batched changes, and sets the user's own
// status. The server orders a page before the changes that follow it, so
// pages and changes applied as they arrive give the current state.
export function usePresence({ maxUsers = 1000, pageSize = 100 }: { maxUsers?: number; pageSize?: number } = {}) {
  const { socket, isConnected } = useSocket<MainSocket>("/");
  const [people, setPeople] = useState<Map<string, Presence>>(new Map());
  useEffect(() => {
    if (!socket) return;
    const apply = (entries: Presence[]) => setPeople((prev) => applyPresence(prev, entries));
    const onList = (list: Presence[]) => setPeople(applyPresence(new Map(), list));
    const onUpdate = (p: Presence) => apply([p]);
    socket.on("presence:list", onList);
    socket.on("presence:update", onUpdate);
    socket.on("presence:changes", apply);
    return () => {
      socket.off("presence:list", onList);
      socket.off("presence:update", onUpdate);
      socket.off("presence:changes", apply);
    };
  }, [socket]);
  useEffect(() => {
    if (!socket || !isConnected) return;
    let cancelled = false;
    setPeople(new Map()); // who left while we were away is in no page
    (async () => {
      let after: string | undefined;
      for (let loaded = 0; loaded < maxUsers && !cancelled;) {
        const res = await socket.timeout(5000).emitWithAck("presence:list", { after, limit: Math.min(pageSize, maxUsers - loaded) }).catch(() => null);
        if (cancelled || !res || "error" in res) return;
        setPeople((prev) => applyPresence(prev, res.users));
        loaded += res.users.length;
        if (!res.nextCursor) return;
        after = res.nextCursor;
      }
    })();
    return () => { cancelled = true; };
  }, [socket, isConnected, maxUsers, pageSize]);
  const setStatus = useCallback((s: Exclude<Status, "offline">) => socket?.emit("presence:status", s), [socket]);
  return { online: [...people.values()], setStatus };
}
