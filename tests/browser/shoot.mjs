// Screenshots of chosen moments of pages written by `faultline view`, for the docs
// (docs/img/tutorial-*.png). Not part of the test suite.
//
//   node tests/browser/shoot.mjs PAGE.html OUT.png FROM_MS TO_MS [STEP_TIME_MS]
//
// Shows virtual times FROM_MS..TO_MS and, if given, selects the first event at STEP_TIME_MS
// (or the violation, if STEP_TIME_MS is "violation").

import { launch } from "./launch.mjs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [page, out, from, to, at] = process.argv.slice(2);
if (!to) {
  console.error("usage: shoot.mjs PAGE.html OUT.png FROM_MS TO_MS [STEP_TIME_MS|violation]");
  process.exit(2);
}
const { context, close } = await launch("/usr/bin/chromium", { width: 1400, height: 900 });
try {
  const p = await context.newPage();
  await p.goto(pathToFileURL(resolve(page)).href);
  await p.waitForSelector('body[data-rendered="1"]');
  if (at === "violation") {
    await p.evaluate(() => window.faultlineViewer.jumpToViolation());
  } else if (at !== undefined) {
    await p.fill("#jump-time", `${at}ms`);
    await p.click("#jump-form button, #jump-form input[type=submit]");
  }
  await p.evaluate(([a, b]) => window.faultlineViewer.showWindow(a * 1000, b * 1000), [Number(from), Number(to)]);
  await p.screenshot({ path: out, fullPage: true });
} finally {
  await close();
}
