// node chat_page_test.mjs URL CHROMIUM PROFILE_DIR: types into the chat page in headless
// Chromium and checks that the reply streams in (several partial texts before the end), then
// that a second turn works too. playwright-core comes from $NODE_DIR (server_npm_setup).
import assert from "node:assert/strict";
import { createRequire } from "node:module";

const require = createRequire(`${process.env.NODE_DIR}/node_modules/`);
const { chromium } = require("playwright-core");
const [url, executablePath, profile] = process.argv.slice(2);

// A fresh profile, and nothing that would reach beyond loopback.
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  timeout: 60_000,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});
try {
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  await page.goto(url);
  assert.equal(await page.title(), "llama2 chat");
  await page.fill("#temperature", "0");
  await page.fill("#max-tokens", "48");

  // Record the reply's length at every change of the message list.
  await page.evaluate(() => {
    window.replyLengths = [];
    new MutationObserver(() => {
      const replies = document.querySelectorAll(".msg.assistant");
      if (replies.length) window.replyLengths.push(replies[replies.length - 1].textContent.length);
    }).observe(document.getElementById("messages"), { subtree: true, childList: true, characterData: true });
  });

  async function say(text, turn) {
    await page.fill("#input", text);
    await page.click("#send");
    await page.waitForSelector(`.msg[data-done="true"] >> nth=${turn}`);
    const errors = await page.locator(".msg.error").allTextContents();
    assert.deepEqual(errors, [], "the page shows an error");
    return page.locator(".msg.assistant").nth(turn).textContent();
  }

  const first = await say("Hello! Tell me a story.", 0);
  assert.ok(first.length > 0, "empty reply");
  const partial = new Set((await page.evaluate(() => window.replyLengths)).filter((n) => n > 0 && n < first.length));
  assert.ok(partial.size >= 2, `the reply did not stream (partial lengths seen: ${[...partial]})`);
  console.log(`ok - first reply streamed in ${partial.size + 1} steps: ${JSON.stringify(first.slice(0, 60))}...`);

  const second = await say("And then?", 1);
  assert.ok(second.length > 0, "empty second reply");
  assert.equal(await page.locator(".msg.user").count(), 2);
  console.log("ok - second turn");
  assert.deepEqual(pageErrors, [], "JavaScript errors on the page");
} finally {
  await context.close();
}
