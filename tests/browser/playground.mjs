// Drives the playground (`faultline serve`) in headless Chromium: runs raft/leader-crash,
// finds the node that leads first (from the trace's vocabulary), picks a point on its lane
// shortly after it starts leading (with the viewer's "what if here?" button where the viewer
// has it, else a `pick` message posted from inside the viewer's frame as the viewer posts
// it), crashes it there, and checks that the page shows the
// departure point (at the crash's step and time) and both verdicts. Saves a screenshot.
//
//   node tests/browser/playground.mjs --url http://127.0.0.1:PORT/ [--chromium PATH] [--screenshots DIR]
//
// tests/browser.rs starts the server and runs this. Prints one line and exits 1 on failure.

import { launch } from "./launch.mjs";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
let url = null;
let shots = null;
let executablePath = "/usr/bin/chromium";
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--url") url = args[++i];
  else if (args[i] === "--screenshots") shots = args[++i];
  else if (args[i] === "--chromium") executablePath = args[++i];
}
if (!url) {
  console.error("usage: playground.mjs --url URL [--chromium PATH] [--screenshots DIR]");
  process.exit(2);
}
const origin = new URL(url).origin;
if (shots) mkdirSync(shots, { recursive: true });

const { context, close } = await launch(executablePath, { width: 1500, height: 1000 }, "faultline-playground-");
const problems = [];
// Nothing but the playground itself may be reached.
await context.route(/^(https?|wss?):/, (route) =>
  route.request().url().startsWith(origin) ? route.continue() : route.abort());

function fail(message) {
  throw new Error(message);
}

