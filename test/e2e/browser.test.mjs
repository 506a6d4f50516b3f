// The demo page in a real browser (Debian's chromium, driven by
// playwright-core): two users chat, see each other typing and online,
// get a notification toast, and survive a server restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { sleep } from "./server.mjs";
import { demo, shots } from "./browser.mjs";

const d = demo();
const { h, login } = d;

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

test("the demo shows read receipts, edits, deletions, who is here, DMs and unread badges", async () => {
  const alice = await login("Alicia");
  const bob = await login("Boris");
  // Both are in General (with whoever an earlier test left there).
  await alice.waitForFunction(() => Number(document.querySelector("#here")?.textContent?.replace(/\D/g, "") || 0) >= 2);
  await alice.fill("#text", "hello boris");
  await alice.click("#sendForm button");
  await bob.waitForSelector(".msg .text:text('hello boris')");
  await alice.waitForSelector("#receipts:text('Read by Boris')");
  alice.once("dialog", (d) => d.accept("hello boris, edited"));
  await alice.click(".msg:has-text('hello boris') .edit");
  await bob.waitForSelector(".msg .text:text('hello boris, edited')");
  await bob.waitForSelector(".msg:has-text('hello boris, edited') small:text('(edited)')");
  await alice.fill("#text", "to be deleted");
  await alice.click("#sendForm button");
  await bob.waitForSelector(".msg .text:text('to be deleted')");
  await alice.click(".msg:has-text('to be deleted') .delete");
  await bob.waitForSelector(".msg.deleted .text:text('message deleted')");
  // Boris opens a DM with Alicia from the online list; she gets the room
  // at once, with an unread badge.
  await bob.click("#people .user:has-text('Alicia')");
  await bob.waitForSelector("#roomTitle:text('@ Alicia')");
  await bob.fill("#text", "psst");
  await bob.click("#sendForm button");
  await alice.waitForSelector("#rooms .room:has-text('@ Boris') .count:text('1')");
  await alice.screenshot({ path: shots + "features-alicia.png" });
  await bob.screenshot({ path: shots + "features-boris.png" });
  await alice.click("#rooms .room:has-text('@ Boris')");
  await alice.waitForSelector(".msg .text:text('psst')");
  await bob.waitForSelector("#receipts:text('Read by Alicia')");
  await alice.context().close();
  await bob.context().close();
});
