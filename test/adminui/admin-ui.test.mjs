// The Socket.IO Admin UI, served from @socket.io/admin-ui's own ui/dist,
// in a real browser (Debian's chromium, driven by playwright-core) against
// the herald binary with HERALD_ADMIN_UI on: a wrong password is refused,
// the right one shows the two connected clients and their rooms, and the
// disconnect button disconnects one of them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFile, stat } from "node:fs/promises";
import { mkdirSync } from "node:fs";
import { join, extname } from "node:path";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";
import bcrypt from "bcryptjs";
import { Herald } from "../e2e/server.mjs";

const require = createRequire(import.meta.url);
const uiDir = join(require.resolve("@socket.io/admin-ui/package.json"), "..", "ui", "dist");
const shots = new URL("./screenshots/", import.meta.url).pathname;
const PASSWORD = "changeit";

const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".map": "application/json" };

// serveUI serves the UI's built files, as a team would host them.
function serveUI() {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url, "http://x").pathname;
    const file = join(uiDir, path === "/" ? "index.html" : path);
    if (!file.startsWith(uiDir) || !(await stat(file).catch(() => null))?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(await readFile(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let ui, uiURL, h, browser;

before(async () => {
  mkdirSync(shots, { recursive: true });
  ui = await serveUI();
  uiURL = `http://127.0.0.1:${ui.address().port}`;
  h = new Herald({
    HERALD_ADMIN_UI: "1",
    HERALD_ADMIN_UI_USER: "admin",
    HERALD_ADMIN_UI_PASSWORD_HASH: bcrypt.hashSync(PASSWORD, 10),
    HERALD_ADMIN_UI_ORIGINS: uiURL,
  });
  await h.start();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  for (const s of h?.sockets ?? []) s.close();
  await h?.stop();
  ui?.close();
});

function connected(socket) {
  return new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
}

test("the admin UI lists the clients and their rooms, and disconnects one", async () => {
  // Two official clients on "/", each in its user:<id> and role:user rooms.
  const alice = h.socket("/", { auth: { token: h.token("u-alice", "Alice") }, reconnection: false });
  const bob = h.socket("/", { auth: { token: h.token("u-bob", "Bob") }, reconnection: false });
  await Promise.all([connected(alice), connected(bob)]);
  const bobGone = new Promise((resolve) => bob.once("disconnect", resolve));
  const [aliceId, bobId] = [alice.id, bob.id]; // a client forgets its id once disconnected

  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  // The page asks for web fonts and icons from CDNs; this machine has no
  // network beyond loopback.
  await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
  await page.goto(uiURL + "/");

  const login = async (password) => {
    await page.getByLabel("Server URL").fill(h.url);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill(password);
    await page.getByRole("button", { name: "Connect" }).click();
  };
  await login("wrong");
  await page.getByText("Invalid credentials").waitFor();
  await page.screenshot({ path: shots + "login-refused.png" });
  await login(PASSWORD);
  await page.getByRole("dialog").waitFor({ state: "hidden" });

  // The dashboard knows this server.
  await page.goto(uiURL + "/#/servers/");
  await page.locator("tbody tr").first().waitFor();
  await page.screenshot({ path: shots + "servers.png" });

  await page.goto(uiURL + "/#/sockets/");
  const row = (id) => page.locator("tbody tr", { hasText: id });
  await row(aliceId).waitFor();
  await row(bobId).waitFor();
  await page.screenshot({ path: shots + "sockets.png" });

  // A socket's page lists its rooms.
  await row(aliceId).locator("td").first().click();
  await page.getByText("user:u-alice").waitFor();
  await page.getByText("role:user").first().waitFor();
  await page.screenshot({ path: shots + "socket-rooms.png" });

  await page.goto(uiURL + "/#/sockets/");
  await row(bobId).locator("button").click();
  assert.equal(await bobGone, "io server disconnect");
  // The click reaches the row too, which opens the socket's page: it
  // shows the socket disconnected.
  await page.getByText("Socket details").waitFor();
  await page.getByText("disconnected", { exact: true }).first().waitFor();
  await page.screenshot({ path: shots + "disconnected.png" });
  await page.goto(uiURL + "/#/sockets/");
  await page.getByText("Socket details").waitFor({ state: "detached" }); // its table holds the id too
  await row(aliceId).waitFor();
  assert.equal(await row(bobId).count(), 0, "the disconnected socket is no longer listed");
  assert.ok(alice.connected, "only the socket clicked is disconnected");
  await page.screenshot({ path: shots + "after-disconnect.png" });
});
