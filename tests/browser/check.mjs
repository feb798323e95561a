// Drives pages written by `faultline view` / `run --view` in headless Chromium and checks
// that each one renders, draws every node's lane and some messages, steps, jumps, colours and
// labels role bands in the words of the trace's vocabulary, and logs no errors. Saves a
// screenshot of each page.
//
//   node tests/browser/check.mjs [--screenshots DIR] [--chromium PATH] [--jobs N] PAGE.html...
//
// Prints one line per page (records, bytes, render time) and exits 1 if any page fails.

import { chromium } from "playwright-core";
import { mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
let shots = null;
let executablePath = "/usr/bin/chromium";
let jobs = 2;
const pages = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--screenshots") shots = args[++i];
  else if (args[i] === "--chromium") executablePath = args[++i];
  else if (args[i] === "--jobs") jobs = Math.max(1, Number(args[++i]) || 1);
  else pages.push(args[i]);
}
if (!pages.length) {
  console.error("usage: check.mjs [--screenshots DIR] [--chromium PATH] [--jobs N] PAGE.html...");
  process.exit(2);
}
if (shots) mkdirSync(shots, { recursive: true });

const profile = mkdtempSync(join(tmpdir(), "faultline-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1400, height: 1000 },
});
// Nothing on these pages may reach the network.
await context.route(/^(https?|wss?):/, (route) => route.abort());

const failures = [];
const started = performance.now();