const started = performance.now();
let code = 0;
try {
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("request", (r) => {
    if (!r.url().startsWith(origin) && !r.url().startsWith("data:") && !r.url().startsWith("about:")) {
      problems.push("request outside the playground: " + r.url());
    }
  });
  await page.goto(url, { waitUntil: "load", timeout: 60000 });
  await page.waitForSelector('body[data-ready="1"]', { state: "attached", timeout: 30000 });

  // Run the scenario from the form.
  await page.selectOption("#scenario", "raft/leader-crash");
  await page.fill("#seed", "1");
  const t0 = performance.now();
  await page.click("#run");
  await page.waitForFunction(() => /^this run \(run \d+/.test(document.getElementById("verdict-after").textContent), null, { timeout: 120000 });
  const ranMs = performance.now() - t0;
  const viewer = page.frameLocator("#viewer");
  await viewer.locator('body[data-rendered="1"]').waitFor({ state: "attached", timeout: 60000 });
  const first = await page.evaluate(() => document.getElementById("verdict-after").textContent);

  // The node that leads first, and when, read from the run's trace through its vocabulary.
  const runId = Number(/run (\d+)/.exec(first)[1]);
  const trace = await page.evaluate(async (id) => (await fetch("/api/runs/" + id + "/trace.jsonl")).text(), runId);
  const lines = trace.trim().split("\n").map((l) => JSON.parse(l));
  const vocab = lines[0].vocabulary;
  const elected = lines.find((r) => r.ev === "note" && r.key === vocab.role && vocab.leading.includes(r.value));
  if (!elected) fail("no node ever leads in the first run");
  // A point on its lane 50 ms after it starts leading: the first record of that node from then.
  const later = lines.findIndex((r, i) => i > 0 && r.node === elected.node && r.t >= elected.t + 50_000 && r.step !== undefined);
  if (later < 0) fail("no record of " + elected.node + " 50 ms after it leads");

  // Pick it: with the viewer's own "what if here?" when the page has it (the cursor put on
  // that record through the viewer's test API), else a `pick` message posted from the
  // viewer's frame, as the viewer posts it.
  const frame = page.frames().find((f) => f.parentFrame() === page.mainFrame());
  if (!frame) fail("the viewer's frame is missing");
  const button = await frame.evaluate(() => {
    const b = document.getElementById("btn-whatif");
    const v = window.faultlineViewer;
    return !!(b && v && typeof v.select === "function" && b.offsetParent !== null);
  });
  let via = "pick message";
  if (button) {
    via = "the viewer's what-if button";
    // The viewer numbers records from 0 after the header; if its numbering differs, walk
    // from the time to that node's record.
    const at = await frame.evaluate(([i, t, node]) => {
      const v = window.faultlineViewer;
      v.select(i);
      let p = v.pick();
      if (p.lane === node && p.t === t) return p;
      v.at(t);
      for (let k = 0; k < 200 && !(p = v.pick(), p.kind === "node" && p.lane === node); k++) v.step(1);
      return p;
    }, [later - 1, lines[later].t, elected.node]);
    await frame.evaluate(() => document.getElementById("btn-whatif").click());
    if (at.lane !== elected.node) fail("the viewer picked lane " + at.lane + ", not " + elected.node);
  } else {
    await frame.evaluate(([node, t, record]) => {
      window.parent.postMessage({ faultline: 1, type: "pick", step: record.step, t, lane: node, record, kind: "node" }, "*");
    }, [elected.node, lines[later].t, lines[later]]);
  }
  await page.waitForFunction(() => document.getElementById("picked").textContent.startsWith("Picked step"), null, { timeout: 10000 });
  const form = await page.evaluate(() => [document.getElementById("wi-time").value, document.getElementById("wi-node").value]);
  if (form[1] !== elected.node) fail("the pick did not fill the form's node: " + form);
  const crashMs = Number(form[0]);
  const crashUs = Math.round(crashMs * 1000);
  if (Math.abs(crashUs - lines[later].t) > 100_000) fail("the pick filled a time far from the point: " + form);
  await page.selectOption("#wi-action", "crash");
  const t1 = performance.now();
  await page.click("#wi-go");
  await page.waitForFunction(() => /depart at step/.test(document.getElementById("departure").textContent), null, { timeout: 120000 });
  const whatIfMs = performance.now() - t1;
  await viewer.locator('body[data-rendered="1"]').waitFor({ state: "attached", timeout: 60000 });

  const shown = await page.evaluate(() => ({
    before: document.getElementById("verdict-before").textContent,
    beforeHidden: document.getElementById("verdict-before").classList.contains("hidden"),
    after: document.getElementById("verdict-after").textContent,
    departure: document.getElementById("departure").textContent,
    src: document.getElementById("viewer").getAttribute("src"),
    download: document.getElementById("download").getAttribute("href"),
  }));
  if (shown.beforeHidden || !/^before \(run \d+/.test(shown.before)) fail("the previous run's verdict is not shown: " + shown.before);
  if (!/^after \(run \d+/.test(shown.after)) fail("the what-if's verdict is not shown: " + shown.after);
  for (const v of [shown.before, shown.after]) {
    if (!/: (held|failed|inconclusive)/.test(v)) fail("a verdict without its outcome: " + v);
  }
  const m = /depart at step (\d+), t = ([\d.]+) ms/.exec(shown.departure);
  if (!m) fail("no departure point: " + shown.departure);
  if (Number(m[2]) !== crashMs) fail("the runs depart at " + m[2] + " ms, not at the crash at " + crashMs + " ms");
  const whatId = Number(/run (\d+)/.exec(shown.after)[1]);
  if (shown.src !== "/view/" + whatId) fail("the viewer does not show the what-if: " + shown.src);
  const what = await page.evaluate(async (id) => (await fetch("/api/runs/" + id + "/trace.jsonl")).text(), whatId);
  const crash = what.trim().split("\n").map((l) => JSON.parse(l))
    .find((r) => r.ev === "fault" && r.fault && r.fault.crash === elected.node && r.t === crashUs);
  if (!crash) fail("the what-if's trace has no crash of " + elected.node + " at " + crashUs);
  if (Number(m[1]) !== crash.step) fail("the departure is step " + m[1] + ", the crash is step " + crash.step);
  const download = await page.evaluate(async (href) => (await fetch(href)).json(), shown.download);
  if (!download.faults.some((f) => f.crash === elected.node && Number(f.at_ms) === crashMs)) fail("the download lacks the crash");
  if (shots) await page.screenshot({ path: join(shots, "playground-whatif.png") });
  if (problems.length) fail(problems.join("; "));
  console.log(`playground: raft/leader-crash ran in ${ranMs.toFixed(0)} ms (${first}); ` +
    `crash ${elected.node} at ${crashMs} ms (via ${via}) re-ran in ${whatIfMs.toFixed(0)} ms; departure step ${m[1]} at ${m[2]} ms; ` +
    `${shown.after}; checked in ${((performance.now() - started) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error("playground FAILED: " + e.message + (problems.length ? " (" + problems.join("; ") + ")" : ""));
  code = 1;
} finally {
  await close();
}
process.exit(code);
