// Reads a Chrome Trace Event Format file (a `faultline export --format perfetto`) with a real
// consumer of the format, the npm package @tracerbench/trace-model, and prints what that
// consumer made of it as one JSON object on stdout:
//
//   {"consumer": "@tracerbench/trace-model 8.0.0", "events": N, "categories": {CAT: N},
//    "start": T, "end": T, "processes": [{"pid", "name", "sortIndex", "events",
//    "threads": [{"tid", "name", "events", "categories"}]}]}
//
// in the consumer's own order (processes by sort index, threads as it sorts them). `events`
// counts the events other than metadata that the model kept (in the whole trace, in a process,
// on a thread), `categories` the same per category. tests/exports.rs compares it with the
// export. Exits 1 with the consumer's error on stderr if the package rejects the file.
//
// Usage: node tests/browser/trace-model.mjs FILE
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';

const require = createRequire(import.meta.url);
const { buildModel } = require('@tracerbench/trace-model');
const { version } = require('@tracerbench/trace-model/package.json');

const file = process.argv[2];
if (!file) {
  console.error('usage: node trace-model.mjs FILE');
  process.exit(2);
}

let model;
try {
  model = buildModel(JSON.parse(readFileSync(file, 'utf8')));
} catch (e) {
  // The message and where in the package it was raised.
  const where = (e && e.stack ? e.stack.split('\n').slice(0, 3) : [String(e)]).join('\n');
  console.error(`@tracerbench/trace-model rejected ${file}: ${where}`);
  process.exit(1);
}

// Events other than metadata, and how many of them per category (`cat`, as the model split it).
const count = (events) => {
  const categories = {};
  let n = 0;
  for (const e of events) {
    if (e.isMetadata()) continue;
    n += 1;
    const cat = Array.isArray(e.cat) ? e.cat.join(',') : e.cat;
    categories[cat] = (categories[cat] || 0) + 1;
  }
  return { events: n, categories };
};

const out = {
  consumer: `@tracerbench/trace-model ${version}`,
  ...count(model.events),
  start: model.start,
  end: model.end,
  processes: model.processes.map((p) => ({
    pid: p.id,
    name: p.name,
    sortIndex: p.sortIndex,
    events: count(p.events).events,
    threads: p.threads.map((t) => ({ tid: t.id, name: t.name, ...count(t.events) })),
  })),
};
console.log(JSON.stringify(out));
