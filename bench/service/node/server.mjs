// A Node server written from the seed's handlers (websocket-realtime-builder):
// JWT auth middleware, namespaces "/" (presence, user rooms) and "/chat"
// (join-room, leave-room, send-message persisted before it is broadcast,
// history, typing). Event names and payloads are those of Herald's service, so
// that one load tool drives both. It is the reference of the service
// benchmark, kept as plain as the seed: no tuning, no rate limits.
//
// Environment: PORT (3000), JWT_SECRET (HS256), DATABASE_URL (postgres://…;
// else SQLITE_PATH, default bench.db, in WAL mode), REDIS_URL with
// REDIS_ADAPTER (pubsub or streams) and REDIS_PREFIX for a cluster.
import { createServer } from "node:http";
import { Server } from "socket.io";
import jwt from "jsonwebtoken";

const port = Number(process.env.PORT || 3000);
const secret = process.env.JWT_SECRET || "dev-secret";
const PUBLIC_ROOM = "general";

// ---- persistence: better-sqlite3 (WAL) or pg, same schema ----
async function openDB() {
  const url = process.env.DATABASE_URL || "";
  if (url.startsWith("postgres")) {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({ connectionString: url });
    await pool.query(`CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL,
      public BOOLEAN NOT NULL DEFAULT TRUE, created_at BIGINT NOT NULL)`);
    await pool.query(`CREATE TABLE IF NOT EXISTS room_members (room_id TEXT NOT NULL, user_id TEXT NOT NULL,
      PRIMARY KEY (room_id, user_id))`);
    await pool.query(`CREATE TABLE IF NOT EXISTS messages (id BIGSERIAL PRIMARY KEY, room_id TEXT NOT NULL,
      author_id TEXT NOT NULL, author_name TEXT NOT NULL, content TEXT NOT NULL, created_at BIGINT NOT NULL)`);
    await pool.query(`CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room_id, id)`);
    await pool.query(`INSERT INTO rooms (id, name, public, created_at) VALUES ($1, 'General', TRUE, $2)
      ON CONFLICT DO NOTHING`, [PUBLIC_ROOM, Date.now()]);
    return {
      async room(id) {
        const r = await pool.query("SELECT id, name, public FROM rooms WHERE id = $1", [id]);
        return r.rows[0];
      },
      async isMember(roomId, userId) {
        const r = await pool.query("SELECT 1 FROM room_members WHERE room_id = $1 AND user_id = $2", [roomId, userId]);
        return r.rowCount > 0;
      },
      async addMember(roomId, userId) {
        await pool.query("INSERT INTO room_members (room_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", [roomId, userId]);
      },
      async createMessage(m) {
        const r = await pool.query(`INSERT INTO messages (room_id, author_id, author_name, content, created_at)
          VALUES ($1, $2, $3, $4, $5) RETURNING id`, [m.roomId, m.authorId, m.authorName, m.content, m.createdAt]);
        return { ...m, id: String(r.rows[0].id) };
      },
      async history(roomId, before, limit) {
        const r = before
          ? await pool.query(`SELECT * FROM messages WHERE room_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3`, [roomId, before, limit])
          : await pool.query(`SELECT * FROM messages WHERE room_id = $1 ORDER BY id DESC LIMIT $2`, [roomId, limit]);
        return r.rows;
      },
      close: () => pool.end(),
    };
  }
  const { default: Database } = await import("better-sqlite3");
  const db = new Database(process.env.SQLITE_PATH || "bench.db");
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE IF NOT EXISTS rooms (id TEXT PRIMARY KEY, name TEXT NOT NULL,
      public INTEGER NOT NULL DEFAULT 1, created_at INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS room_members (room_id TEXT NOT NULL, user_id TEXT NOT NULL,
      PRIMARY KEY (room_id, user_id));
    CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY AUTOINCREMENT, room_id TEXT NOT NULL,
      author_id TEXT NOT NULL, author_name TEXT NOT NULL, content TEXT NOT NULL, created_at INTEGER NOT NULL);
    CREATE INDEX IF NOT EXISTS messages_room_id ON messages (room_id, id);`);
  db.prepare("INSERT OR IGNORE INTO rooms (id, name, public, created_at) VALUES (?, 'General', 1, ?)").run(PUBLIC_ROOM, Date.now());
  const getRoom = db.prepare("SELECT id, name, public FROM rooms WHERE id = ?");
  const member = db.prepare("SELECT 1 FROM room_members WHERE room_id = ? AND user_id = ?");
  const addMember = db.prepare("INSERT OR IGNORE INTO room_members (room_id, user_id) VALUES (?, ?)");
  const insert = db.prepare(`INSERT INTO messages (room_id, author_id, author_name, content, created_at)
    VALUES (?, ?, ?, ?, ?)`);
  const newest = db.prepare("SELECT * FROM messages WHERE room_id = ? ORDER BY id DESC LIMIT ?");
  const older = db.prepare("SELECT * FROM messages WHERE room_id = ? AND id < ? ORDER BY id DESC LIMIT ?");
  return {
    room: async (id) => {
      const r = getRoom.get(id);
      return r && { ...r, public: !!r.public };
    },
    isMember: async (roomId, userId) => !!member.get(roomId, userId),
    addMember: async (roomId, userId) => void addMember.run(roomId, userId),
    createMessage: async (m) => {
      const r = insert.run(m.roomId, m.authorId, m.authorName, m.content, m.createdAt);
      return { ...m, id: String(r.lastInsertRowid) };
    },
    history: async (roomId, before, limit) => (before ? older.all(roomId, Number(before), limit) : newest.all(roomId, limit)),
    close: async () => db.close(),
  };
}

const db = await openDB();

function wire(m) {
  return {
    id: String(m.id),
    roomId: m.roomId ?? m.room_id,
    content: m.content,
    author: { id: m.authorId ?? m.author_id, name: m.authorName ?? m.author_name },
    createdAt: new Date(Number(m.createdAt ?? m.created_at)).toISOString(),
  };
}

async function canAccessRoom(userId, roomId) {
  const room = await db.room(roomId);
  if (!room) return false;
  return room.public || (await db.isMember(roomId, userId));
}

const roomOf = (arg) => (typeof arg === "string" ? arg : arg?.roomId);

// ---- server ----
const httpServer = createServer();
const io = new Server(httpServer, { pingInterval: 25000, pingTimeout: 60000 });

if (process.env.REDIS_URL) {
  const { createClient } = await import("redis");
  const prefix = process.env.REDIS_PREFIX || "socket.io";
  const pub = createClient({ url: process.env.REDIS_URL });
  await pub.connect();
  if (process.env.REDIS_ADAPTER === "streams") {
    const { createAdapter } = await import("@socket.io/redis-streams-adapter");
    io.adapter(createAdapter(pub, { streamName: prefix }));
  } else {
    const { createAdapter } = await import("@socket.io/redis-adapter");
    const sub = pub.duplicate();
    await sub.connect();
    io.adapter(createAdapter(pub, sub, { key: prefix }));
  }
}

// Authentication middleware, on both namespaces.
function authenticate(socket, next) {
  const token = socket.handshake.auth?.token;
  if (!token) return next(new Error("Authentication required"));
  try {
    const claims = jwt.verify(token, secret, { algorithms: ["HS256"] });
    socket.data.user = { id: claims.sub, name: claims.name || claims.sub, roles: claims.roles || [] };
    next();
  } catch {
    next(new Error("Invalid token"));
  }
}

// "/": user rooms and presence.
const onlineUsers = new Map();
io.use(authenticate);
io.on("connection", (socket) => {
  const user = socket.data.user;
  socket.join(`user:${user.id}`);
  for (const r of [].concat(user.roles)) socket.join(`role:${r}`);

  onlineUsers.set(user.id, { userId: user.id, name: user.name, status: "online", lastSeen: new Date() });
  io.emit("presence:update", { userId: user.id, name: user.name, status: "online", lastSeen: new Date() });
  socket.emit("presence:list", Array.from(onlineUsers.values()));

  socket.on("presence:status", (status) => {
    const presence = onlineUsers.get(user.id);
    if (presence) {
      presence.status = status;
      io.emit("presence:update", { userId: user.id, name: user.name, status, lastSeen: new Date() });
    }
  });
  socket.on("disconnect", () => {
    onlineUsers.delete(user.id);
    io.emit("presence:update", { userId: user.id, name: user.name, status: "offline", lastSeen: new Date() });
  });
});

// "/chat": rooms, messages, history, typing.
const chat = io.of("/chat");
chat.use(authenticate);
chat.on("connection", (socket) => {
  const user = socket.data.user;
  socket.join(`user:${user.id}`);
  const fail = (event, message, ack) => {
    socket.emit("error", { message, event });
    if (typeof ack === "function") ack({ error: message });
  };

  socket.on("join-room", async (arg, ack) => {
    const roomId = roomOf(arg);
    if (!(await canAccessRoom(user.id, roomId))) return fail("join-room", "Access denied", ack);
    await db.addMember(roomId, user.id);
    const room = await db.room(roomId);
    socket.join(`room:${roomId}`);
    socket.to(`room:${roomId}`).emit("user-joined", { userId: user.id, name: user.name, roomId });
    if (typeof ack === "function") ack({ ok: true, room });
  });

  socket.on("leave-room", (arg, ack) => {
    const roomId = roomOf(arg);
    socket.leave(`room:${roomId}`);
    socket.to(`room:${roomId}`).emit("user-left", { userId: user.id, roomId });
    if (typeof ack === "function") ack({ ok: true });
  });

  socket.on("send-message", async (data, ack) => {
    const { roomId, content } = data || {};
    if (typeof roomId !== "string" || typeof content !== "string") return fail("send-message", "Invalid payload", ack);
    if (!socket.rooms.has(`room:${roomId}`)) return fail("send-message", "Join the room first", ack);
    let message;
    try {
      message = await db.createMessage({ roomId, authorId: user.id, authorName: user.name, content, createdAt: Date.now() });
    } catch (err) {
      console.error("store message", err);
      return fail("send-message", "Internal error", ack);
    }
    const out = wire(message);
    chat.to(`room:${roomId}`).emit("new-message", out);
    if (typeof ack === "function") ack({ message: out });
  });

  socket.on("history", async (arg, ack) => {
    const { roomId, before, limit } = typeof arg === "string" ? { roomId: arg } : arg || {};
    if (!(await canAccessRoom(user.id, roomId))) return fail("history", "Access denied", ack);
    const n = Math.min(Math.max(Number(limit) || 50, 1), 100);
    const rows = await db.history(roomId, before, n);
    const messages = rows.map(wire);
    ack?.({ messages, nextCursor: rows.length === n ? messages[messages.length - 1].id : null });
  });

  socket.on("typing-start", (arg) => {
    const roomId = roomOf(arg);
    socket.to(`room:${roomId}`).emit("user-typing", { userId: user.id, name: user.name, roomId });
  });
  socket.on("typing-stop", (arg) => {
    const roomId = roomOf(arg);
    socket.to(`room:${roomId}`).emit("user-stopped-typing", { userId: user.id, roomId });
  });
});

httpServer.listen(port, () => console.log(`listening on ${port} pid ${process.pid}`));
const stop = () => io.close(() => db.close().finally(() => process.exit(0)));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
