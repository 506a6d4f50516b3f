// The Node reference: socket.io v4 with the handlers of the contract in
// README.md. The interop suite runs against it and against Herald's Go
// example (examples/interop) alike.
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.env.PORT || 3000);
const httpServer = createServer();
// PARSER=msgpack: socket.io-msgpack-parser, for the clients too (helpers.mjs).
const parser = process.env.PARSER === "msgpack" ? (await import("socket.io-msgpack-parser")).default : undefined;
const io = new Server(httpServer, {
  ...(parser && { parser }),
  pingInterval: Number(process.env.PING_INTERVAL || 25000),
  pingTimeout: Number(process.env.PING_TIMEOUT || 20000),
  maxHttpBufferSize: 1e6,
  cors: { origin: "*" },
  connectionStateRecovery: { maxDisconnectionDuration: 30000, skipMiddlewares: true },
  // ALLOW_EIO3=1: socket.io-client 2.x too (interop/eio3).
  allowEIO3: process.env.ALLOW_EIO3 === "1",
});

if (process.env.REDIS_URL) {
  const { createClient } = await import("redis");
  const { createAdapter } = await import("@socket.io/redis-adapter");
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  io.adapter(createAdapter(pub, sub));
}

io.use((socket, next) => {
  // A v2 client has no auth payload on "/": its token is in the query.
  if ((socket.handshake.auth?.token ?? socket.handshake.query.token) === "bad") {
    const err = new Error("not authorized");
    err.data = { code: 401 };
    return next(err);
  }
  next();
});

function echo(socket) {
  socket.on("echo", (...args) => {
    if (typeof args[args.length - 1] === "function") {
      const ack = args.pop();
      ack(...args);
    } else {
      socket.emit("echo", ...args);
    }
  });
}

io.on("connection", (socket) => {
  socket.emit("welcome", { id: socket.id, auth: socket.handshake.auth, recovered: socket.recovered });
  echo(socket);
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack?.([...socket.rooms]);
  });
  socket.on("leave", (room, ack) => {
    socket.leave(room);
    ack?.([...socket.rooms]);
  });
  socket.on("broadcast", (room, ...args) => socket.to(room).emit("broadcast", ...args));
  socket.on("broadcast-all", (...args) => io.emit("broadcast-all", ...args));
  socket.on("ask", (ack) => {
    socket.timeout(5000).emit("question", "q1", (err, answer) => ack(err ? { err: true } : { answer }));
  });
  socket.on("ask-all", (room, ms, ack) => {
    io.to(room).timeout(ms).emit("question", "q-all", (err, responses) => ack({ err: !!err, responses }));
  });
  socket.on("drop", () => socket.conn.close());
  socket.on("kick-me", () => socket.disconnect(true));
  socket.on("count", async (ack) => ack((await io.fetchSockets()).length));
  socket.on("kick-room", (room) => io.in(room).disconnectSockets());
});

const hello = (socket) => {
  socket.emit("hello", { nsp: socket.nsp.name });
  socket.on("whoami", (ack) => ack({ id: socket.id, auth: socket.handshake.auth }));
  echo(socket);
};
io.of("/custom").on("connection", hello);
io.of(/^\/dyn-\w+$/).on("connection", hello);

// PORT=0: the system picks a free port, printed for the caller to read.
httpServer.listen(port, () => console.log(`listening on ${httpServer.address().port}`));
const stop = () => io.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
