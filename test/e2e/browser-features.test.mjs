// The demo's invitations, per-room presence and live tokens in a real
// browser (Debian's chromium, driven by playwright-core), with
// screenshots.
import { test } from "node:test";
import assert from "node:assert/strict";
import { demo, shots } from "./browser.mjs";

const d = demo();
const { h, login } = d;

test("the demo shows invitations, who is in the room as they come and go, and a token refreshed ahead of its expiry", async () => {
  const olga = await login("Olga");
  const gus = await login("Gus");
  const gusId = await gus.evaluate(() => JSON.parse(sessionStorage.getItem("herald")).user.id);
  // Who is in the room, updated as a third user comes and goes.
  await olga.waitForSelector("#hereNames:has-text('Gus')");
  const tom = await login("Tom");
  await olga.waitForSelector("#hereNames:has-text('Tom')");
  await olga.screenshot({ path: shots + "room-presence.png" });
  await tom.context().close();
  await olga.waitForFunction(() => !document.querySelector("#hereNames").textContent.includes("Tom"), null, { timeout: 10000 });
  await olga.screenshot({ path: shots + "room-presence-left.png" });

  // Olga makes a private room and invites Gus: he sees it in his room
  // list and gets the notification.
  await olga.fill("#roomName", "Secret plans");
  await olga.check("#roomPrivate");
  await olga.click("#newRoom button");
  await olga.waitForSelector("#roomTitle:has-text('Secret plans')");
  await olga.fill("#invitee", gusId);
  await olga.click("#inviteForm button");
  await gus.waitForSelector("#rooms .room:has-text('Secret plans')");
  await gus.waitForSelector(".toast:has-text('Invited to Secret plans')");
  await olga.screenshot({ path: shots + "invitation-owner.png" });
  await gus.screenshot({ path: shots + "invitation-invitee.png" });
  await gus.click("#rooms .room:has-text('Secret plans')");
  await gus.waitForSelector("#roomTitle:has-text('Secret plans')");
  await olga.waitForSelector("#hereNames:has-text('Gus')");

  // A token with about 10 s left (exp 20 s ago, and the server allows 30
  // s of skew): the provider's refresh callback gets a new one at once,
  // and the connection outlives the old token's end.
  const dev = await (await fetch(h.url + "/api/dev/token", { method: "POST", body: JSON.stringify({ name: "Rita" }) })).json();
  const now = Math.floor(Date.now() / 1000);
  const short = h.token(dev.user.id, "Rita", { exp: now - 20 });
  const ctx = await d.browser.newContext({ viewport: { width: 1100, height: 650 } });
  await ctx.addInitScript((s) => sessionStorage.setItem("herald", s), JSON.stringify({ token: short, user: dev.user }));
  const rita = await ctx.newPage();
  await rita.goto(h.url + "/");
  await rita.waitForSelector(".badge.connected");
  await rita.waitForSelector("#refreshed:has-text('token refreshed')");
  await rita.evaluate(() => {
    window.connStates = [];
    new MutationObserver(() => window.connStates.push(document.querySelector("#conn").textContent))
      .observe(document.querySelector("#conn"), { childList: true, characterData: true, subtree: true });
  });
  const end = (now + 10) * 1000 + 1500; // past the old token's end
  await rita.waitForFunction((t) => Date.now() > t, end, { timeout: 15000 });
  await rita.fill("#text", "still here");
  await rita.click("#sendForm button");
  await olga.click("#rooms .room:has-text('General')");
  await olga.waitForSelector(".msg .text:text('still here')");
  assert.equal(await rita.textContent("#conn"), "connected");
  assert.deepEqual(await rita.evaluate(() => window.connStates.filter((s) => s !== "connected")), [], "the connection stayed up");
  await rita.screenshot({ path: shots + "token-refresh.png" });
  for (const p of [olga, gus, rita]) await p.context().close();
});
