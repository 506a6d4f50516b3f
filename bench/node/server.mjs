// The Node reference benchmark server: the same handlers as bench/server.
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.env.PORT || 3000);
const httpServer = createServer();
const io = new Server(httpServer);
io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    ack?.();
  });
  socket.on("fanout", (room, payload) => io.to(room).emit("fanout", payload));
});
httpServer.listen(port, () => console.log(`listening on ${port} pid ${process.pid}`));
process.on("SIGTERM", () => io.close(() => process.exit(0)));
process.on("SIGINT", () => io.close(() => process.exit(0)));
