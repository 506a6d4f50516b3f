// The order feature through the official socket.io-client: an admin and a
// customer connect to "/", the customer creates an order with an ack,
// and the script prints what each of them received as one JSON line.
// URL, CUSTOMER_TOKEN and ADMIN_TOKEN come from the environment.
const { io } = require("socket.io-client");

const url = process.env.URL;
const connect = (token) =>
  new Promise((resolve, reject) => {
    const s = io(url, { auth: { token }, transports: ["websocket"], reconnection: false });
    s.on("connect", () => resolve(s));
    s.on("connect_error", reject);
  });
const next = (s, event) => new Promise((resolve) => s.once(event, resolve));
const fail = (err) => { console.error(err); process.exit(1); };
setTimeout(() => fail(new Error("timed out")), 20000).unref();

(async () => {
  const refused = await connect("forged").then(() => null, (err) => err.message);
  const admin = await connect(process.env.ADMIN_TOKEN);
  const customer = await connect(process.env.CUSTOMER_TOKEN);
  const adminGot = next(admin, "admin:new-order");
  const created = next(customer, "order:created");
  const notified = next(customer, "notification");
  const ack = await customer.timeout(10000).emitWithAck("order:create", {
    items: [{ sku: "tea", quantity: 2, price: 4.5 }, { sku: "cup", quantity: 1, price: 3 }],
  });
  const bad = await customer.timeout(10000).emitWithAck("order:create", { items: [] });
  const list = await admin.timeout(10000).emitWithAck("order:list");
  console.log(JSON.stringify({
    refused, ack, bad, list,
    created: await created, notification: await notified, admin: await adminGot,
  }));
  admin.close();
  customer.close();
})().catch(fail);
