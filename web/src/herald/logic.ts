// Pure state logic of the hooks, tested without a browser.
import type { Message, Presence } from "./events";

// With connection state recovery, events carry a trailing offset string;
// handlers see it as an extra argument. dropOffset removes it.
export function dropOffset<T>(args: unknown[]): T {
  return args[0] as T;
}

export type SendState = "pending" | "sent" | "failed";
export interface ChatMessage extends Message {
  state: SendState;
  tempId?: string;
}

// mergeMessages adds messages to a list kept in creation order, without
// duplicates (by id); a stored message replaces the pending one whose
// temporary id is its tempId or its clientId (the broadcast may come
// before the ack).
export function mergeMessages(list: ChatMessage[], incoming: ChatMessage[]): ChatMessage[] {
  const byId = new Map(list.map((m) => [m.id, m]));
  for (const m of incoming) {
    for (const temp of [m.tempId, m.clientId]) {
      if (temp && temp !== m.id && byId.has(temp)) byId.delete(temp);
    }
    byId.set(m.id, { ...byId.get(m.id), ...m });
  }
  return [...byId.values()].sort((a, b) => {
    if (a.state === "pending" && b.state !== "pending") return 1;
    if (b.state === "pending" && a.state !== "pending") return -1;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  });
}

// newClientId makes the id a send carries, so that a retry of it is
// stored once.
export function newClientId(): string {
  const c = globalThis.crypto;
  if (c?.randomUUID) return c.randomUUID();
  return "c-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
}

export function markFailed(list: ChatMessage[], tempId: string): ChatMessage[] {
  return list.map((m) => (m.id === tempId ? { ...m, state: "failed" } : m));
}

// lastId returns the newest stored message id, for sync-state.
export function lastId(list: ChatMessage[]): string | undefined {
  let last: string | undefined;
  for (const m of list) if (m.state === "sent" && (!last || m.id > last)) last = m.id;
  return last;
}

export type ConnectionState = "connecting" | "connected" | "reconnecting" | "offline";

// connectionState maps what socket.io-client reports to what a user sees.
export function connectionState(s: { connected: boolean; reconnecting: boolean; everConnected: boolean; online: boolean }): ConnectionState {
  if (s.connected) return "connected";
  if (!s.online) return "offline";
  if (s.reconnecting || s.everConnected) return "reconnecting";
  return "connecting";
}

// typingDebouncer sends start once, and stop after idle ms of no input
// or at once on flush (when the message is sent).
export function typingDebouncer(start: () => void, stop: () => void, idle = 2000) {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return {
    input() {
      if (!timer) start();
      else clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        stop();
      }, idle);
    },
    flush() {
      if (timer) {
        clearTimeout(timer);
        timer = null;
        stop();
      }
    },
  };
}

// applyPresence returns the online users after entries (a page, or
// changes in the order received): a user gone offline is dropped; one
// whose entry lacks lastSeen keeps the one known.
export function applyPresence(people: Map<string, Presence>, entries: Presence[]): Map<string, Presence> {
  const next = new Map(people);
  for (const p of entries) {
    if (p.status === "offline") next.delete(p.userId);
    else next.set(p.userId, { ...next.get(p.userId), ...p });
  }
  return next;
}
