// Drives pages written by `faultline view` / `run --view` in headless Chromium and checks
// that each one renders, draws every node's lane and some messages, steps, jumps, colours and
// labels role bands in the words of the trace's vocabulary, and logs no errors. Saves a
// screenshot of each page.
//
//   node tests/browser/check.mjs [--screenshots DIR] [--chromium PATH] [--jobs N]
//        [--needs-state PAGE.html]... [--embed PAGE.html] PAGE.html...
//
// Also checks the panels drawn from published state (the state panel, the log grid), the
// timers, the cluster view, the filters, play in virtual time and the labels of down nodes.
// A page given with --needs-state must show a non-empty state panel. The page given with
// --embed is also opened inside an iframe of a small wrapper page that talks to it as the
// playground does (ready, goto, departure, pick).
//
// Prints one line per page (records, bytes, render time) and exits 1 if any page fails.

import { launch } from "./launch.mjs";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const args = process.argv.slice(2);
let shots = null;
let executablePath = "/usr/bin/chromium";
let jobs = 2;
let embed = null;
const pages = [];
const needsState = new Set();
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--screenshots") shots = args[++i];
  else if (args[i] === "--needs-state") needsState.add(resolve(args[++i]));
  else if (args[i] === "--embed") embed = args[++i];
  else if (args[i] === "--chromium") executablePath = args[++i];
  else if (args[i] === "--jobs") jobs = Math.max(1, Number(args[++i]) || 1);
  else pages.push(args[i]);
}
if (!pages.length) {
  console.error("usage: check.mjs [--screenshots DIR] [--chromium PATH] [--jobs N] PAGE.html...");
  process.exit(2);
}
if (shots) mkdirSync(shots, { recursive: true });

const { context, close } = await launch(executablePath, { width: 1400, height: 1000 }, "faultline-chromium-");
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
      vocabulary: v.vocabulary, leading: v.leadingSegments, hasState: v.hasState, logNames: v.logNames,
      firstEntryAt: v.firstEntryAt, firstCommitAt: v.firstCommitAt,
      kinds: v.kinds, timers: v.timers, gaps: v.gaps(), clients: v.lanes.filter((l) => l.startsWith("c")).length,
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
  // The page may open at its last record (a failed check): step from the first.
  await page.evaluate(() => window.faultlineViewer.step(-1e9));
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
  if (!(await page.$eval("#whatif", (e) => e.hidden))) problems.push("the what-if button shows outside a playground");
  const extra = await checkPanels(page, info, file, problems);
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
    (bands ? `, ${bands} leading band(s) drawn` : "") + extra),
    ...problems.map((p) => "     " + p)].join("\n") + (problems.length ? "\n" : "");
}

