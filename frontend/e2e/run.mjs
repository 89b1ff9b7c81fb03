// End-to-end run of the dashboard in a real Chromium (Debian's, driven by playwright-core) against a running
// platform. tests/e2e/test_dashboard.py starts the platform and runs this; by hand:
//   DASHBOARD_URL=http://127.0.0.1:3000 API_KEY=ntk_... OUT_DIR=/tmp/e2e node e2e/run.mjs
// Writes a screenshot per page to $OUT_DIR/screenshots and the measured figures to $OUT_DIR/results.json;
// exits non-zero at the first step that fails, naming it.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { chromium } from "playwright-core";

const DASHBOARD = process.env.DASHBOARD_URL;
const KEY = process.env.API_KEY;
const OUT = process.env.OUT_DIR ?? "e2e-results";
const BROWSER = process.env.CHROMIUM ?? "/usr/bin/chromium";
const ACCOUNT = process.env.E2E_ACCOUNT ?? `e2e-${Date.now().toString(36)}`;
const PERF_DIR = process.env.PERF_DIR; // the blotter's load harness (npm run build:perf), optional
const STEP_MS = Number(process.env.E2E_STEP_TIMEOUT_MS ?? 30000);
if (!DASHBOARD || !KEY) throw new Error("set DASHBOARD_URL and API_KEY");
const SHOTS = join(OUT, "screenshots");
mkdirSync(SHOTS, { recursive: true });

const results = { steps: [], figures: {} };
const consoleErrors = [];
let current = "launch";
let lastBid = NaN;
const t0 = Date.now();

async function step(name, fn) {
  current = name;
  const start = Date.now();
  await fn();
  results.steps.push({ name, ms: Date.now() - start });
  console.log(`ok  ${name} (${Date.now() - start} ms)`);
}

