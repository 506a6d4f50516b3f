import { io, Manager } from "socket.io-client";

export const URL = process.env.SERVER_URL || "http://127.0.0.1:3000";

// PARSER=msgpack: every client speaks socket.io-msgpack-parser, as the
// server under test does.
export const MSGPACK = process.env.PARSER === "msgpack";
const parser = MSGPACK ? (await import("socket.io-msgpack-parser")).default : undefined;
const parserOpts = parser ? { parser } : {};

const open = new Set();

// connect returns a connected client socket, closed after the test file.
export function connect(nsp = "/", opts = {}) {
  const socket = io(URL + nsp, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 500, ...parserOpts, ...opts });
  open.add(socket);
  return socket;
}

export function connected(socket) {
  if (socket.connected) return Promise.resolve(socket);
  return new Promise((resolve, reject) => {
    socket.once("connect", () => resolve(socket));
    socket.once("connect_error", reject);
  });
}

export async function client(nsp = "/", opts = {}) {
  const s = connect(nsp, opts);
  await connected(s);
  return s;
}

export function manager(opts = {}) {
  const m = new Manager(URL, { reconnectionDelay: 100, reconnectionDelayMax: 500, ...parserOpts, ...opts });
  return m;
}

export function track(socket) {
  open.add(socket);
  return socket;
}

// once resolves with the arguments of the next event (after the optional
// skip count), rejecting after ms.
export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out waiting for "${event}"`)), ms);
    emitter.once(event, (...args) => {
      clearTimeout(t);
      resolve(args);
    });
  });
}

// none resolves if event does not fire within ms.
export function none(emitter, event, ms = 300) {
  return new Promise((resolve, reject) => {
    const h = (...args) => reject(new Error(`unexpected "${event}": ${JSON.stringify(args)}`));
    emitter.once(event, h);
    setTimeout(() => {
      emitter.off(event, h);
      resolve();
    }, ms);
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function closeAll() {
  for (const s of open) s.disconnect();
  open.clear();
}
