// The events Herald's service sends and receives, typed for socket.io-client.

export type Status = "online" | "away" | "busy" | "offline";

export interface Message {
  id: string;
  roomId: string;
  content: string;
  author: { id: string; name: string };
  createdAt: string;
  // clientId is the id the author's client chose when sending.
  clientId?: string;
  // editedAt is set once the author edited or deleted it; deleted has no content.
  editedAt?: string;
  deleted?: boolean;
}
export interface Notification {
  id: string;
  type: string;
  title: string;
  message: string;
  createdAt: string;
  read: boolean;
}
export interface Presence {
  userId: string;
  name: string;
  status: Status;
  // Absent in presence:changes for a user online (it is now).
  lastSeen?: string;
}
// A page of presence:list {after, limit}.
export interface PresencePage {
  users: Presence[];
  nextCursor: string | null;
}
export interface Room {
  id: string;
  name: string;
  public: boolean;
  member?: boolean;
  // dm is set on a direct-message room: the other user.
  dm?: { userId: string; name: string };
  // unread and lastReadId: the user's read state, in rooms they are a member of.
  unread?: number;
  lastReadId?: string;
}
export interface ReadState {
  roomId: string;
  lastReadId: string;
  unread: number;
}
export interface ReadReceipt {
  roomId: string;
  userId: string;
  name: string;
  messageId: string;
}
export interface ErrorEvent {
  message: string;
  event?: string;
}
type Ack<T> = (res: T) => void;
export type Result<T> = T | { error: string };

// Namespace "/chat".
export interface ChatServerToClient {
  "new-message": (m: Message) => void;
  "rooms:added": (e: { room: Room }) => void;
  "rooms:removed": (e: { roomId: string }) => void;
  "read-state": (e: ReadState) => void;
  "message-updated": (m: Message) => void;
  "presence:room": (e: { roomId: string; userId: string; name: string; joined: boolean; count?: number }) => void;
  "message-deleted": (e: { id: string; roomId: string }) => void;
  "read-receipt": (e: ReadReceipt) => void;
  "user-joined": (u: { userId: string; name: string; roomId: string }) => void;
  "user-left": (u: { userId: string; roomId: string }) => void;
  "user-typing": (u: { userId: string; name: string; roomId: string }) => void;
  "user-stopped-typing": (u: { userId: string; roomId: string }) => void;
  "auth:expired": (e: { message: string }) => void;
  error: (e: ErrorEvent) => void;
}
export interface ChatClientToServer {
  "join-room": (roomId: string, ack?: Ack<Result<{ ok: true; room: Room }>>) => void;
  "leave-room": (roomId: string, ack?: Ack<{ ok: true }>) => void;
  "send-message": (m: { roomId: string; content: string; clientId?: string }, ack: Ack<Result<{ message: Message }>>) => void;
  "typing-start": (roomId: string) => void;
  "typing-stop": (roomId: string) => void;
  history: (q: { roomId: string; before?: string; limit?: number }, ack: Ack<Result<{ messages: Message[]; nextCursor: string | null }>>) => void;
  "sync-state": (q: { lastMessageIds: Record<string, string> }, ack: Ack<Result<{ rooms: string[]; missed: Record<string, Message[]>; updated?: Record<string, Message[]>; truncated?: true }>>) => void;
  "rooms:list": (q: { after?: string; limit?: number }, ack: Ack<Result<{ rooms: Room[]; nextCursor: string | null }>>) => void;
  "create-room": (r: { name: string; public: boolean }, ack: Ack<Result<{ room: Room }>>) => void;
  "dm:open": (q: { userId: string }, ack: Ack<Result<{ room: Room }>>) => void;
  "edit-message": (q: { roomId: string; messageId: string; content: string }, ack: Ack<Result<{ message: Message }>>) => void;
  "delete-message": (q: { roomId: string; messageId: string }, ack: Ack<Result<{ ok: true }>>) => void;
  "room:presence": (roomId: string, ack: Ack<Result<{ roomId: string; users: { userId: string; name: string }[]; count: number }>>) => void;
  "auth:refresh": (q: { token: string }, ack?: Ack<Result<{ ok: true; expiresAt: string | null }>>) => void;
  "mark-read": (q: { roomId: string; messageId: string }, ack: Ack<Result<{ ok: true } & Omit<ReadState, "roomId">>>) => void;
  "room:invite": (q: { roomId: string; userId: string }, ack: Ack<Result<{ ok: true }>>) => void;
  "room:remove": (q: { roomId: string; userId: string }, ack: Ack<Result<{ ok: true }>>) => void;
  "room:leave": (q: { roomId: string }, ack: Ack<Result<{ ok: true }>>) => void;
  "room:members": (q: { roomId: string; after?: string }, ack: Ack<Result<{ members: string[]; nextCursor: string | null }>>) => void;
}

// Namespace "/".
export interface MainServerToClient {
  // The seed's form: the list on connect, one update per change.
  "presence:list": (list: Presence[]) => void;
  "presence:update": (p: Presence) => void;
  // The batched form (auth {presence: "changes"}): every change of a tick.
  "presence:changes": (changes: Presence[]) => void;
  notification: (n: Notification) => void;
  // Another tab (or this one) read notifications.
  "notifications:state": (s: { read?: string[]; all?: true }) => void;
  "auth:expired": (e: { message: string }) => void;
  error: (e: ErrorEvent) => void;
}
export interface MainClientToServer {
  "presence:status": (s: Exclude<Status, "offline">, ack?: Ack<Result<{ ok: true }>>) => void;
  "presence:list": (q: { after?: string; limit?: number }, ack: Ack<Result<PresencePage>>) => void;
  "notifications:list": (ack: Ack<Result<{ notifications: Notification[]; unreadCount: number }>>) => void;
  "notifications:read": (id: string, ack: Ack<Result<{ ok: true }>>) => void;
  "notifications:read-all": (ack: Ack<Result<{ ok: true }>>) => void;
}

// The messages the server uses for refused connections.
export const AUTH_ERRORS = ["Authentication required", "Invalid token", "Too many connections"];
// The server's word that a connection's token expired ("auth:expired").
export const TOKEN_EXPIRED = "Token expired";
