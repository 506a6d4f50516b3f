// The demo page in a real browser (Debian's chromium, driven by
// playwright-core): two users chat, see each other typing and online,
// get a notification toast, and survive a server restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { Herald, sleep } from "./server.mjs";

const h = new Herald();
let browser;
const shots = new URL("./screenshots/", import.meta.url).pathname;

before(async () => {
  mkdirSync(shots, { recursive: true });
  await h.start();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});
after(async () => {
  await browser?.close();
  await h.stop();
});

async function login(name) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 650 } });
  const page = await ctx.newPage();
  await page.goto(h.url + "/");
  await page.fill("#name", name);
  await page.click("#loginForm button");
  await page.waitForSelector(".badge.connected");
  await page.waitForSelector("#roomTitle:text('General')");
  return page;
}

test("two users chat, type, see presence and notifications, and survive a restart", async () => {
  const alice = await login("Alice");
  const bob = await login("Bob");

  await alice.fill("#text", "Hello Bob");
  await alice.press("#text", "Enter");
  await bob.waitForSelector("#messages >> text=Hello Bob");
  await bob.fill("#text", "Hi Alice");
  await bob.press("#text", "Enter");
  await alice.waitForSelector("#messages >> text=Hi Alice");

  await bob.type("#text", "typing away");
  await alice.waitForSelector("#typing:text('Bob is typing')");
  await alice.screenshot({ path: shots + "chat-typing.png" });

  await alice.waitForSelector("#people >> text=Bob");
  const bobId = await bob.evaluate(() => JSON.parse(sessionStorage.getItem("herald")).user.id);
  await h.notify({ userId: bobId, type: "order", title: "Order shipped", message: "Your order #42 is on its way" });
  await bob.waitForSelector(".toast >> text=Order shipped");
  await bob.waitForSelector("#unread:text('1')");
  await bob.screenshot({ path: shots + "notification.png" });

  // restart: both pages reconnect, re-sync, nothing lost or doubled
  await h.restart();
  await alice.waitForSelector(".badge.connected", { timeout: 20000 });
  await bob.waitForSelector(".badge.connected", { timeout: 20000 });
  await alice.fill("#text", "After the restart");
  await alice.press("#text", "Enter");
  await bob.waitForSelector("#messages >> text=After the restart");
  await sleep(300);
  for (const page of [alice, bob]) {
    const texts = await page.$$eval("#messages .text", (els) => els.map((e) => e.textContent));
    for (const t of ["Hello Bob", "Hi Alice", "After the restart"]) {
      assert.equal(texts.filter((x) => x === t).length, 1, `${t} in ${JSON.stringify(texts)}`);
    }
  }
  assert.equal(await bob.locator(".toast").count(), 1, "one toast per notification, even after the restart");
  await bob.screenshot({ path: shots + "after-restart.png" });

  // presence: Bob closes the page, Alice sees him go
  await bob.context().close();
  await alice.waitForFunction(() => !document.querySelector("#people").textContent.includes("Bob"), null, { timeout: 10000 });
  await alice.screenshot({ path: shots + "presence.png" });
});