// The panels of issue 19: state panel and log grid, cluster view with a message in flight,
// filters, play in virtual time, down nodes' labels. Returns text for the page's line.
async function checkPanels(page, info, file, problems) {
  const v = (f, a) => page.evaluate(f, a);
  const drawnAt = (t) => v((t) => { window.faultlineViewer.at(t); return window.faultlineViewer.drawn(); }, t);
  // A readable window (a few dozen messages), so each redraw below is quick.
  const readable = () => v(() => {
    const fv = window.faultlineViewer;
    const s = fv.sends(300);
    if (s.length) { fv.select(s[s.length - 1]); fv.gotoStep(fv.pick().step); }
  });
  await readable();
  const end = await v(() => { const v = window.faultlineViewer; v.at(1e15); return v.now(); });
  let fields = 0, cells = 0;
  for (const f of [0.25, 0.5, 0.75, 1]) {
    const d = await drawnAt(end * f);
    fields = Math.max(fields, d.fields); cells = Math.max(cells, d.cells);
  }
  const panelRows = await page.$$eval("#state-panel tr", (r) => r.length);
  if (info.hasState && !fields) problems.push("the trace has state records but the state panel stayed empty");
  if (info.hasState && panelRows < 2) problems.push("the state panel has no node rows");
  if (needsState.has(resolve(file)) && !info.hasState) problems.push("this page must show published state, and its trace has none");
  // A log that ever holds an entry draws cells, and one that ever commits draws a committed
  // cell, at least at the moment it first does (a livelocked run's logs stay empty).
  // Checked with the cursor on that very record (a crash may follow it at the same instant).
  const drawnOn = (i) => v((i) => { window.faultlineViewer.select(i); return window.faultlineViewer.drawn(); }, i);
  if (info.firstEntryAt >= 0 && !cells) cells = (await drawnOn(info.firstEntryAt)).cells;
  if (info.firstEntryAt >= 0 && !cells) problems.push(`the trace publishes log entries (${info.logNames.join(", ")}) but the log grid drew no cells`);
  if (info.firstCommitAt >= 0) {
    await drawnOn(info.firstCommitAt);
    if (!(await page.$(".log-grid td.cell.committed"))) problems.push("the trace commits log entries, but the log grid drew no committed cell");
  }
  if (!info.hasState && !(await page.$eval("#state-view", (e) => e.hidden))) problems.push("no published state, yet the state panel is shown");
  // The cluster view: a circle per node, and a message in flight just after a send.
  const circles = await page.$$eval("#cluster circle.cl-node", (c) => c.length);
  if (circles !== info.nodes) problems.push(`the cluster view drew ${circles} nodes, not ${info.nodes}`);
  let inFlight = 0;
  if (info.sent > 0) {
    inFlight = await v(() => {
      const fv = window.faultlineViewer;
      for (const i of fv.sends(20)) {
        fv.select(i);
        fv.at(fv.pick().t + 1);
        const n = fv.drawn().inFlight;
        if (n) return n;
      }
      return 0;
    });
    const dots = await page.$$eval("#cluster circle.cl-msg", (c) => c.length);
    if (!inFlight || !dots) problems.push("the cluster view showed no message in flight after a send");
  }
  // Down nodes: during a crash the lane says down and shows no announced state.
  const down = info.gaps.find((g) => g.kind === "down" && g.t1 > g.t0 + 2);
  if (down) {
    await v((t) => window.faultlineViewer.at(t), (down.t0 + down.t1) / 2);
    const lane = await page.$eval(`g.lane[data-lane="${down.lane}"]`, (g) => [g.dataset.status, g.textContent]);
    if (lane[0] !== "down") problems.push(`${down.lane} is down at ${(down.t0 + down.t1) / 2} but its lane says ${lane[0]}`);
    const words = (info.vocabulary.leading || []).concat(info.vocabulary.contending || []);
    if (words.some((w) => lane[1].includes(w))) problems.push(`${down.lane} is down but its label still names a role: ${lane[1]}`);
    const node = await page.$eval(`#cluster g[data-lane="${down.lane}"]`, (g) => g.dataset.status);
    if (node !== "down") problems.push(`the cluster view does not show ${down.lane} down`);
  }
  // Filters: clients, a node, a message kind.
  await readable();
  if (info.clients) {
    await page.uncheck("#filter-clients");
    if (await page.$('g.lane[data-lane^="c"]')) problems.push("hiding clients left a client lane");
    await page.check("#filter-clients");
  }
  await page.uncheck('#filter-nodes input[data-lane="n1"]');
  if (await page.$('g.lane[data-lane="n1"]')) problems.push("hiding n1 left its lane");
  if ((await page.$$eval("#cluster circle.cl-node", (c) => c.length)) !== info.nodes - 1) problems.push("hiding n1 left it in the cluster view");
  await page.check('#filter-nodes input[data-lane="n1"]');
  // Hiding a kind drawn in this window leaves fewer arrows.
  const before = await page.$$eval("#diagram line.msg", (l) => l.length);
  let fewer = false;
  for (const kind of info.kinds) {
    await page.uncheck(`#filter-kinds input[data-kind="${kind}"]`);
    const after = await page.$$eval("#diagram line.msg", (l) => l.length);
    await page.check(`#filter-kinds input[data-kind="${kind}"]`);
    if (after < before) { fewer = true; break; }
  }
  if (before > 0 && !fewer) problems.push(`hiding each message kind in turn (${info.kinds.join(", ")}) left all ${before} arrows`);
  // Play moves virtual time at the chosen speed.
  await v(() => window.faultlineViewer.step(-1e9));
  await page.selectOption("#speed", "1000");
  const t0 = await v(() => window.faultlineViewer.now());
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  const p0 = performance.now();
  await page.keyboard.press(" ");
  // Frames come late on a busy machine: wait until virtual time moves (or 10 s).
  await page.waitForFunction((t0) => window.faultlineViewer.now() > t0, t0, { timeout: 10000 }).catch(() => {});
  await page.waitForTimeout(200);
  await page.keyboard.press(" ");
  const t1 = await v(() => window.faultlineViewer.now());
  const played = (performance.now() - p0) / 1000;
  if (info.steps > 1 && !(t1 > t0)) problems.push(`play did not advance virtual time (${t0} -> ${t1})`);
  return (fields ? `, state panel ${fields} field(s)` : "") + (cells ? `, ${cells} log cell(s)` : "") +
    (info.timers ? `, ${info.timers} timer(s)` : "") + (inFlight ? `, ${inFlight} in flight` : "") +
    `, played ${((t1 - t0) / 1000).toFixed(0)} ms in ${played.toFixed(1)} s`;
}

