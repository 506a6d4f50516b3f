// The Node reference benchmark server: the same handlers as bench/server.
// PARSER=msgpack uses socket.io-msgpack-parser instead of the default parser.
import { createServer } from "node:http";
import { Server } from "socket.io";
import msgpackParser from "socket.io-msgpack-parser";

const port = Number(process.env.PORT || 3000);
const parsers = { json: undefined, msgpack: msgpackParser };
const name = process.env.PARSER || "json";
if (!(name in parsers)) {
  console.error(`PARSER=${JSON.stringify(name)}: want json or msgpack`);
  process.exit(2);
}
const httpServer = createServer();
const io = new Server(httpServer, parsers[name] ? { parser: parsers[name] } : {});
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
