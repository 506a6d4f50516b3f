// The demo page in a real browser: Debian's chromium driven by
// playwright-core, with the herald binary serving the page.
import { before, after } from "node:test";
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";
import { Herald } from "./server.mjs";

export const shots = new URL("./screenshots/", import.meta.url).pathname;

// startBrowser launches chromium (never a downloaded one).
export async function startBrowser() {
  mkdirSync(shots, { recursive: true });
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
}

// login opens the demo in a context of its own and logs in as name.
export async function login(browser, h, name) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 650 } });
  const page = await ctx.newPage();
  await page.goto(h.url + "/");
  await page.fill("#name", name);
  await page.click("#loginForm button");
  await page.waitForSelector(".badge.connected");
  await page.waitForSelector("#roomTitle:text('General')");
  return page;
}

// demo starts a herald and chromium before the file's tests and stops
// them after; login(name) opens a page logged in as name.
export function demo() {
  const d = { h: new Herald(), browser: null };
  before(async () => {
    await d.h.start();
    d.browser = await startBrowser();
  });
  after(async () => {
    await d.browser?.close();
    await d.h.stop();
  });
  d.login = (name) => login(d.browser, d.h, name);
  return d;
}