// The page inside an iframe, as the playground shows it: the viewer says it is ready,
// follows goto and departure, and posts a pick for a node point and for a message.
async function checkEmbedded(file) {
  const problems = [];
  const dir = mkdtempSync(join(tmpdir(), "faultline-embed-"));
  const wrapper = join(dir, "wrapper.html");
  writeFileSync(wrapper, `<!DOCTYPE html><html><body>
<iframe id="v" src="${pathToFileURL(resolve(file)).href}" width="1300" height="900"></iframe>
<script>
window.got = [];
window.addEventListener("message", (e) => { if (e.data && e.data.faultline === 1) window.got.push(e.data); });
window.tell = (m) => document.getElementById("v").contentWindow.postMessage(Object.assign({ faultline: 1 }, m), "*");
</script></body></html>`);
  const page = await context.newPage();
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  try {
    await page.goto(pathToFileURL(wrapper).href);
    await page.waitForFunction(() => window.got.some((m) => m.type === "ready"), null, { timeout: 60000 });
    const ready = await page.evaluate(() => window.got.find((m) => m.type === "ready"));
    if (!(ready.records > 0 && ready.steps > 0 && ready.end_t > 0)) problems.push("ready lacks counts: " + JSON.stringify(ready));
    const frame = page.frames().find((f) => f !== page.mainFrame());
    if (await frame.$eval("#whatif", (e) => e.hidden)) problems.push("embedded, but no what-if button");
    const step = Math.floor(ready.steps / 2);
    await page.evaluate((s) => window.tell({ type: "goto", step: s }), step);
    await frame.waitForFunction((s) => window.faultlineViewer.pick().step >= s, step, { timeout: 5000 }).catch(() => problems.push("goto did not move the cursor"));
    const win = await frame.evaluate(() => window.faultlineViewer.window());
    if (win[1] - win[0] > ready.end_t * 0.9 && ready.end_t > 1e6) problems.push("goto did not zoom to a readable window");
    await frame.click("#btn-whatif");
    await page.waitForFunction(() => window.got.some((m) => m.type === "pick"), null, { timeout: 5000 });
    const pick = await page.evaluate(() => window.got.filter((m) => m.type === "pick").pop());
    if (!pick.record || pick.step === undefined || pick.t === undefined || !["node", "message"].includes(pick.kind)) problems.push("a bad pick: " + JSON.stringify(pick));
    // A message pick: select an arrow's send, then ask.
    await frame.evaluate(() => { const fv = window.faultlineViewer; fv.select(fv.sends(1)[0]); });
    await frame.click("#btn-whatif");
    await page.waitForFunction(() => window.got.filter((m) => m.type === "pick").length >= 2, null, { timeout: 5000 });
    const mp = await page.evaluate(() => window.got.filter((m) => m.type === "pick").pop());
    if (mp.kind !== "message" || !mp.msg_kind || !mp.from || !mp.to || !(mp.nth >= 1) || mp.record.ev !== "send") problems.push("a bad message pick: " + JSON.stringify(mp));
    const here = await frame.evaluate(() => window.faultlineViewer.pick());
    await page.evaluate((s) => window.tell({ type: "departure", step: s.step, t: s.t }), { step: here.step, t: here.t });
    await frame.waitForSelector("line.depart-line", { state: "attached", timeout: 5000 }).catch(() => problems.push("departure drew no marker"));
  } finally {
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return `${problems.length ? "FAIL" : "ok  "} embedded ${basename(file)}: ready, goto, pick (node and message), departure` +
    problems.map((p) => "\n     " + p).join("");
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
  if (embed) {
    const r = await checkEmbedded(embed).catch((e) => `FAIL embedded ${basename(embed)}: ${e.message}`);
    console.log(r);
    if (r.startsWith("FAIL")) failures.push("embedded " + embed);
  }
} finally {
  await close();
}
console.log(`${pages.length} page(s) checked in ${((performance.now() - started) / 1000).toFixed(1)} s, ${failures.length} failed`);
process.exit(failures.length ? 1 : 0);
