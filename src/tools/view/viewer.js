// The faultline trace viewer: a space-time diagram of one run, drawn from the data block
// embedded in this page (format: src/tools/view/mod.rs). Plain JavaScript and SVG; no network.
// It knows no protocol's words: which annotation is a node's role, which role values lead or
// contend, which key is the epoch and which measure progress all come from the vocabulary in
// the data block.
(function () {
  "use strict";
  var started = performance.now();
  var SVGNS = "http://www.w3.org/2000/svg";
  var D = JSON.parse(document.getElementById("faultline-data").textContent);
  var R = D.records;
  var N = R.length;
  var lanes = D.lanes;
  var NODES = D.nodes;
  var EV = {};
  D.evs.forEach(function (e, i) { EV[e] = i; });

  // The protocol's words (any of them may be missing: then the page draws no role bands and
  // shows every annotation the same way).
  var V = D.vocabulary || {};
  var LEADING = V.leading || [];
  var CONTENDING = V.contending || [];
  var PROGRESS = V.progress || [];
  function isLeading(role) { return LEADING.indexOf(role) >= 0; }
  function isContending(role) { return CONTENDING.indexOf(role) >= 0; }

  // Limits on what one drawing may create, so a dense window stays responsive.
  var ARROWS_MAX = 2500;
  var MARKS_MAX = 2500;
  var OPS_MAX = 2500;

  // ---------------------------------------------------------------- decoding

  var T = new Float64Array(N);
  for (var i = 0; i < N; i++) T[i] = R[i][1] || 0;
  var summary = D.summary || {};
  var tEnd = Math.max(N ? T[N - 1] : 0, summary.time_end || 0, 1);

  var restCache = new Array(D.strings.length);
  function rest(i) {
    var k = R[i][6];
    if (k < 0) return {};
    if (restCache[k] === undefined) restCache[k] = JSON.parse(D.strings[k]);
    return restCache[k];
  }
  function evName(i) { return D.evs[R[i][2]]; }
  function laneIndex(name) { return lanes.indexOf(name); }

  // The record as it was written in the trace.
  function recordObj(i) {
    var r = R[i];
    var ev = D.evs[r[2]];
    var o = { step: r[0], t: r[1], ev: ev };
    var isOp = ev === "invoke" || ev === "complete";
    if (r[5] >= 0) o[isOp ? "op" : ev === "armed" ? "fires" : "id"] = r[5];
    if (r[3] >= 0) o[r[4] >= 0 ? "from" : isOp ? "client" : "node"] = lanes[r[3]];
    if (r[4] >= 0) o.to = lanes[r[4]];
    var x = rest(i);
    for (var k in x) if (Object.prototype.hasOwnProperty.call(x, k)) o[k] = x[k];
    return o;
  }

  function fmtTime(us) {
    var s = Math.floor(us / 1e6);
    var frac = String(Math.round(us - s * 1e6));
    while (frac.length < 6) frac = "0" + frac;
    return s + "." + frac + "s";
  }
  // Compact text for a value, as `trace show` writes it: a one-key object loses its braces,
  // inner fields become key=value, lists are [a b], null is -.
  function compact(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v !== "object") return String(v);
    if (Array.isArray(v)) return "[" + v.map(compact).join(" ") + "]";
    var keys = Object.keys(v);
    if (keys.length === 1) {
      var inner = v[keys[0]];
      if (inner === true) return keys[0];
      if (inner && typeof inner === "object" && !Array.isArray(inner)) {
        return keys[0] + " " + Object.keys(inner).map(function (k) { return k + "=" + compact(inner[k]); }).join(" ");
      }
      return keys[0] + " " + compact(inner);
    }
    return keys.map(function (k) { return k + "=" + compact(v[k]); }).join(" ");
  }
  function short(v) {
    if (v === null || v === undefined) return "-";
    if (typeof v === "string") return v;
    var s = compact(v);
    return s.length > 80 ? s.slice(0, 77) + "..." : s;
  }
  // A one-line description of a record, like `trace show`.
  function describe(i) {
    var o = recordObj(i);
    switch (o.ev) {
      case "send": return o.from + " > send #" + o.id + " -> " + o.to + " " + short(o.msg && o.msg.peer !== undefined ? o.msg.peer : o.msg) + (o.copies === 0 ? " (lost)" : o.copies > 1 ? " (x" + o.copies + ")" : "");
      case "deliver": return o.to + " < recv #" + o.id + " <- " + o.from;
      case "lost": return o.to + " x lost #" + o.id + " " + o.from + " -> " + o.to + " (" + o.reason + ")";
      case "held": return o.node + " = held #" + o.id + " until resume";
      case "timer": return o.node + " @ timer " + short(o.timer);
      case "note": return o.node + " ~ " + o.key + " = " + short(o.value);
      case "fault": return "! fault " + short(o.fault) + " by " + o.origin + (o.detail ? " (" + o.detail + ")" : "");
      case "start": return o.node + " ^ " + (o.recover ? "recover" : "start") + " incarnation " + o.incarnation;
      case "sync": return o.node + " # sync " + (o.failed ? "FAILED, " + o.ops + " ops lost" : o.ops + " ops");
      case "invoke": return o.client + " + invoke op " + o.op + " " + short(o.request);
      case "complete": return o.client + " - return op " + o.op + " " + short(o.outcome);
      case "phase": return "| phase " + o.phase;
      case "check": return "v " + o.check + " (" + o.kind + "): " + o.status;
      case "violation": return "!! FAIL " + o.check + " (" + o.kind + ", " + o.class + ")";
      case "state": return o.node + " = state" + (o.full ? " (full)" : "") + (o.set ? " " + short(o.set) : "") + (o.gone ? " gone " + o.gone.join(" ") : "") + (o.logs ? " logs " + Object.keys(o.logs).join(" ") : "");
      case "armed": return o.node + " @ armed " + short(o.timer) + " fires " + fmtTime(o.fires);
      case "disarmed": return o.node + " @ disarmed " + short(o.timer);
      default: return o.ev + " " + short(o);
    }
  }

  function lowerBound(t) {
    var lo = 0, hi = N;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (T[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }

  // Messages: id -> send index, deliveries, losses, holds.
  var msgs = new Map();
  function msg(id) {
    var m = msgs.get(id);
    if (!m) { m = { s: -1, d: [], l: [], h: [] }; msgs.set(id, m); }
    return m;
  }
  // Per-node notes: lane -> key -> {idx: [], val: []}, in record order.
  var notes = lanes.map(function () { return new Map(); });
  var noteIdx = [];
  var roleSeg = lanes.map(function () { return []; });
  var gaps = [];        // {lane, t0, t1, kind: "down"|"paused", i0}
  var parts = [];       // {t0, t1, text, strips: [{lane, colour}], i0}
  var ops = new Map();  // op -> {inv, done, lane}
  var faultIdx = [];
  var violationIdx = -1;
  var leadingSegments = 0;

  var openDown = {}, openPause = {};
  // Crashes per lane (record indexes): a crash clears what the node announced before it.
  var crashes = lanes.map(function () { return []; });
  var starts = lanes.map(function () { return []; });
  // Timers per lane, each {key, t0, fires, end, how, i0}: armed at t0 to fire at `fires`,
  // ended at `end` by a reset, a cancel, its firing or a crash.
  var timersOf = lanes.map(function () { return []; });
  var openTimers = {};
  function closeTimer(l, key, t, how) {
    var open = openTimers[l];
    var iv = open && open.get(key);
    if (!iv) return null;
    iv.end = Math.min(t, iv.fires); iv.how = how;
    open.delete(key);
    return iv;
  }
  // Published state records and crashes, in record order: what the state fold replays.
  var stateEvents = [], stateLanes = [];
  var hasState = false;
  var logNames = [];
  // The first records at which a log gained an entry and had a committed entry (-1: never).
  var firstEntryAt = -1, firstCommitAt = -1;
  // Display records (published state, timers set and cancelled): not the run's records.
  var displayCount = 0;
  function onCrash(l, i) {
    crashes[l].push(i);
    stateEvents.push(i);
    stateLanes.push(l);
    var segs = roleSeg[l];
    if (segs.length && segs[segs.length - 1].t1 === tEnd) segs[segs.length - 1].t1 = T[i];
    if (openTimers[l]) {
      openTimers[l].forEach(function (_, key) { closeTimer(l, key, T[i], "crash"); });
    }
  }
  var linkFaults = [];  // active link faults, described
  var openPart = null;
  var stripColours = ["#1e88e5", "#fb8c00", "#43a047", "#8e24aa", "#00acc1", "#6d4c41"];

  function closePart(t) { if (openPart) { openPart.t1 = t; parts.push(openPart); openPart = null; } }
  // The directed links cut since the last heal, as "a>b" lane pairs. After each link fault the
  // lanes are grouped by what they can reach: lanes that reach exactly the same set share a
  // strip colour, and a lane that reaches everyone gets no strip.
  var cuts = new Set();
  function cut(a, b) { if (a >= 0 && b >= 0 && a !== b) cuts.add(a + ">" + b); }
  function lanesOf(names) { return names.map(laneIndex).filter(function (l) { return l >= 0; }); }
  function splitGroups(groups) {
    var gl = groups.map(lanesOf);
    gl.forEach(function (g, k) {
      gl.slice(k + 1).forEach(function (h) {
        g.forEach(function (a) { h.forEach(function (b) { cut(a, b); cut(b, a); }); });
      });
    });
  }
  function openPartNow(t, i) {
    if (!cuts.size) return;
    var byReach = new Map();
    var strips = [];
    lanes.forEach(function (name, a) {
      var reach = [], lost = [];
      lanes.forEach(function (other, b) { (cuts.has(a + ">" + b) ? lost : reach).push(other); });
      if (!lost.length) return;
      var key = reach.join(" ");
      if (!byReach.has(key)) byReach.set(key, stripColours[byReach.size % stripColours.length]);
      strips.push({ lane: a, colour: byReach.get(key), text: name + " reaches " + reach.join(" ") + "; cut off from " + lost.join(" ") });
    });
    openPart = { t0: t, t1: tEnd, text: linkFaults.join("; "), strips: strips, i0: i };
  }
  function groupsText(groups) {
    return groups.map(function (g) { return "{" + g.join(" ") + "}"; }).join(" | ");
  }

  function onFault(i) {
    var x = rest(i);
    var f = x.fault;
    var t = T[i];
    faultIdx.push(i);
    var key = typeof f === "string" ? f : Object.keys(f)[0];
    var arg = typeof f === "string" ? null : f[key];
    var l;
    switch (key) {
      case "crash":
        l = laneIndex(arg);
        if (l >= 0 && openDown[l] === undefined) openDown[l] = { lane: l, t0: t, kind: "down", i0: i };
        if (l >= 0) onCrash(l, i);
        break;
      case "pause":
        l = laneIndex(arg);
        if (l >= 0 && openPause[l] === undefined) openPause[l] = { lane: l, t0: t, kind: "paused", i0: i };
        break;
      case "resume":
        l = laneIndex(arg);
        if (openPause[l]) { openPause[l].t1 = t; openPause[l].i1 = i; gaps.push(openPause[l]); delete openPause[l]; }
        break;
      case "partition":
        splitGroups(arg);
        linkFaults.push("partition " + groupsText(arg));
        break;
      case "bridge":
        splitGroups(arg.groups);
        linkFaults.push("bridge " + groupsText(arg.groups) + " via " + arg.via);
        break;
      case "isolate":
        l = laneIndex(arg);
        lanes.forEach(function (_, b) { cut(l, b); cut(b, l); });
        linkFaults.push("isolate " + arg);
        break;
      case "cut":
        cut(laneIndex(arg.from), laneIndex(arg.to));
        linkFaults.push("cut " + arg.from + " -> " + arg.to);
        break;
      case "repair":
        cuts.delete(laneIndex(arg.from) + ">" + laneIndex(arg.to));
        linkFaults.push("repair " + arg.from + " -> " + arg.to);
        break;
      case "heal_links":
      case "heal":
        linkFaults = [];
        cuts.clear();
        if (key === "heal") {
          Object.keys(openPause).forEach(function (k) { openPause[k].t1 = t; openPause[k].i1 = i; gaps.push(openPause[k]); });
          openPause = {};
        }
        break;
      default:
        return;
    }
    if (["partition", "bridge", "isolate", "cut", "repair", "heal_links", "heal"].indexOf(key) >= 0) {
      closePart(t);
      openPartNow(t, i);
    }
  }

  for (i = 0; i < N; i++) {
    var r = R[i];
    var ev = D.evs[r[2]];
    switch (ev) {
      case "send": msg(r[5]).s = i; break;
      case "deliver": msg(r[5]).d.push(i); break;
      case "lost": msg(r[5]).l.push(i); break;
      case "held": msg(r[5]).h.push(i); break;
      case "note": {
        var nx = rest(i);
        var lane = r[3];
        if (lane < 0) break;
        noteIdx.push(i);
        var m = notes[lane].get(nx.key);
        if (!m) { m = { idx: [], val: [] }; notes[lane].set(nx.key, m); }
        m.idx.push(i); m.val.push(nx.value);
        if (V.role !== undefined && nx.key === V.role) {
          var segs = roleSeg[lane];
          var role = typeof nx.value === "string" ? nx.value : compact(nx.value);
          if (segs.length && segs[segs.length - 1].t1 === tEnd) segs[segs.length - 1].t1 = T[i];
          segs.push({ t0: T[i], t1: tEnd, role: role, i0: i });
          if (isLeading(role)) leadingSegments++;
        }
        break;
      }
      case "start": {
        var sx = rest(i);
        if (openDown[r[3]]) { openDown[r[3]].t1 = T[i]; openDown[r[3]].i1 = i; gaps.push(openDown[r[3]]); delete openDown[r[3]]; }
        if (r[3] >= 0 && sx.recover) starts[r[3]].push(i);
        break;
      }
      case "fault": onFault(i); break;
      case "state": {
        displayCount++;
        if (r[3] < 0) break;
        stateEvents.push(i);
        stateLanes.push(r[3]);
        hasState = true;
        var logs = rest(i).logs;
        if (logs) for (var ln in logs) {
          if (logNames.indexOf(ln) < 0) logNames.push(ln);
          if (firstEntryAt < 0 && logs[ln].add && logs[ln].add.length) firstEntryAt = i;
          if (firstCommitAt < 0 && logs[ln].committed > 0) firstCommitAt = i;
        }
        break;
      }
      case "armed": case "disarmed": case "timer": {
        if (ev !== "timer") displayCount++; // counted before any early exit below
        var tl = r[3];
        if (tl < 0) break;
        var tk = JSON.stringify(rest(i).timer);
        if (!openTimers[tl]) openTimers[tl] = new Map();
        closeTimer(tl, tk, T[i], ev === "armed" ? "reset" : ev === "disarmed" ? "cancel" : "fired");
        if (ev === "armed" && r[5] >= 0) {
          var iv = { key: tk, t0: T[i], fires: r[5], end: r[5], how: "", i0: i };
          openTimers[tl].set(tk, iv);
          timersOf[tl].push(iv);
        }
        break;
      }
      case "invoke": ops.set(r[5], { inv: i, done: -1, lane: r[3] }); break;
      case "complete": { var op = ops.get(r[5]); if (op) op.done = i; break; }
      case "violation": violationIdx = i; break;
      default: break;
    }
  }
  Object.keys(openDown).forEach(function (k) { openDown[k].t1 = tEnd; openDown[k].i1 = N; gaps.push(openDown[k]); });
  Object.keys(openPause).forEach(function (k) { openPause[k].t1 = tEnd; openPause[k].i1 = N; gaps.push(openPause[k]); });
  Object.keys(openTimers).forEach(function (l) {
    openTimers[l].forEach(function (iv) { iv.end = Math.min(iv.fires, tEnd); iv.how = "open"; });
  });
  // Each lane's down and paused spans, in record order, to tell a node's status at a record.
  var gapsOf = lanes.map(function () { return []; });
  gaps.forEach(function (g) { gapsOf[g.lane].push(g); });
  gapsOf.forEach(function (gs) { gs.sort(function (a, b) { return a.i0 - b.i0; }); });
  timersOf.forEach(function (ts) {
    ts.sort(function (a, b) { return a.t0 - b.t0; });
    ts.span = 0;
    ts.forEach(function (iv) { ts.span = Math.max(ts.span, iv.end - iv.t0); });
  });
  closePart(tEnd);

  // Arrows, sorted by send time: one per delivery, one per loss, a stub for a send whose
  // copies are all lost without a loss record.
  var arrows = [];
  var maxSpan = 0;
  msgs.forEach(function (m, id) {
    if (m.s < 0) return;
    var s = R[m.s];
    m.d.forEach(function (d, k) { arrows.push({ s: m.s, e: d, kind: k > 0 ? "dup" : "ok", from: s[3], to: s[4], id: id }); });
    m.l.forEach(function (l) { arrows.push({ s: m.s, e: l, kind: "lost", from: s[3], to: s[4], id: id }); });
    if (!m.d.length && !m.l.length && rest(m.s).copies === 0) arrows.push({ s: m.s, e: m.s, kind: "lost", from: s[3], to: s[4], id: id });
  });
  arrows.sort(function (a, b) { return a.s - b.s || a.e - b.e; });
  var A0 = new Float64Array(arrows.length);
  arrows.forEach(function (a, k) { A0[k] = T[a.s]; maxSpan = Math.max(maxSpan, T[a.e] - T[a.s]); });
  function arrowLowerBound(t) {
    var lo = 0, hi = arrows.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (A0[mid] < t) lo = mid + 1; else hi = mid; }
    return lo;
  }
  // The latest end of the arrows in each block of ARROW_BLOCK (by send time), so the messages
  // in flight at a time are found without scanning every earlier send.
  var ARROW_BLOCK = 256;
  var blockEnd = new Float64Array(Math.ceil(arrows.length / ARROW_BLOCK));
  arrows.forEach(function (a, k) { var b = (k / ARROW_BLOCK) | 0; blockEnd[b] = Math.max(blockEnd[b], T[a.e]); });
  var arrowOfRecord = new Map();
  arrows.forEach(function (a, k) { if (!arrowOfRecord.has(a.s)) arrowOfRecord.set(a.s, k); arrowOfRecord.set(a.e, k); });

  // Client operations, in invocation order.
  var opList = [];
  ops.forEach(function (o, id) {
    var kind = "unknown";
    if (o.done >= 0) {
      var out = rest(o.done).outcome;
      var k = typeof out === "string" ? out : Object.keys(out || {})[0];
      kind = k === "ok" ? "ok" : k === "fail" ? "fail" : "unknown";
    }
    opList.push({ id: id, inv: o.inv, done: o.done, lane: o.lane, kind: kind, t0: T[o.inv], t1: o.done >= 0 ? T[o.done] : tEnd, culprit: "" });
  });
  opList.sort(function (a, b) { return a.inv - b.inv; });
  var O0 = new Float64Array(opList.length);
  var opSpan = 0;
  opList.forEach(function (o, k) { O0[k] = o.t0; opSpan = Math.max(opSpan, o.t1 - o.t0); });

  // The violation, and for a failed linearizability check the operations it names: each is
  // written `process P ... [CALL .. RETURN]`, and the call time identifies its invoke record.
  var verdict = summary.verdict || null;
  var violationText = "";
  var culprits = [];
  if (violationIdx >= 0) violationText = rest(violationIdx).message || "";
  else if (verdict && verdict.verdict === "fail") violationText = verdict.message || "";
  if (violationText) {
    var next = violationText.indexOf("none of these can come next");
    var re = /process (\d+) [^\n]*?\[(\d+)\.(\d{6})s \.\./g;
    var mm;
    while ((mm = re.exec(violationText)) !== null) {
      var proc = Number(mm[1]);
      var call = Number(mm[2]) * 1e6 + Number(mm[3]);
      var role = next >= 0 && mm.index > next ? "culprit-next" : "culprit";
      for (var k = 0; k < opList.length; k++) {
        var o = opList[k];
        if (o.t0 === call && rest(o.inv).process === proc) { o.culprit = role; culprits.push(o); break; }
      }
    }
  }

  // ---------------------------------------------------------------- state

  var cursor = 0;
  // The cursor's virtual time: the cursor record's time, or between records while playing.
  var tNow = 0;
  var w0 = 0, w1 = tEnd;
  var playing = false;
  var selectedArrow = -1;
  var departure = null;

  // A readable span of virtual time around t: wide enough for a few dozen messages, so a
  // window neither shows one lone arrow nor a solid mass of them.
  function readableSpan(t) {
    var span = 2000;
    while (span < tEnd && arrowLowerBound(t + span / 2) - arrowLowerBound(t - span / 2) < 40) span *= 1.5;
    return Math.min(span, tEnd * 1.05);
  }
  // Shows a readable window around t, with t at `at` (0..1) of its width.
  function frame(t, at) {
    var span = readableSpan(t);
    w0 = Math.max(0, t - span * at); w1 = w0 + span;
  }
  // Where the page opens: the violation if there is one, else the first time a node takes a
  // leading role, else the start. Returns the record to put the cursor on.
  function firstLeading() {
    var best = -1;
    roleSeg.forEach(function (segs) {
      segs.forEach(function (sg) { if (isLeading(sg.role) && (best < 0 || sg.i0 < best)) best = sg.i0; });
    });
    return best;
  }

  // How many entries of the sorted array `a` are <= v.
  function countLE(a, v) {
    var lo = 0, hi = a.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (a[mid] <= v) lo = mid + 1; else hi = mid; }
    return lo;
  }
  // The last crash of `lane` at or before record `upto`, or -1: what the node announced
  // before it is gone (its restart's notes and state rebuild it).
  function lastCrash(lane, upto) {
    var c = crashes[lane];
    if (!c || !c.length) return -1;
    var k = countLE(c, upto);
    return k > 0 ? c[k - 1] : -1;
  }
  // The note `m` (a key's record indexes and values) after record `upto`, or undefined if it
  // was not noted since the node's last crash.
  function noteValue(m, lane, upto) {
    var k = countLE(m.idx, upto);
    if (k === 0 || m.idx[k - 1] <= lastCrash(lane, upto)) return undefined;
    return m.val[k - 1];
  }

  // The value of every note key of `lane` after record `upto` (inclusive; -1 for none).
  function stateAt(lane, upto) {
    var out = [];
    if (lane < 0 || !notes[lane]) return out;
    notes[lane].forEach(function (m, key) { out.push([key, noteValue(m, lane, upto)]); });
    return out;
  }

  // One note key of `lane` after record `upto`, or undefined.
  function noteAt(lane, key, upto) {
    var m = notes[lane] && notes[lane].get(key);
    return m ? noteValue(m, lane, upto) : undefined;
  }

  // A node's status after record `upto`: "down" from a crash to its start, "paused" from a
  // pause to its resume, else "up".
  function statusAt(lane, upto) {
    var gs = gapsOf[lane] || [], status = "up";
    for (var k = 0; k < gs.length && gs[k].i0 <= upto; k++) {
      if (gs[k].i1 > upto && status !== "down") status = gs[k].kind;
    }
    return status;
  }

  // ---------------------------------------------------------------- published state

  // The state each node publishes (`state` records), folded: per node lane, `fields` (name ->
  // value) and `logs` (name -> {entries: [[mark, entry]...], committed}). A crash empties a
  // node's state; a `full` record replaces it. Scrubbing must stay fast on a long run, so a
  // copy of the fold is kept every STATE_EVERY events and a query replays forward from the
  // nearest copy before it (or from the last query, when that is closer).
  var STATE_EVERY = Math.max(64, Math.ceil(stateEvents.length / 400));
  function emptyState() { return lanes.map(function () { return { fields: {}, logs: {} }; }); }
  function copyState(st) {
    return st.map(function (n) {
      var logs = {};
      for (var k in n.logs) logs[k] = { entries: n.logs[k].entries.slice(), committed: n.logs[k].committed };
      var fields = {};
      for (var f in n.fields) fields[f] = n.fields[f];
      return { fields: fields, logs: logs };
    });
  }
  function applyState(st, k) {
    var i = stateEvents[k], l = stateLanes[k];
    if (R[i][2] !== EV.state) { st[l] = { fields: {}, logs: {} }; return; }
    var x = rest(i);
    if (x.full) st[l] = { fields: {}, logs: {} };
    var n = st[l];
    if (x.set) for (var f in x.set) n.fields[f] = x.set[f];
    if (x.gone) x.gone.forEach(function (g) { delete n.fields[g]; });
    if (x.logs) {
      for (var name in x.logs) {
        var d = x.logs[name];
        var log = n.logs[name] || (n.logs[name] = { entries: [], committed: 0 });
        if (d.keep !== undefined && d.keep < log.entries.length) log.entries.length = d.keep;
        if (d.add) for (var a = 0; a < d.add.length; a++) log.entries.push(d.add[a]);
        if (d.committed !== undefined) log.committed = d.committed;
      }
    }
  }
  var stateCopies = [];
  (function () {
    var st = emptyState();
    for (var k = 0; k < stateEvents.length; k++) {
      if (k % STATE_EVERY === 0) stateCopies.push(copyState(st));
      applyState(st, k);
    }
  })();
  var stateCache = { n: -1, st: null };
  // The published state of every node after record `upto`.
  function publishedAt(upto) {
    var n = countLE(stateEvents, upto);
    if (stateCache.n === n) return stateCache.st;
    var from = Math.floor(n / STATE_EVERY) * STATE_EVERY;
    var st, k;
    if (stateCache.n >= from && stateCache.n <= n) { st = stateCache.st; k = stateCache.n; }
    else { st = copyState(stateCopies[from / STATE_EVERY] || emptyState()); k = from; }
    for (; k < n; k++) applyState(st, k);
    stateCache = { n: n, st: st };
    return st;
  }

  // ---------------------------------------------------------------- timers

  // The timers of `lane` running at time t: armed at or before t and not yet ended.
  function timersAt(lane, t) {
    var ts = timersOf[lane];
    var out = [];
    if (!ts || !ts.length) return out;
    var lo = 0, hi = ts.length, from = t - ts.span;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (ts[mid].t0 < from) lo = mid + 1; else hi = mid; }
    for (var k = lo; k < ts.length && ts[k].t0 <= t; k++) if (ts[k].end > t) out.push(ts[k]);
    return out;
  }

  // Timer colours, one per distinct timer (its JSON text), in first-armed order.
  var timerPalette = ["#26a69a", "#7e57c2", "#ef6c00", "#5c6bc0", "#8d6e63", "#d81b60"];
  var timerKeys = new Map();
  function timerColour(key) {
    if (!timerKeys.has(key)) timerKeys.set(key, timerPalette[timerKeys.size % timerPalette.length]);
    return timerKeys.get(key);
  }
  function compactKey(key) { try { return short(JSON.parse(key)); } catch (e) { return key; } }

  // ---------------------------------------------------------------- message kinds

  // A message's kind, as the engine names it: a peer message's name (the string, or its one
  // key), or `request` / `response` for client traffic.
  var kindCache = new Map();
  function kindOfSend(i) {
    var k = R[i][6];
    if (kindCache.has(k)) return kindCache.get(k);
    var m = rest(i).msg;
    var kind = "?";
    if (m && typeof m === "object") {
      if (m.peer !== undefined) kind = typeof m.peer === "string" ? m.peer : m.peer && typeof m.peer === "object" ? Object.keys(m.peer)[0] : String(m.peer);
      else if (m.request !== undefined) kind = "request";
      else if (m.response !== undefined) kind = "response";
    }
    kindCache.set(k, kind);
    return kind;
  }

  // ---------------------------------------------------------------- drawing

  var svg = document.getElementById("diagram");
  var GUTTER = 190, AXIS = 34, NODE_H = 46, CLIENT_H = 30;
  var laneY = [], laneH = [];
  var height = AXIS;
  function isClient(l) { return l >= NODES && lanes[l].charAt(0) !== "n"; }
  // Filters: which lanes and which message kinds are drawn.
  var showClients = true;
  var hiddenLane = lanes.map(function () { return false; });
  var hiddenKind = new Set();
  function shown(l) { return l >= 0 && !hiddenLane[l] && (showClients || !isClient(l)); }
  function layout() {
    laneY = []; laneH = []; height = AXIS;
    lanes.forEach(function (name, l) {
      var h = isClient(l) ? CLIENT_H : NODE_H;
      laneH.push(h);
      if (!shown(l)) { laneY.push(-1000); return; }
      laneY.push(height); height += h + 4;
    });
    height += 8;
  }
  layout();
  function mid(l) { return laneY[l] + laneH[l] / 2; }
  function arrowShown(a) { return shown(a.from) && shown(a.to) && !hiddenKind.has(kindOfSend(a.s)); }

  function el(name, attrs, parent, text) {
    var e = document.createElementNS(SVGNS, name);
    for (var a in attrs) if (Object.prototype.hasOwnProperty.call(attrs, a)) e.setAttribute(a, attrs[a]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function tip(e, text) { el("title", {}, e, text); return e; }

  var width = 800;
  function x(t) { return GUTTER + (t - w0) / (w1 - w0) * (width - GUTTER - 10); }
  function tAt(px) { return w0 + (px - GUTTER) / (width - GUTTER - 10) * (w1 - w0); }
  function clampX(v) { return Math.max(GUTTER, Math.min(width - 10, v)); }

  // A leading role gets the leading colour, a contending one the contending colour, any other
  // role value one neutral colour.
  function roleClass(role) {
    return isLeading(role) ? "role-leading" : isContending(role) ? "role-contending" : "role-plain";
  }

  function niceStep(span) {
    var raw = span / Math.max(2, Math.floor((width - GUTTER) / 110));
    var p = Math.pow(10, Math.floor(Math.log10(raw)));
    var f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
  }

  var notice = document.getElementById("notice");
  var stats = { arrows: 0, marks: 0, ops: 0 };

  function render() {
    width = Math.max(500, svg.parentNode.clientWidth || 800);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var defs = el("defs", {}, svg);
    var mk = el("marker", { id: "ah", viewBox: "0 0 8 8", refX: "8", refY: "4", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0 0 L8 4 L0 8 z", class: "head" }, mk);
    var mkd = el("marker", { id: "ahd", viewBox: "0 0 8 8", refX: "8", refY: "4", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, defs);
    el("path", { d: "M0 0 L8 4 L0 8 z", fill: "#8e24aa" }, mkd);
    var clip = el("clipPath", { id: "plot" }, defs);
    el("rect", { x: GUTTER, y: 0, width: width - GUTTER - 10, height: height }, clip);

    var plot = el("g", { "clip-path": "url(#plot)" }, svg);
    var roleLabels = [];

    // Lanes, roles, gaps.
    lanes.forEach(function (name, l) {
      if (!shown(l)) return;
      var client = isClient(l);
      el("rect", { x: GUTTER, y: laneY[l], width: width - GUTTER, height: laneH[l], class: "lane-bg" + (client ? " client" : ""), "data-lane": name }, plot);
      roleSeg[l].forEach(function (s) {
        if (s.t1 < w0 || s.t0 > w1) return;
        var x0 = clampX(x(s.t0)), x1 = clampX(x(s.t1));
        tip(el("rect", { x: x0, y: laneY[l] + 6, width: Math.max(1, x1 - x0), height: laneH[l] - 12, class: roleClass(s.role) }, plot), name + ": " + s.role + " from " + fmtTime(s.t0));
        // Name a leading or contending role and its epoch inside the band when there is room
        // (the epoch is noted in the same step as the role, so look a few records on).
        if (x1 - x0 > 70 && (isLeading(s.role) || isContending(s.role))) {
          var epoch = V.epoch !== undefined ? noteAt(l, V.epoch, s.i0 + 8) : undefined;
          roleLabels.push([x0 + 3, laneY[l] + laneH[l] - 9, s.role + (epoch !== undefined ? " · " + V.epoch + " " + short(epoch) : "")]);
        }
      });
      el("line", { x1: GUTTER, x2: width, y1: mid(l), y2: mid(l), class: "lane-line" }, plot);
    });
    gaps.forEach(function (g) {
      if (g.t1 < w0 || g.t0 > w1 || !shown(g.lane)) return;
      var x0 = clampX(x(g.t0)), x1 = clampX(x(g.t1));
      var r = tip(el("rect", { x: x0, y: laneY[g.lane], width: Math.max(2, x1 - x0), height: laneH[g.lane], class: g.kind + " hit", "data-i": g.i0 }, plot),
        lanes[g.lane] + " " + (g.kind === "down" ? "crashed" : "paused") + " from " + fmtTime(g.t0) + " to " + fmtTime(g.t1));
      if (x1 - x0 > 50) el("text", { x: x0 + 4, y: laneY[g.lane] + 12, class: "gap-label" }, plot, g.kind === "down" ? "crashed" : "paused");
      return r;
    });
    // Timers: a wedge per arming, from full height when set to nothing when it would fire,
    // cut where a reset, a cancel, its firing or a crash ended it.
    var timerDrawn = 0;
    lanes.forEach(function (name, l) {
      var ts = timersOf[l];
      if (!shown(l) || !ts.length) return;
      var lo = 0, hi = ts.length, from = w0 - ts.span;
      while (lo < hi) { var md = (lo + hi) >> 1; if (ts[md].t0 < from) lo = md + 1; else hi = md; }
      var y0 = laneY[l] + laneH[l] - 2, hMax = 7;
      for (var k = lo; k < ts.length && ts[k].t0 <= w1 && timerDrawn < MARKS_MAX; k++) {
        var iv = ts[k];
        if (iv.end < w0) continue;
        var xa = x(iv.t0), xe = x(iv.end);
        if (xe - xa < 0.5) continue;
        var he = hMax * (1 - (iv.end - iv.t0) / Math.max(1, iv.fires - iv.t0));
        tip(el("path", { d: "M" + xa + " " + (y0 - hMax) + " L" + xe + " " + (y0 - he) + " L" + xe + " " + y0 + " L" + xa + " " + y0 + " z",
          class: "timer-bar" + (iv.how === "reset" ? " reset" : ""), fill: timerColour(iv.key) }, plot),
          name + " timer " + compactKey(iv.key) + ": set " + fmtTime(iv.t0) + ", due " + fmtTime(iv.fires) + ", " + (iv.how === "fired" ? "fired" : iv.how === "reset" ? "reset at " + fmtTime(iv.end) : iv.how === "cancel" ? "cancelled at " + fmtTime(iv.end) : iv.how === "crash" ? "dropped by a crash at " + fmtTime(iv.end) : "still running at the end"));
        timerDrawn++;
      }
    });
    stats.timers = timerDrawn;

    // Partitions: a band over every lane, and a strip per lane in its group's colour.
    parts.forEach(function (p) {
      if (p.t1 < w0 || p.t0 > w1) return;
      var x0 = clampX(x(p.t0)), x1 = clampX(x(p.t1));
      tip(el("rect", { x: x0, y: AXIS - 14, width: Math.max(2, x1 - x0), height: height - AXIS + 6, class: "part-band hit", "data-i": p.i0 }, plot),
        p.text + "\n" + p.strips.map(function (st) { return st.text; }).join("\n"));
      p.strips.forEach(function (s) {
        if (!shown(s.lane)) return;
        tip(el("rect", { x: x0, y: laneY[s.lane], width: Math.max(2, x1 - x0), height: 5, fill: s.colour, class: "part-strip" }, plot), s.text);
      });
      if (x1 - x0 > 60) el("text", { x: x0 + 3, y: AXIS - 4, class: "part-label" }, plot, p.text.length > (x1 - x0) / 5.5 ? p.text.slice(0, Math.max(4, Math.floor((x1 - x0) / 5.5) - 3)) + "..." : p.text);
    });

    // Client operations.
    stats.ops = 0;
    var lo = 0, hi = opList.length, t = w0 - opSpan;
    while (lo < hi) { var md = (lo + hi) >> 1; if (O0[md] < t) lo = md + 1; else hi = md; }
    var visibleOps = [];
    for (var k = lo; k < opList.length && opList[k].t0 <= w1; k++) if (opList[k].t1 >= w0) visibleOps.push(opList[k]);
    var ostride = Math.max(1, Math.ceil(visibleOps.length / OPS_MAX));
    visibleOps.forEach(function (o, n) {
      if (n % ostride && !o.culprit) return;
      var l = o.lane;
      if (!shown(l)) return;
      var x0 = clampX(x(o.t0)), x1 = clampX(x(o.t1));
      var y = laneY[l] + 5;
      el("rect", { x: x0, y: y, width: Math.max(2, x1 - x0), height: laneH[l] - 10, class: "op hit " + o.kind + (o.culprit ? " " + o.culprit : ""), "data-i": o.inv }, plot);
      if (x1 - x0 > 40) el("text", { x: x0 + 2, y: y + laneH[l] / 2 + 2, class: "op-label" }, plot, compact(rest(o.inv).request).slice(0, Math.floor((x1 - x0) / 5.5)));
      stats.ops++;
    });

    // Message arrows in the window: sends from w0 - maxSpan on, filtered by end time.
    var a0 = arrowLowerBound(w0 - maxSpan), a1 = arrowLowerBound(w1 + 1);
    var vis = [];
    for (k = a0; k < a1; k++) if ((T[arrows[k].e] >= w0 || arrows[k].kind === "lost") && arrowShown(arrows[k])) vis.push(k);
    var stride = Math.max(1, Math.ceil(vis.length / ARROWS_MAX));
    stats.arrows = 0;
    var g = el("g", {}, plot);
    vis.forEach(function (k, n) {
      if (n % stride && k !== selectedArrow) return;
      var a = arrows[k];
      if (a.from < 0 || a.to < 0) return;
      var xa = x(T[a.s]), xb = x(T[a.e]);
      var ya = mid(a.from), yb = mid(a.to);
      var cls = "msg hit" + (a.from >= NODES || a.to >= NODES ? " client" : "") + (a.kind === "dup" ? " dup" : "") + (a.kind === "lost" ? " lost" : "") + (k === selectedArrow ? " sel" : "");
      if (a.kind === "lost") {
        if (xb - xa < 6) xb = xa + 6;
        var yc = ya + (yb - ya) * 0.7;
        var xc = xa + (xb - xa) * 0.7;
        el("line", { x1: xa, y1: ya, x2: xc, y2: yc, class: cls, "data-i": a.e }, g);
        el("path", { d: "M" + (xc - 4) + " " + (yc - 4) + " l8 8 M" + (xc + 4) + " " + (yc - 4) + " l-8 8", class: "x" }, g);
      } else {
        el("line", { x1: xa, y1: ya, x2: xb, y2: yb, class: cls, "data-i": a.kind === "dup" ? a.e : a.s, "marker-end": a.kind === "dup" ? "url(#ahd)" : "url(#ah)" }, g);
      }
      stats.arrows++;
    });

    // Markers: notes, holds, faults, starts, the violation.
    stats.marks = 0;
    var m0 = lowerBound(w0), m1 = lowerBound(w1 + 1);
    var marks = [];
    for (k = m0; k < m1; k++) {
      var e = R[k][2];
      if (R[k][3] >= 0 && !shown(R[k][3])) continue;
      if (e === EV.note || e === EV.held || e === EV.fault || e === EV.start || e === EV.violation) marks.push(k);
    }
    var mstride = Math.max(1, Math.ceil(marks.length / MARKS_MAX));
    marks.forEach(function (k, n) {
      var e = R[k][2];
      if (n % mstride && e !== EV.fault && e !== EV.violation) return;
      var xx = x(T[k]);
      var l = R[k][3];
      if (e === EV.note && l >= 0) {
        el("circle", { cx: xx, cy: laneY[l] + 8, r: 2.6, class: "note hit", "data-i": k }, plot);
      } else if (e === EV.held && l >= 0) {
        el("rect", { x: xx - 4, y: mid(l) - 4, width: 8, height: 8, class: "held hit", "data-i": k }, plot);
      } else if (e === EV.start && l >= 0) {
        el("path", { d: "M" + xx + " " + (mid(l) - 6) + " l5 6 l-5 6 z", fill: "#2e7d32", class: "hit", "data-i": k }, plot);
      } else if (e === EV.fault) {
        var tl = faultLane(k);
        var yy = tl >= 0 ? laneY[tl] + 2 : AXIS - 12;
        el("path", { d: "M" + xx + " " + yy + " l6 11 l-12 0 z", class: "fault hit", "data-i": k }, plot);
      } else if (e === EV.violation) {
        el("line", { x1: xx, x2: xx, y1: AXIS - 14, y2: height, class: "viol-line" }, plot);
        el("path", { d: "M" + xx + " " + (AXIS - 14) + " l7 7 l-7 7 l-7 -7 z", class: "violation hit", "data-i": k }, plot);
      }
      stats.marks++;
    });

    // Role names over the arrows, on a backing so they stay legible.
    roleLabels.forEach(function (rl) {
      var txt = el("text", { x: rl[0], y: rl[1], class: "role-label" }, plot, rl[2]);
      var w = rl[2].length * 6 + 6;
      plot.insertBefore(el("rect", { x: rl[0] - 3, y: rl[1] - 10, width: w, height: 13, rx: 3, class: "role-label-bg" }), txt);
    });

    // Where a re-run departs from the previous one (set by the embedding page).
    if (departure) {
      var dx = x(departure.t);
      if (dx >= GUTTER && dx <= width) {
        el("line", { x1: dx, x2: dx, y1: AXIS - 16, y2: height, class: "depart-line" }, svg);
        el("text", { x: dx + 3, y: height - 4, class: "depart-label" }, svg, "runs depart here (step " + departure.step + ")");
      }
    }

    // The cursor.
    if (N) {
      var cx = x(tNow);
      if (cx >= GUTTER && cx <= width) {
        el("line", { x1: cx, x2: cx, y1: AXIS - 16, y2: height, class: "cursor" }, svg);
        var cl = R[cursor][3] >= 0 ? R[cursor][3] : faultLane(cursor);
        if (cl >= 0) el("circle", { cx: cx, cy: mid(cl), r: 5, class: "cursor-dot" }, svg);
      }
    }

    // Gutter: names and each node's state at the cursor; then the axis.
    el("rect", { x: 0, y: 0, width: GUTTER, height: height, class: "gutter" }, svg);
    lanes.forEach(function (name, l) {
      if (!shown(l)) return;
      var status = isClient(l) ? "up" : statusAt(l, cursor);
      var grp = el("g", { class: "lane", "data-lane": name, "data-status": status }, svg);
      el("text", { x: 8, y: laneY[l] + 15, class: "lane-name" }, grp, name + (status === "down" ? " · down" : status === "paused" ? " · paused" : ""));
      var st = status === "down" ? [] : stateAt(l, cursor).filter(function (kv) { return kv[1] !== undefined; });
      if (st.length) {
        // The role, the epoch and the main progress key first, as the vocabulary names them,
        // then whatever else the protocol notes.
        var first = [V.role, V.epoch, PROGRESS[0]].filter(function (k) { return k !== undefined; });
        st.sort(function (a, b) {
          var ia = first.indexOf(a[0]), ib = first.indexOf(b[0]);
          return (ia < 0 ? 9 : ia) - (ib < 0 ? 9 : ib);
        });
        var words = st.map(function (kv) { return kv[0] === V.role ? short(kv[1]) : kv[0] + " " + short(kv[1]); });
        var lines = ["", ""];
        words.forEach(function (w) {
          var k = lines[0] && (lines[0] + " · " + w).length > 30 ? 1 : 0;
          if (k === 1 && lines[1] && (lines[1] + " · " + w).length > 30) { if (lines[1].slice(-1) !== "…") lines[1] += " …"; return; }
          lines[k] = lines[k] ? lines[k] + " · " + w : w.slice(0, 30);
        });
        var full = name + " at the current step:\n" + st.map(function (kv) { return kv[0] + " = " + short(kv[1]); }).join("\n");
        lines.forEach(function (ln, k) {
          if (ln && 28 + k * 12 < laneH[l]) tip(el("text", { x: 8, y: laneY[l] + 28 + k * 12, class: "lane-state" }, grp, ln), full);
        });
      }
    });
    var axis = el("g", { class: "axis" }, svg);
    var step = niceStep(w1 - w0);
    for (var tt = Math.ceil(w0 / step) * step; tt <= w1; tt += step) {
      var xt = x(tt);
      el("line", { x1: xt, x2: xt, y1: 12, y2: height, opacity: 0.5 }, axis);
      el("text", { x: xt + 2, y: 10 }, axis, fmtTime(tt));
    }
    el("text", { x: 8, y: 10 }, axis, "virtual time →");

    var parts_ = [];
    if (stride > 1) parts_.push("showing 1 in " + stride + " of " + vis.length + " messages in this window: zoom in to see them all");
    if (mstride > 1) parts_.push("1 in " + mstride + " state notes shown");
    if (ostride > 1) parts_.push("1 in " + ostride + " client operations shown");
    notice.textContent = parts_.join("; ");
  }

  // ---------------------------------------------------------------- the cluster view

  // Nodes on a circle, coloured by role and greyed when down; the messages in flight at the
  // cursor's virtual time as dots between sender and receiver, placed by how much of their
  // flight has passed; around each node, what remains of its soonest timer; clients at the
  // left.
  var clusterWrap = document.getElementById("cluster-wrap");
  var csvg = document.getElementById("cluster");
  var kindPalette = ["#34495e", "#1e88e5", "#e53935", "#43a047", "#fb8c00", "#8e24aa", "#00acc1", "#6d4c41", "#c0ca33", "#00897b"];
  var kindColours = new Map();
  function kindColour(kind) {
    if (!kindColours.has(kind)) kindColours.set(kind, kindPalette[kindColours.size % kindPalette.length]);
    return kindColours.get(kind);
  }
  var IN_FLIGHT_MAX = 400;
  function arcPath(cx, cy, r, frac) {
    if (frac >= 0.999) return "M" + cx + " " + (cy - r) + " a" + r + " " + r + " 0 1 1 0 " + 2 * r + " a" + r + " " + r + " 0 1 1 0 " + -2 * r;
    var a = -Math.PI / 2 + frac * 2 * Math.PI;
    return "M" + cx + " " + (cy - r) + " A" + r + " " + r + " 0 " + (frac > 0.5 ? 1 : 0) + " 1 " + (cx + r * Math.cos(a)) + " " + (cy + r * Math.sin(a));
  }
  function renderCluster() {
    stats.inFlight = 0;
    if (clusterWrap.hidden) return;
    var W = Math.max(240, clusterWrap.clientWidth || 330), H = 300;
    csvg.setAttribute("width", W); csvg.setAttribute("height", H);
    csvg.setAttribute("viewBox", "0 0 " + W + " " + H);
    while (csvg.firstChild) csvg.removeChild(csvg.firstChild);
    var nodeLanes = [], clientLanes = [];
    lanes.forEach(function (_, l) { if (shown(l)) (isClient(l) ? clientLanes : nodeLanes).push(l); });
    var left = clientLanes.length ? 40 : 0;
    var cx = left + (W - left) / 2, cy = H / 2 + 6, rad = Math.min(W - left, H) / 2 - 42;
    var pos = {};
    nodeLanes.forEach(function (l, k) {
      var a = -Math.PI / 2 + 2 * Math.PI * k / nodeLanes.length;
      pos[l] = [cx + rad * Math.cos(a), cy + rad * Math.sin(a)];
    });
    clientLanes.forEach(function (l, k) { pos[l] = [16, 30 + (H - 50) * (k + 0.5) / clientLanes.length]; });
    nodeLanes.forEach(function (a, k) {
      nodeLanes.slice(k + 1).forEach(function (b) {
        el("line", { x1: pos[a][0], y1: pos[a][1], x2: pos[b][0], y2: pos[b][1], class: "cl-link" }, csvg);
      });
    });
    el("text", { x: 6, y: 14, class: "cl-time" }, csvg, "t=" + fmtTime(tNow));
    // Messages go under the nodes: one just sent or about to arrive hides behind its node.
    var dots = el("g", {}, csvg);
    clientLanes.forEach(function (l) {
      el("rect", { x: pos[l][0] - 9, y: pos[l][1] - 8, width: 18, height: 16, rx: 3, class: "cl-client" }, csvg);
      el("text", { x: pos[l][0], y: pos[l][1] + 4, class: "cl-sub" }, csvg, lanes[l]);
    });
    nodeLanes.forEach(function (l) {
      var p = pos[l];
      var status = statusAt(l, cursor);
      var role = V.role !== undefined ? noteAt(l, V.role, cursor) : undefined;
      var roleText = role === undefined ? undefined : typeof role === "string" ? role : compact(role);
      var g = el("g", { class: "cl-node-g", "data-lane": lanes[l], "data-status": status }, csvg);
      var cls = "cl-node " + (roleText !== undefined && status !== "down" ? roleClass(roleText) : "role-plain") + (status !== "up" ? " " + status : "");
      tip(el("circle", { cx: p[0], cy: p[1], r: 22, class: cls }, g), lanes[l] + (status !== "up" ? " (" + status + ")" : "") + (roleText !== undefined && status !== "down" ? ": " + roleText : ""));
      el("text", { x: p[0], y: p[1] + 4, class: "cl-name" }, g, lanes[l]);
      var sub = "";
      if (status === "down") sub = "down";
      else {
        var ep = V.epoch !== undefined ? noteAt(l, V.epoch, cursor) : undefined;
        if (ep === undefined && V.epoch !== undefined) { var f = publishedAt(cursor)[l].fields; ep = f[V.epoch]; }
        sub = (status === "paused" ? "paused" : roleText !== undefined ? roleText : "") + (ep !== undefined ? (status === "paused" || roleText !== undefined ? " · " : "") + V.epoch + " " + short(ep) : "");
      }
      if (sub) el("text", { x: p[0], y: p[1] + 36, class: "cl-sub" }, g, sub);
      if (status === "down") return;
      var soon = null;
      timersAt(l, tNow).forEach(function (iv) { if (!soon || iv.fires < soon.fires) soon = iv; });
      if (soon) {
        var frac = Math.max(0, Math.min(1, (soon.fires - tNow) / Math.max(1, soon.fires - soon.t0)));
        tip(el("path", { d: arcPath(p[0], p[1], 27, frac), class: "cl-ring", stroke: timerColour(soon.key) }, g),
          lanes[l] + " timer " + compactKey(soon.key) + " fires in " + ((soon.fires - tNow) / 1000).toFixed(1) + " ms");
      }
    });
    // Messages in flight.
    var a0 = arrowLowerBound(tNow - maxSpan - 1), a1 = arrowLowerBound(tNow + 1);
    for (var k = a0; k < a1 && stats.inFlight < IN_FLIGHT_MAX; k++) {
      if (k % ARROW_BLOCK === 0 && blockEnd[k / ARROW_BLOCK] <= tNow) { k += ARROW_BLOCK - 1; continue; }
      var a = arrows[k];
      var ts = T[a.s], te = T[a.e];
      if (!(te > tNow && ts <= tNow) || !pos[a.from] || !pos[a.to] || !arrowShown(a)) continue;
      var f = (tNow - ts) / (te - ts);
      var p0 = pos[a.from], p1 = pos[a.to];
      var kind = kindOfSend(a.s);
      el("circle", { cx: p0[0] + (p1[0] - p0[0]) * f, cy: p0[1] + (p1[1] - p0[1]) * f, r: 4.5, fill: kindColour(kind),
        class: "cl-msg hit" + (a.kind === "lost" ? " lost" : ""), "data-i": a.s }, dots);
      stats.inFlight++;
    }
  }
  csvg.addEventListener("mouseover", function (e) {
    var t = e.target;
    if (!t.getAttribute || t.getAttribute("data-i") === null || t.querySelector("title")) return;
    var i = Number(t.getAttribute("data-i"));
    tip(t, kindOfSend(i) + ": " + describe(i));
  });
  csvg.addEventListener("click", function (e) {
    var hit = e.target.closest ? e.target.closest("[data-i]") : null;
    if (hit) setCursor(Number(hit.getAttribute("data-i")), true);
  });

  // ---------------------------------------------------------------- state panel and log grid

  var stateView = document.getElementById("state-view");
  var logGrid = document.getElementById("log-grid");
  var statePanel = document.getElementById("state-panel");
  var GRID_COLS = 40;
  var markPalette = ["#5c6bc0", "#26a69a", "#ef6c00", "#8e24aa", "#43a047", "#d81b60", "#6d4c41", "#0288d1", "#c0ca33", "#546e7a"];
  function markColour(m) { return markPalette[((Number(m) % markPalette.length) + markPalette.length) % markPalette.length]; }
  var markName = V.epoch !== undefined ? V.epoch : "mark";
  function renderState() {
    stats.cells = 0; stats.fields = 0;
    if (!hasState) { stateView.hidden = true; return; }
    stateView.hidden = false;
    var st = publishedAt(cursor);
    var cur = R[cursor][2] === EV.state ? rest(cursor) : null;
    var curLane = cur ? R[cursor][3] : -1;
    var nodeLanes = [];
    lanes.forEach(function (_, l) { if (!isClient(l) && shown(l)) nodeLanes.push(l); });
    var status = {};
    nodeLanes.forEach(function (l) { status[l] = statusAt(l, cursor); });
    // One grid per named log: rows are nodes, columns positions, each cell the entry's mark.
    logGrid.textContent = "";
    logNames.forEach(function (name) {
      var len = 0;
      nodeLanes.forEach(function (l) { var lg = st[l].logs[name]; if (lg) len = Math.max(len, lg.entries.length); });
      var first = Math.max(1, len - GRID_COLS + 1);
      var box = node("div", undefined, "log-grid");
      box.dataset.log = name;
      box.appendChild(node("div", name + ": " + len + " position(s)" + (first > 1 ? ", showing " + first + ".." + len : "") + "; each cell is an entry's " + markName + ", filled when committed", "hint"));
      var table = node("table");
      var head = node("tr");
      head.appendChild(node("th", ""));
      for (var p = first; p <= len; p++) head.appendChild(node("th", String(p), "pos"));
      table.appendChild(head);
      nodeLanes.forEach(function (l) {
        var tr = node("tr", undefined, status[l] === "down" ? "down" : "");
        tr.appendChild(node("th", lanes[l] + (status[l] === "down" ? " (down)" : "")));
        var lg = st[l].logs[name] || { entries: [], committed: 0 };
        for (var p = first; p <= len; p++) {
          var e = lg.entries[p - 1];
          if (!e) { tr.appendChild(node("td", "", "cell empty")); continue; }
          var committed = p <= lg.committed;
          var td = node("td", short(e[0]), "cell" + (committed ? " committed" : ""));
          var c = markColour(e[0]);
          td.style.borderColor = c;
          if (committed) td.style.background = c;
          td.title = lanes[l] + " " + name + "[" + p + "] " + markName + " " + short(e[0]) + (committed ? ", committed" : ", not committed") + "\n" + JSON.stringify(e[1], null, 1);
          tr.appendChild(td);
          stats.cells++;
        }
        table.appendChild(tr);
      });
      box.appendChild(table);
      logGrid.appendChild(box);
    });
    // The other published fields, one row per node.
    var fields = [];
    nodeLanes.forEach(function (l) { for (var f in st[l].fields) if (fields.indexOf(f) < 0) fields.push(f); });
    var first = [V.role, V.epoch].concat(PROGRESS);
    fields.sort(function (a, b) {
      var ia = first.indexOf(a), ib = first.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || (a < b ? -1 : a > b ? 1 : 0);
    });
    statePanel.textContent = "";
    var hr = node("tr");
    hr.appendChild(node("th", "node"));
    fields.forEach(function (f) { hr.appendChild(node("th", f)); });
    statePanel.appendChild(hr);
    nodeLanes.forEach(function (l) {
      var tr = node("tr", undefined, status[l] === "down" ? "down" : "");
      tr.dataset.lane = lanes[l];
      tr.appendChild(node("td", lanes[l] + (status[l] !== "up" ? " (" + status[l] + ")" : "")));
      fields.forEach(function (f) {
        var v = st[l].fields[f];
        var changed = curLane === l && cur && ((cur.set && f in cur.set) || cur.full);
        var td = node("td", v === undefined ? "" : short(v), changed ? "changed" : "");
        if (v !== undefined) { td.title = f + " = " + JSON.stringify(v); stats.fields++; }
        tr.appendChild(td);
      });
      statePanel.appendChild(tr);
    });
  }

  // The lane a fault is about, if it names one node.
  function faultLane(i) {
    if (R[i][2] !== EV.fault) return -1;
    var f = rest(i).fault;
    if (typeof f === "string") return -1;
    var v = f[Object.keys(f)[0]];
    if (typeof v === "string") return laneIndex(v);
    if (v && typeof v.node === "string") return laneIndex(v.node);
    return -1;
  }

  // ---------------------------------------------------------------- details and stepping

  var stepEl = document.getElementById("current-step");
  var details = document.getElementById("details");
  var nearby = document.getElementById("nearby");

  function node(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function showDetails(i) {
    details.textContent = "";
    if (!N) return;
    var o = recordObj(i);
    details.appendChild(node("div", "record " + (i + 1) + " of " + N + " (trace line " + (i + 2) + ")", "hint"));
    details.appendChild(node("pre", JSON.stringify(o, null, 2)));
    var l = R[i][3] >= 0 ? R[i][3] : faultLane(i);
    if (R[i][2] === EV.deliver || R[i][2] === EV.lost) l = R[i][4];
    var links = node("div", undefined, "links");
    var m = (o.id !== undefined && o.ev !== "invoke") ? msgs.get(o.id) : null;
    if (m) {
      if (m.s >= 0 && m.s !== i) links.appendChild(jumpButton("its send", m.s));
      m.d.forEach(function (d, k) { if (d !== i) links.appendChild(jumpButton(k ? "duplicate delivery" : "its delivery", d)); });
      m.l.forEach(function (d) { if (d !== i) links.appendChild(jumpButton("its loss", d)); });
      m.h.forEach(function (d) { if (d !== i) links.appendChild(jumpButton("held", d)); });
    }
    if (o.op !== undefined) {
      var op = ops.get(o.op);
      if (op && op.inv !== i) links.appendChild(jumpButton("its invoke", op.inv));
      if (op && op.done >= 0 && op.done !== i) links.appendChild(jumpButton("its completion", op.done));
    }
    if (links.childNodes.length) details.appendChild(links);
    if (l >= 0 && l < lanes.length && notes[l].size) {
      var before = stateAt(l, i - 1), after = stateAt(l, i);
      var table = node("table");
      var head = node("tr");
      head.appendChild(node("th", lanes[l]));
      head.appendChild(node("th", "before"));
      head.appendChild(node("th", "after"));
      table.appendChild(head);
      before.forEach(function (kv, k) {
        var tr = node("tr");
        var b = short(kv[1]), a = short(after[k][1]);
        if (b !== a) tr.className = "changed";
        tr.appendChild(node("td", kv[0]));
        tr.appendChild(node("td", b));
        tr.appendChild(node("td", a));
        table.appendChild(tr);
      });
      details.appendChild(table);
    }
  }

  function jumpButton(label, i) {
    var b = node("button", label + " (step " + R[i][0] + ")");
    b.addEventListener("click", function () { setCursor(i, true); });
    return b;
  }

  function showNearby() {
    nearby.textContent = "";
    var from = Math.max(0, cursor - 8), to = Math.min(N, cursor + 9);
    for (var k = from; k < to; k++) {
      var li = node("li", fmtTime(T[k]) + " " + describe(k), k === cursor ? "cur" : "");
      li.dataset.i = k;
      nearby.appendChild(li);
    }
  }
  nearby.addEventListener("click", function (e) {
    var li = e.target.closest("li");
    if (li) setCursor(Number(li.dataset.i), true);
  });

  function setCursor(i, follow, at) {
    if (!N) return;
    cursor = Math.max(0, Math.min(N - 1, i));
    tNow = at !== undefined ? at : T[cursor];
    selectedArrow = arrowOfRecord.has(cursor) ? arrowOfRecord.get(cursor) : -1;
    var t = T[cursor];
    if (follow && (t < w0 || t > w1)) {
      var span = w1 - w0;
      w0 = Math.max(0, t - span / 2); w1 = w0 + span;
    }
    stepEl.textContent = "record " + (cursor + 1) + "/" + N + " · step " + R[cursor][0] + " · t=" + fmtTime(t) + " · " + describe(cursor);
    showDetails(cursor);
    showNearby();
    render();
    renderCluster();
    renderState();
  }

  function zoom(factor, around) {
    var c = around === undefined ? (w0 + w1) / 2 : around;
    var span = Math.max(20, Math.min(tEnd * 1.05, (w1 - w0) * factor));
    var f = (c - w0) / (w1 - w0);
    w0 = c - span * f; w1 = w0 + span;
    if (w0 < 0) { w1 -= w0; w0 = 0; }
    render();
  }
  function fit() { w0 = 0; w1 = tEnd; render(); }

  function parseTime(text) {
    var s = text.trim();
    var m = /^([0-9]*\.?[0-9]+)\s*(s|ms|us)?$/.exec(s);
    if (!m) return null;
    var v = Number(m[1]);
    return m[2] === "s" ? v * 1e6 : m[2] === "ms" ? v * 1e3 : v;
  }
  function jumpToTime(us) {
    var i = Math.min(N - 1, lowerBound(us));
    frame(us, 0.5);
    setCursor(i, false);
  }
  // Moves to the first record of step `step` (or the first after it), at a readable zoom.
  function gotoStep(step) {
    var lo = 0, hi = N;
    while (lo < hi) { var md = (lo + hi) >> 1; if (R[md][0] < step) lo = md + 1; else hi = md; }
    var i = Math.min(N - 1, lo);
    frame(T[i], 0.5);
    setCursor(i, false);
    return i;
  }
  function jumpToViolation() {
    if (violationIdx < 0 && !culprits.length) return false;
    if (culprits.length) {
      var a = Infinity, b = 0;
      culprits.forEach(function (o) { a = Math.min(a, o.t0); b = Math.max(b, o.t1); });
      var pad = (b - a) * 0.08 + 1000;
      w0 = Math.max(0, a - pad); w1 = Math.max(b, violationIdx >= 0 ? T[violationIdx] : b) + pad;
    } else {
      frame(T[violationIdx], 0.8);
    }
    setCursor(violationIdx >= 0 ? violationIdx : culprits[culprits.length - 1].inv, false);
    return true;
  }

  // Play advances virtual time at the chosen speed (virtual milliseconds per real second);
  // the cursor is the last record at or before it, and the cluster view moves in between.
  var timer = null, last = 0;
  var playBtn = document.getElementById("btn-play");
  function tick(now) {
    if (!playing) return;
    var rate = Number(document.getElementById("speed").value) * 1000;
    var t = Math.min(tEnd, tNow + Math.max(0, now - last) / 1000 * rate);
    last = now;
    var i = Math.max(0, lowerBound(t + 1) - 1);
    // Keep the cursor in view between records too.
    if (t > w1) { var span = w1 - w0; w0 = t - span * 0.1; w1 = w0 + span; }
    if (i !== cursor) setCursor(i, true, t);
    else { tNow = t; render(); renderCluster(); }
    if (tNow >= tEnd) { pause(); return; }
    timer = requestAnimationFrame(tick);
  }
  function play() { if (playing) return; playing = true; last = performance.now(); playBtn.textContent = "❚❚ pause"; timer = requestAnimationFrame(tick); }
  function pause() { playing = false; if (timer) cancelAnimationFrame(timer); playBtn.textContent = "▶ play"; }

  document.getElementById("btn-fwd").addEventListener("click", function () { setCursor(cursor + 1, true); });
  document.getElementById("btn-back").addEventListener("click", function () { setCursor(cursor - 1, true); });
  playBtn.addEventListener("click", function () { if (playing) pause(); else play(); });
  document.getElementById("btn-zoom-in").addEventListener("click", function () { zoom(0.5); });
  document.getElementById("btn-zoom-out").addEventListener("click", function () { zoom(2); });
  document.getElementById("btn-fit").addEventListener("click", fit);
  var vbtn = document.getElementById("btn-violation");
  vbtn.disabled = violationIdx < 0 && !culprits.length;
  vbtn.addEventListener("click", jumpToViolation);
  document.getElementById("jump-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var us = parseTime(document.getElementById("jump-time").value);
    if (us === null) { notice.textContent = "jump to time: write 1.5s, 1500ms or microseconds"; return; }
    jumpToTime(us);
  });
  document.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "SELECT")) return;
    if (e.key === "ArrowRight") { setCursor(cursor + 1, true); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { setCursor(cursor - 1, true); e.preventDefault(); }
    else if (e.key === " ") { if (playing) pause(); else play(); e.preventDefault(); }
    else if (e.key === "+" || e.key === "=") zoom(0.5);
    else if (e.key === "-") zoom(2);
    else if (e.key === "0") fit();
    else if (e.key === "v" || e.key === "V") jumpToViolation();
  });

  // Tooltips for arrows, markers and operations are written when the pointer first reaches
  // them, so a drawing costs one element per thing drawn.
  function tooltip(i) {
    var e = R[i][2];
    var text = describe(i);
    if (e === EV.deliver && msgs.get(R[i][5]).d.indexOf(i) > 0) text += "\nduplicate copy";
    if (e === EV.lost || e === EV.deliver) { var m = msgs.get(R[i][5]); if (m.s >= 0) text = describe(m.s) + "\n" + text; }
    if (e === EV.invoke) {
      var o = ops.get(R[i][5]);
      text = "op " + R[i][5] + " " + short(rest(i).request) + " -> " + (o && o.done >= 0 ? short(rest(o.done).outcome) : "no answer by the end");
    }
    if (e === EV.violation) text += "\n" + violationText;
    return text;
  }
  svg.addEventListener("mouseover", function (e) {
    var t = e.target;
    if (!t.getAttribute || t.getAttribute("data-i") === null || t.querySelector("title")) return;
    tip(t, tooltip(Number(t.getAttribute("data-i"))));
  });

  // Clicks select; drags pan; the wheel zooms around the pointer.
  var drag = null;
  svg.addEventListener("mousedown", function (e) { drag = { x: e.clientX, w0: w0, w1: w1, moved: false }; });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var dx = e.clientX - drag.x;
    if (Math.abs(dx) > 3) { drag.moved = true; svg.classList.add("dragging"); }
    if (!drag.moved) return;
    var dt = dx / (width - GUTTER - 10) * (drag.w1 - drag.w0);
    w0 = Math.max(0, drag.w0 - dt); w1 = w0 + (drag.w1 - drag.w0);
    render();
  });
  window.addEventListener("mouseup", function (e) {
    if (!drag) return;
    var moved = drag.moved;
    drag = null;
    svg.classList.remove("dragging");
    if (moved) return;
    var hit = e.target.closest ? e.target.closest("[data-i]") : null;
    if (hit) { setCursor(Number(hit.getAttribute("data-i")), false); return; }
    var rect = svg.getBoundingClientRect();
    var px = e.clientX - rect.left;
    if (e.target === svg || svg.contains(e.target)) {
      if (px > GUTTER) setCursor(Math.min(N - 1, lowerBound(tAt(px))), false);
    }
  });
  svg.addEventListener("wheel", function (e) {
    e.preventDefault();
    var rect = svg.getBoundingClientRect();
    zoom(e.deltaY > 0 ? 1.25 : 0.8, tAt(e.clientX - rect.left));
  }, { passive: false });
  window.addEventListener("resize", render);
  // Printing lays the page out anew (no side panel beside the diagram): redraw for its width.
  window.addEventListener("beforeprint", render);
  window.addEventListener("afterprint", render);
  if (window.matchMedia) {
    var printing = window.matchMedia("print");
    if (printing.addEventListener) printing.addEventListener("change", render);
  }

  // ---------------------------------------------------------------- caption

  function setText(id, text) { document.getElementById(id).textContent = text; }
  setText("title", "faultline: " + D.source + " seed " + D.seed);
  setText("description", D.description || "");
  // The run's records, as its summary counts them; the display records beside them.
  var counts = (summary.network ? summary.network.sent + " messages sent · " : "") + (N - displayCount) + " records" +
    (displayCount ? " (and " + displayCount + " of published state and timers)" : "");
  // The legend names the protocol's own role values, or says the protocol announces none.
  var roleLegend = document.getElementById("legend-roles");
  if (V.role === undefined) roleLegend.hidden = true;
  else {
    setText("legend-leading", LEADING.join(", ") || "(none declared)");
    setText("legend-contending", CONTENDING.join(", ") || "(none declared)");
    setText("legend-role-key", V.role);
    setText("legend-label-keys", [V.epoch, PROGRESS[0]].filter(function (k) { return k !== undefined; }).join(" and ") || "annotations");
  }
  setText("facts", "protocol " + D.protocol + " · " + D.nodes + " nodes · " + D.clients + " clients · seed " + D.seed + " · " + counts + " · virtual time " + fmtTime(tEnd));
  var vEl = document.getElementById("verdict");
  if (!verdict) { vEl.textContent = "incomplete trace: no summary line"; vEl.className = "other"; }
  else if (verdict.verdict === "pass") { vEl.textContent = "PASS: every check held"; vEl.className = "pass"; }
  else if (verdict.verdict === "fail") {
    vEl.textContent = "FAIL " + verdict.class + ": check " + verdict.check + " (" + verdict.kind + ") at step " + verdict.step + ", t=" + fmtTime(verdict.time) + (verdict.nodes && verdict.nodes.length ? ", nodes " + verdict.nodes.join(" ") : "");
    vEl.className = "fail";
  } else { vEl.textContent = verdict.verdict.toUpperCase() + ": " + (verdict.reason || ""); vEl.className = "other"; }
  var replay = D.reproduce || ("faultline run " + D.source + " --seed " + D.seed);
  setText("replay", replay);
  setText("viewcmd", replay + " --view " + (D.source.split("/").pop() || "run") + "-seed" + D.seed + ".html");
  if (violationText) {
    document.getElementById("violation-panel").hidden = false;
    setText("violation-text", violationText + (culprits.length ? "\n\n" + culprits.length + " operation(s) named here are outlined on the client lanes." : ""));
  }

  // ---------------------------------------------------------------- filters

  function refilter() { layout(); render(); renderCluster(); renderState(); }
  document.getElementById("filter-clients").addEventListener("change", function (e) { showClients = e.target.checked; refilter(); });
  function checkbox(parent, label, checked, onChange) {
    var lab = node("label");
    var box = node("input");
    box.type = "checkbox"; box.checked = checked;
    box.addEventListener("change", function () { onChange(box.checked); refilter(); });
    lab.appendChild(box);
    lab.appendChild(document.createTextNode(" " + label));
    parent.appendChild(lab);
    return box;
  }
  var filterNodes = document.getElementById("filter-nodes");
  lanes.forEach(function (name, l) {
    if (isClient(l)) return;
    checkbox(filterNodes, name, true, function (on) { hiddenLane[l] = !on; }).dataset.lane = name;
  });
  // Every message kind sent in the run, in first-sent order.
  var kinds = [];
  (function () {
    var seen = new Set();
    msgs.forEach(function (m) {
      if (m.s < 0 || seen.has(R[m.s][6])) return;
      seen.add(R[m.s][6]);
      var k = kindOfSend(m.s);
      if (kinds.indexOf(k) < 0) kinds.push(k);
    });
  })();
  var filterKinds = document.getElementById("filter-kinds");
  kinds.forEach(function (k) {
    var box = checkbox(filterKinds, k, true, function (on) { if (on) hiddenKind.delete(k); else hiddenKind.add(k); });
    box.dataset.kind = k;
    box.parentNode.style.color = kindColour(k);
  });
  if (!kinds.length) filterKinds.hidden = true;
  var clusterBox = document.getElementById("show-cluster");
  function setCluster(on) { clusterBox.checked = on; clusterWrap.hidden = !on; render(); renderCluster(); }
  clusterBox.addEventListener("change", function () { setCluster(clusterBox.checked); });
  document.addEventListener("keydown", function (e) {
    if (e.target && (e.target.tagName === "INPUT" || e.target.tagName === "SELECT")) return;
    if (e.key === "c" || e.key === "C") setCluster(!clusterBox.checked);
  });
  if (!logNames.length) document.getElementById("legend-logs").hidden = true;
  setText("legend-mark", markName);

  // ---------------------------------------------------------------- embedding

  // Inside the playground (an iframe), the page offers "what if here?" for the current record
  // and talks with its parent through postMessage (docs/viewer.md, "Embedding").
  var embedded = window.parent !== window;
  function post(msg) { msg.faultline = 1; window.parent.postMessage(msg, "*"); }
  // The pick for record i: a message (its send, with kind, ends and the 1-based count of
  // sends of that kind from that sender to that receiver up to this one) or a node point.
  function pickOf(i) {
    var e = R[i][2];
    var m = (e === EV.send || e === EV.deliver || e === EV.lost || e === EV.held) ? msgs.get(R[i][5]) : null;
    if (m && m.s >= 0) {
      var s = m.s, from = R[s][3], to = R[s][4], kind = kindOfSend(s), nth = 0;
      for (var k = 0; k <= s; k++) {
        if (R[k][2] === EV.send && R[k][3] === from && R[k][4] === to && kindOfSend(k) === kind) nth++;
      }
      return { type: "pick", kind: "message", step: R[s][0], t: T[s], lane: lanes[from], record: recordObj(s),
        msg_kind: kind, from: lanes[from], to: lanes[to], nth: nth };
    }
    var l = R[i][3] >= 0 ? R[i][3] : faultLane(i);
    return { type: "pick", kind: "node", step: R[i][0], t: T[i], lane: l >= 0 ? lanes[l] : null, record: recordObj(i) };
  }
  if (embedded) {
    document.getElementById("whatif").hidden = false;
    document.getElementById("btn-whatif").addEventListener("click", function () { if (N) post(pickOf(cursor)); });
    window.addEventListener("message", function (e) {
      if (e.source !== window.parent) return;
      var m = e.data;
      if (!m || m.faultline !== 1) return;
      if (m.type === "goto" && typeof m.step === "number") gotoStep(m.step);
      else if (m.type === "departure" && typeof m.step === "number") {
        departure = { step: m.step, t: typeof m.t === "number" ? m.t : 0 };
        var i = gotoStep(m.step);
        if (typeof m.t !== "number") departure.t = T[i];
        if (departure.t < w0 || departure.t > w1) frame(departure.t, 0.5);
        render();
      }
    });
  }

  // ---------------------------------------------------------------- opening

  if (violationIdx >= 0 || culprits.length) jumpToViolation();
  else {
    var lead = firstLeading();
    if (lead >= 0) { frame(T[lead], 0.65); setCursor(lead, false); }
    else { frame(0, 0); setCursor(0, false); }
  }
  document.body.dataset.rendered = "1";
  if (embedded) post({ type: "ready", records: N, steps: N ? R[N - 1][0] : 0, end_t: tEnd });
  window.faultlineViewer = {
    stepCount: N,
    renderMs: performance.now() - started,
    readyAt: performance.now(),
    nodes: NODES,
    lanes: lanes.slice(),
    vocabulary: V,
    // Role bands of a leading value, over the whole run.
    leadingSegments: leadingSegments,
    messagesSent: msgs.size,
    step: function (n) { setCursor(cursor + n, true); return cursor; },
    cursor: function () { return cursor; },
    violationIndex: violationIdx,
    culprits: culprits.length,
    jumpToViolation: jumpToViolation,
    // Shows virtual times a..b (microseconds), e.g. for a screenshot of one moment.
    showWindow: function (a, b) { w0 = Math.max(0, a); w1 = Math.max(w0 + 20, b); render(); },
    drawn: function () {
      return { arrows: stats.arrows, marks: stats.marks, ops: stats.ops, timers: stats.timers, inFlight: stats.inFlight, cells: stats.cells, fields: stats.fields };
    },
    // Published state and timers in the trace, message kinds and log names.
    hasState: hasState,
    logNames: logNames.slice(),
    firstEntryAt: firstEntryAt,
    firstCommitAt: firstCommitAt,
    kinds: kinds.slice(),
    timers: timersOf.reduce(function (n, ts) { return n + ts.length; }, 0),
    embedded: embedded,
    // The cursor's virtual time (it moves between records while playing), and the window.
    now: function () { return tNow; },
    window: function () { return [w0, w1]; },
    // Puts the cursor at virtual time t (microseconds) without moving the window.
    at: function (t) { t = Math.max(0, Math.min(t, tEnd)); setCursor(Math.max(0, lowerBound(t + 1) - 1), false, t); return tNow; },
    gotoStep: gotoStep,
    pick: function () { return pickOf(cursor); },
    // Puts the cursor on record i (0-based).
    select: function (i) { setCursor(i, true); return cursor; },
    // The first n messages delivered later than sent: their send records.
    sends: function (n) {
      var out = [];
      for (var k = 0; k < arrows.length && out.length < n; k++) if (arrows[k].kind === "ok" && T[arrows[k].e] > T[arrows[k].s] + 1) out.push(arrows[k].s);
      return out;
    },
    // Each down or paused span: {lane, kind, t0, t1}.
    gaps: function () { return gaps.map(function (g) { return { lane: lanes[g.lane], kind: g.kind, t0: g.t0, t1: g.t1 }; }); }
  };
})();
