// Drives Debian's chromium (headless, through puppeteer-core) against a running
// `aikernel explorer` and checks what the page renders: the prompts table (a settled, an
// escalated and a refunded prompt), a prompt's timeline, the re-verify button's HONEST verdict,
// the network charts, the nodes (a slashed one) and the models. Saves a screenshot of each
// view. Run by crates/cli/tests/explorer.rs:
//
//   node tools/browser/explorer.mjs URL OUT_DIR SETTLED_ID ESCALATED_ID REFUNDED_ID
//
// The browser is $AIKERNEL_CHROMIUM, else /usr/bin/chromium (scripts/setup.sh installs it).
// Exits non-zero, naming the check, when anything is missing or the page logs an error.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer from "puppeteer-core";

const [url, outDir, settled, escalated, refunded] = process.argv.slice(2);
if (!refunded) {
  console.error("usage: explorer.mjs URL OUT_DIR SETTLED_ID ESCALATED_ID REFUNDED_ID");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

const check = (ok, what) => {
  if (!ok) throw new Error(`check failed: ${what}`);
  console.log(`ok: ${what}`);
};

const browser = await puppeteer.launch({
  executablePath: process.env.AIKERNEL_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
const errors = [];
const timings = {};
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  await page.setViewport({ width: 1400, height: 900 });
  const shot = (name) => page.screenshot({ path: join(outDir, `${name}.png`), fullPage: true });
  const text = (sel) => page.$eval(sel, (e) => e.innerText);

  // 1. The prompts table: newest first, each with its status, committee and answer.
  let t = Date.now();
  await page.goto(`${url}#/prompts`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#prompts-table tbody tr[data-prompt]", { timeout: 30000 });
  timings.promptsMs = Date.now() - t;
  const rows = await page.$$eval("#prompts-table tbody tr[data-prompt]", (trs) =>
    trs.map((tr) => ({ id: tr.dataset.prompt, cells: [...tr.cells].map((c) => c.innerText.trim()) })));
  const row = (id) => rows.find((r) => r.id === id);
  check(rows.length >= 3, `the prompts table lists the 3 prompts (${rows.length} rows)`);
  check(rows[0].id === refunded, `the newest prompt (${refunded}) comes first`);
  check(row(settled)?.cells[1] === "settled", `prompt ${settled} shows settled`);
  check(row(escalated)?.cells[6] === "1", `prompt ${escalated} shows one escalation`);
  check(row(refunded)?.cells[1] === "refunded", `prompt ${refunded} shows refunded`);
  const members = await page.$$eval(`tr[data-prompt="${escalated}"] .member`, (m) => m.map((x) => x.className));
  check(members.length === 3, `prompt ${escalated}'s committee has 3 members`);
  check(members.filter((c) => c.includes("agreed") && !c.includes("disagreed")).length >= 2,
    `a majority of prompt ${escalated}'s final committee agreed`);
  await shot("prompts");

  // 2. One prompt's timeline: submitted, drawn, commits, reveals, the escalation, settlement.
  t = Date.now();
  await page.goto(`${url}#/prompt/${escalated}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#timeline tbody tr", { timeout: 30000 });
  timings.timelineMs = Date.now() - t;
  const events = await page.$$eval("#timeline tbody tr", (trs) => trs.map((tr) => tr.cells[0].innerText.trim()));
  for (const e of ["submitted", "drawn", "commit", "reveal", "escalated", "settled"]) {
    check(events.includes(e), `prompt ${escalated}'s timeline has "${e}"`);
  }
  check(events.indexOf("escalated") < events.lastIndexOf("settled"), "escalation comes before settlement");
  check((await page.$$(".round")).length === 2, `prompt ${escalated} shows two rounds`);
  await shot("timeline");

  await page.goto(`${url}#/prompt/${refunded}`, { waitUntil: "domcontentloaded" });
  await page.waitForFunction(() => document.querySelector("#answer")?.innerText === "refunded", { timeout: 30000 });
  const refundEvents = await page.$$eval("#timeline tbody tr", (trs) => trs.map((tr) => tr.cells[0].innerText.trim()));
  check(refundEvents.at(-1) === "refunded", `prompt ${refunded}'s timeline ends with its refund`);
  check(await page.$eval("#reverify", (b) => b.disabled), "a refunded prompt cannot be re-verified");

  // 3. Re-verify a settled prompt: the server re-runs it and the page shows both hashes.
  await page.goto(`${url}#/prompt/${settled}`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#reverify:not([disabled])", { timeout: 30000 });
  t = Date.now();
  await page.click("#reverify");
  await page.waitForSelector("#verdict-word", { timeout: 180000 });
  timings.reverifyMs = Date.now() - t;
  const verdict = await text("#verdict-word");
  const settledHash = await text("#settled-hash");
  const recomputed = await text("#recomputed-hash");
  check(verdict === "HONEST", `re-verify says HONEST (got ${verdict})`);
  check(/^0x[0-9a-f]{64}$/.test(settledHash) && settledHash === recomputed, "both hashes shown and equal");
  await shot("verify");

  // 4. Network figures and their charts.
  await page.goto(`${url}#/network`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#chart-prompts rect", { timeout: 30000 });
  check((await page.$$("#chart-prompts rect")).length === 24, "prompts per hour: 24 bars");
  check(!!(await page.$("#chart-emission polyline")), "the emission curve is drawn");
  check(/\d/.test(await text("#median-latency")), "a median latency is shown");
  await shot("network");

  // 5. Nodes (one slashed) and models.
  await page.goto(`${url}#/nodes`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#nodes-table tbody tr", { timeout: 30000 });
  const slashes = await page.$$eval("#nodes-table tbody tr", (trs) =>
    trs.map((tr) => parseInt(tr.cells[8].innerText, 10)));
  check(slashes.length === 3, "3 nodes listed");
  check(slashes.some((s) => s > 0), "a slashed node shows its slashes");
  await shot("nodes");

  await page.goto(`${url}#/models`, { waitUntil: "domcontentloaded" });
  await page.waitForSelector("#models-table tbody tr", { timeout: 30000 });
  check(/0x[0-9a-f]{64}/.test(await text("#models-table tbody tr")), "the model's content root is shown");
  await shot("models");

  check(errors.length === 0, `no page errors (${errors.join("; ")})`);
  console.log(JSON.stringify({ ok: true, timings, screenshots: outDir }));
} finally {
  await browser.close();
}