async function checkPage(file) {
  const problems = [];
  const page = await context.newPage();
  page.on("console", (m) => { if (m.type() === "error") problems.push("console error: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("request", (r) => { if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) problems.push("network request: " + r.url()); });
  const t0 = performance.now();
  await page.goto(pathToFileURL(resolve(file)).href, { waitUntil: "load", timeout: 120000 });
  try {
    await page.waitForSelector('body[data-rendered="1"]', { state: "attached", timeout: 60000 });
  } catch (e) {
    throw new Error("never rendered: " + (problems.join("; ") || e.message));
  }
  const loadMs = performance.now() - t0;
  const info = await page.evaluate(() => {
    const v = window.faultlineViewer;
    return {
      steps: v.stepCount, renderMs: v.renderMs, readyAt: v.readyAt, lanes: v.lanes, nodes: v.nodes,
      violation: v.violationIndex, culprits: v.culprits, sent: v.messagesSent,
      vocabulary: v.vocabulary, leading: v.leadingSegments,
    };
  });
  const shot = (suffix) => page.screenshot({ path: join(shots, basename(file).replace(/\.html$/, "") + suffix + ".png") });
  // The page as it opens: what a reader sees first.
  if (shots) await shot("");
  for (let n = 1; n <= info.nodes; n++) {
    if (!(await page.$(`g.lane[data-lane="n${n}"]`))) problems.push(`no lane for n${n}`);
  }
  let arrows = await page.$$eval("line.msg", (l) => l.length);
  if (!arrows && info.sent > 0) {
    await page.click("#btn-fit");
    arrows = await page.$$eval("line.msg", (l) => l.length);
  }
  if (info.sent > 0 && !arrows) problems.push("no message arrows drawn");
  const text = () => page.textContent("#current-step");
  const first = await text();
  await page.click("#btn-fwd");
  const second = await text();
  if (second === first) problems.push("step forward did not change #current-step");
  await page.keyboard.press("ArrowRight");
  const third = await text();
  if (third === second && info.steps > 2) problems.push("ArrowRight did not change #current-step");
  await page.click("#btn-back");
  if ((await text()) !== second) problems.push("step back did not return to the previous step");
  // Clicking an arrow selects its record and shows it.
  const arrow = await page.$("line.msg:not(.lost)");
  if (arrow) {
    await arrow.click({ force: true });
    const shown = await page.textContent("#details");
    if (!shown.includes('"ev"')) problems.push("clicking an arrow did not show its record");
  }
  const stepMs = await page.evaluate(() => {
    const t = performance.now();
    window.faultlineViewer.step(1);
    window.faultlineViewer.step(-1);
    return (performance.now() - t) / 2;
  });
  // The whole run at once: the drawing must stay bounded however many events there are.
  const f0 = performance.now();
  await page.click("#btn-fit");
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r())));
  const fitMs = performance.now() - f0;
  const fitArrows = await page.$$eval("line.msg", (l) => l.length);
  if (fitArrows > 3000) problems.push(`the whole-run view drew ${fitArrows} arrows (the cap is 2500)`);
  // Role bands: a run in which some node took a leading role shows it in the leading colour,
  // labelled with the role value and the epoch in the vocabulary's own words; the legend
  // names the leading values. A protocol without a role key gets no bands and no role legend.
  const words = info.vocabulary || {};
  const bandWidths = await page.$$eval("#diagram rect.role-leading", (r) => r.map((e) => Number(e.getAttribute("width"))));
  const bands = bandWidths.length;
  const labels = await page.$$eval("text.role-label", (t) => t.map((e) => e.textContent));
  const legendShown = await page.$eval("#legend-roles", (e) => !e.hidden);
  if (info.leading > 0) {
    if (!bands) problems.push("a node took a leading role but no band has the leading colour");
    // A band is labelled when it is wider than 70 px (viewer.js), so look for a label only then.
    const leadingLabel = labels.find((l) => (words.leading || []).some((w) => l.startsWith(w)));
    if (!leadingLabel && Math.max(...bandWidths) > 70) problems.push("no band is labelled with a leading role: " + JSON.stringify(labels.slice(0, 5)));
    else if (leadingLabel && words.epoch && !leadingLabel.includes(" · " + words.epoch + " ")) problems.push(`the leading band's label does not name the epoch ${words.epoch}: ${leadingLabel}`);
  }
  if (words.role === undefined && (bands || legendShown)) problems.push("no role key, yet role bands or the role legend are shown");
  if (words.role !== undefined) {
    const legend = await page.textContent("#legend-roles");
    if (!(words.leading || []).every((w) => legend.includes(w))) problems.push("the legend does not name the leading roles: " + legend);
  }
  await page.click("#btn-zoom-in");
  await page.fill("#jump-time", "0.5s");
  await page.press("#jump-time", "Enter");
  if (info.violation >= 0 || info.culprits > 0) {
    await page.click("#btn-violation");
    const at = await text();
    if (info.violation >= 0 && !at.includes("FAIL")) problems.push("jump to violation did not reach the violation: " + at);
    if (shots) await shot("-violation");
  }
  await page.close();
  const bytes = statSync(file).size;
  return [(
    `${problems.length ? "FAIL" : "ok  "} ${basename(file)}: ${info.steps} records, ${(bytes / 1e6).toFixed(2)} MB, ` +
    `${arrows} arrows drawn, ready ${info.readyAt.toFixed(0)} ms after navigation (script ${info.renderMs.toFixed(0)} ms), load+render ${loadMs.toFixed(0)} ms, one step ${stepMs.toFixed(0)} ms, whole-run redraw ${fitMs.toFixed(0)} ms` +
    (info.culprits ? `, ${info.culprits} counterexample op(s) outlined` : "") +
    (bands ? `, ${bands} leading band(s) drawn` : "")),
    ...problems.map((p) => "     " + p)].join("\n") + (problems.length ? "\n" : "");
}

// Pages are checked `jobs` at a time; their lines are printed in the order given.
const reports = new Array(pages.length);
let next = 0;
async function worker() {
  while (next < pages.length) {
    const k = next++;
    try {
      reports[k] = await checkPage(pages[k]);
    } catch (e) {
      reports[k] = `FAIL ${basename(pages[k])}: ${e.message}`;
    }
  }
}
try {
  await Promise.all(Array.from({ length: Math.min(jobs, pages.length) }, worker));
  reports.forEach((r, k) => {
    console.log(r.replace(/\n$/, ""));
    if (r.startsWith("FAIL")) failures.push(pages[k]);
  });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(`${pages.length} page(s) checked in ${((performance.now() - started) / 1000).toFixed(1)} s, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
