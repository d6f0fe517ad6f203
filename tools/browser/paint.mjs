// Times the explorer's first paint in Debian's chromium (headless, through puppeteer-core):
// from navigation until the prompts table shows its first row, and until a prompt's timeline
// shows its first event. Prints one JSON line. Run by the explorer benchmark
// (crates/cli/tests/explorer.rs, ignored by default):
//
//   node tools/browser/paint.mjs URL PROMPT_ID
//
// The browser is $AIKERNEL_CHROMIUM, else /usr/bin/chromium (scripts/setup.sh installs it).
import puppeteer from "puppeteer-core";

const [url, prompt] = process.argv.slice(2);
if (!prompt) {
  console.error("usage: paint.mjs URL PROMPT_ID");
  process.exit(2);
}
const browser = await puppeteer.launch({
  executablePath: process.env.AIKERNEL_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
try {
  const page = await browser.newPage();
  await page.setViewport({ width: 1400, height: 900 });
  const paint = async (hash, selector) => {
    const t = Date.now();
    await page.goto(`${url}${hash}`, { waitUntil: "domcontentloaded" });
    await page.waitForSelector(selector, { timeout: 60000 });
    return Date.now() - t;
  };
  // A fresh page load each time: the browser has nothing cached from the view before.
  const promptsMs = await paint("#/prompts", "#prompts-table tbody tr[data-prompt]");
  await page.goto("about:blank");
  const timelineMs = await paint(`#/prompt/${prompt}`, "#timeline tbody tr");
  console.log(JSON.stringify({ promptsMs, timelineMs }));
} finally {
  await browser.close();
}