const browser = await chromium.launch({
  executablePath: BROWSER,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
const page = await context.newPage();
page.setDefaultTimeout(STEP_MS);
page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
page.on("pageerror", (e) => consoleErrors.push(String(e)));
const outside = [];
page.on("request", (r) => {
  const u = new URL(r.url());
  if (!["127.0.0.1", "localhost"].includes(u.hostname) && u.protocol !== "data:") outside.push(r.url());
});
const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const nav = async (title) => {
  await page.getByRole("link", { name: title, exact: true }).click();
  await page.waitForSelector(`main[data-page="${title.toLowerCase()}"]`);
};

try {
  await step("sign in: a wrong key is refused with the API's reason", async () => {
    await page.goto(DASHBOARD);
    await page.getByLabel("API key").fill("ntk_wrong-key");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: /UNAUTHORIZED|API key/i }).waitFor();
  });
  await step("sign in with the key; the session survives a reload", async () => {
    await page.getByLabel("API key").fill(KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.waitForSelector('main[data-page="overview"]');
    await page.reload();
    await page.waitForSelector('main[data-page="overview"]');
    await page.waitForSelector('[data-testid="live-state"]:has-text("live")');
  });
  await step("overview: every engine and process with its status", async () => {
    await page.waitForSelector('[data-testid="services"] tbody tr');
    const rows = await page.locator('[data-testid="services"] tbody tr').count();
    if (rows < 10) throw new Error(`only ${rows} services listed`);
    await page.waitForSelector("dl dt:has-text('CPU')");
    results.figures.overview_services = rows;
    await shot("overview");
  });
  await step("market: load samples, search, chart 5,000 daily bars", async () => {
    await nav("Market");
    await page.getByRole("button", { name: "Load samples" }).click();
    await page.waitForSelector('[data-testid="market-message"]:has-text("loaded")', { timeout: 120000 });
    await page.getByLabel("search symbols").fill("GSPC");
    const started = await page.evaluate(() => performance.now());
    await page.getByRole("button", { name: "^GSPC", exact: true }).click();
    await page.waitForSelector('[data-testid="chart"][data-bars="5031"] canvas');
    const firstChart = await page.evaluate(
      (s) => new Promise((res) => requestAnimationFrame(() => requestAnimationFrame(() => res(performance.now() - s)))),
      started,
    );
    results.figures.first_chart_5031_daily_bars_ms = Math.round(firstChart);
  });
  await step("market: live quotes from the simulated feed move the chart", async () => {
    await page.getByLabel("search symbols").fill("AAPL");
    await page.getByRole("button", { name: "AAPL", exact: true }).click();
    await page.waitForSelector('[data-testid="chart"] canvas');
    const feedButton = page.getByRole("button", { name: /simulated feed/ });
    if ((await feedButton.textContent()).startsWith("Start")) await feedButton.click();  // a rerun finds it running
    await page.waitForSelector('[data-testid="quote"]');
    lastBid = Number((await page.getByTestId("quote").textContent()).match(/bid ([\d,.]+)/)[1].replace(/,/g, ""));
    await shot("market");
  });
  await step("trading: create an account, place a resting limit order, cancel it", async () => {
    await nav("Trading");
    await page.getByLabel("account id").fill(ACCOUNT);
    await page.getByRole("button", { name: "Create account" }).click();
    await page.waitForSelector(`[data-testid="accounts"] td:text-is("${ACCOUNT}")`);
    const ticket = page.getByRole("form", { name: "order ticket" });
    await ticket.locator('select[name="account_id"]').selectOption(ACCOUNT);
    // client-side validation: a limit order without a price is refused before anything is sent
    await ticket.locator('input[name="limit_price"]').fill("");
    await ticket.getByRole("button", { name: "Submit order" }).click();
    await ticket.locator('[data-field="limit_price"]').waitFor();
    // 5% under the bid: inside the 10% price collar, and it rests on the book
    await ticket.locator('input[name="limit_price"]').fill((lastBid * 0.95).toFixed(2));
    await ticket.getByRole("button", { name: "Submit order" }).click();
    const outcome = await ticket.getByTestId("ticket-outcome").textContent({ timeout: STEP_MS });
    await page.waitForSelector('[data-testid="ticket-outcome"]:has-text("accepted")');
    const orderId = (await ticket.getByTestId("ticket-outcome").textContent()).split(" ")[0];
    await page.waitForSelector(`[data-order="${orderId}"][data-status="accepted"]`);
    await page.locator(`[data-order="${orderId}"] button:has-text("cancel")`).click();
    await page.waitForSelector(`[data-order="${orderId}"][data-status="cancelled"]`);
    results.figures.resting_order = outcome;
  });
  await step("trading: a market order fills; the fill reaches the screen through the websocket", async () => {
    const ticket = page.getByRole("form", { name: "order ticket" });
    await ticket.locator('select[name="type"]').selectOption("market");
    await ticket.locator('input[name="limit_price"]').fill("");
    await ticket.locator('input[name="qty"]').fill("10");
    const fillsBefore = await page.locator('[data-testid="fills"] tbody tr').count();
    // time from the order's 201 (its response's end, from the browser's resource timing) to its fill's row
    // on screen; the fill arrives as an event on the websocket
    await page.evaluate((n) => {
      window.nautilusFillAt = null;
      const obs = new MutationObserver(() => {
        if (document.querySelectorAll('[data-testid="fills"] tbody tr').length > n) {
          window.nautilusFillAt = performance.now();
          obs.disconnect();
        }
      });
      obs.observe(document.body, { subtree: true, childList: true });
    }, fillsBefore);
    const resp = page.waitForResponse((r) => r.url().endsWith("/api/v1/trading/orders") && r.request().method() === "POST");
    await ticket.getByRole("button", { name: "Submit order" }).click();
    const r = await resp;
    if (r.status() !== 201) throw new Error(`order answered ${r.status()}`);
    const body = await r.json();
    if (body.status !== "filled" && body.status !== "partially_filled") throw new Error(`market order ${body.status}: ${body.reason}`);
    await page.waitForFunction(() => window.nautilusFillAt !== null);
    results.figures.fill_after_201_ms = await page.evaluate(() => {
      const orders = performance.getEntriesByType("resource").filter((e) => e.name.endsWith("/api/v1/trading/orders"));
      return Math.round(window.nautilusFillAt - orders[orders.length - 1].responseEnd);
    });
    await page.waitForSelector('[data-testid="positions"] tr[data-symbol="AAPL"]');
    await shot("trading");
  });
  await step("trading: a TWAP parent order runs and shows its progress", async () => {
    const form = page.getByRole("form", { name: "start algorithm" });
    await form.getByLabel("algorithm account").selectOption(ACCOUNT);
    await form.getByLabel("algorithm quantity").fill("20");
    await form.getByLabel("duration seconds").fill("4");
    await form.getByLabel("slices").fill("4");
    await form.getByRole("button", { name: "Start" }).click();
    await page.waitForSelector('[data-testid="algos"] tr[data-kind="twap"]');
    await page.waitForSelector('[data-testid="algos"] tr[data-kind="twap"][data-status="completed"]', { timeout: 60000 });
  });
  await step("risk: VaR of the account, a limit breach appears live", async () => {
    await nav("Risk");
    await page.getByRole("form", { name: "var" }).getByRole("button", { name: "Compute" }).click();
    await page.waitForSelector('[data-testid="var"] tbody tr');
    await page.getByLabel("limit set name").fill(`${ACCOUNT}-cap`);
    await page.getByLabel("gross exposure threshold").fill("1");
    await page.getByRole("button", { name: "Create limit set" }).click();
    await page.locator('[data-testid="limit-sets"] tr', { hasText: `${ACCOUNT}-cap` }).getByRole("button").click();
    await page.waitForSelector('[data-testid="utilisation"] .util-breach');
    await page.waitForSelector('[data-testid="breaches"] li');
    await shot("risk");
  });
  await step("portfolio: optimise weights", async () => {
    await nav("Portfolio");
    await page.getByRole("button", { name: "Optimise" }).click();
    await page.waitForSelector('[data-testid="weights"] tbody tr');
    await shot("portfolio");
  });
  await step("analytics: a tear sheet against the S&P 500", async () => {
    await nav("Analytics");
    await page.getByLabel("benchmark").fill("^GSPC");
    await page.getByRole("button", { name: "Render" }).click();
    await page.waitForSelector('[data-testid="metrics"]', { timeout: 90000 });
    await shot("analytics");
  });
  await step("trading: the kill switch asks for confirmation, then stops trading", async () => {
    await nav("Trading");
    await page.getByRole("button", { name: "Activate kill switch…" }).click();
    await page.getByRole("dialog", { name: "confirm kill switch" }).waitFor();
    await page.getByLabel("reason").fill("e2e");
    await page.getByRole("button", { name: "Confirm: stop all trading" }).click();
    await page.waitForSelector('[data-testid="kill-active"]');
    await page.getByRole("button", { name: "Release" }).click();
    await page.getByRole("button", { name: "Activate kill switch…" }).waitFor();
  });
  await step("bundle: JavaScript of the first load, gzipped", async () => {
    const sizes = await page.evaluate(() => performance.getEntriesByType("resource")
      .filter((e) => e.name.endsWith(".js")).map((e) => ({ name: e.name, transfer: e.transferSize, body: e.encodedBodySize })));
    results.figures.first_load_js = sizes;
  });
  if (outside.length) throw new Error(`requests left the machine: ${outside.slice(0, 5).join(", ")}`);
  if (PERF_DIR) {
    await step("blotter: 10,000 orders, then 100 updates/s for 10 s", async () => {
      const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };
      const server = createServer((req, res) => {
        const path = normalize(join(PERF_DIR, req.url === "/" ? "index.html" : req.url.split("?")[0]));
        if (!path.startsWith(normalize(PERF_DIR))) return res.writeHead(403).end();
        try {
          res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" }).end(readFileSync(path));
        } catch {
          res.writeHead(404).end();
        }
      });
      await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
      try {
        await page.goto(`http://127.0.0.1:${server.address().port}/`);
        await page.waitForFunction(() => window.blotterPerf?.done === true, null, { timeout: 60000, polling: 500 });
        const perf = await page.evaluate(() => window.blotterPerf);
        results.figures.blotter = { ...perf, maxFrameMs: Math.round(perf.maxFrameMs), firstRenderMs: Math.round(perf.firstRenderMs) };
        if (perf.applied !== perf.sent || !perf.shownFinal) throw new Error(`updates lost: ${JSON.stringify(perf)}`);
      } finally {
        server.close();
      }
    });
  }
} catch (e) {
  results.failed = { step: current, error: String(e) };
  await shot(`failed-${current.split(":")[0].replace(/\W+/g, "-")}`).catch(() => undefined);
} finally {
  results.console_errors = consoleErrors;
  results.total_ms = Date.now() - t0;
  writeFileSync(join(OUT, "results.json"), JSON.stringify(results, null, 2));
  await browser.close();
}
if (results.failed) {
  console.error(`FAILED at "${results.failed.step}": ${results.failed.error}`);
  process.exit(1);
}
console.log(`all steps passed in ${results.total_ms} ms`);
