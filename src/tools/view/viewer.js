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
    if (r[5] >= 0) o[isOp ? "op" : "id"] = r[5];
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
      case "sync": return o.node + " # sync " + o.ops + " ops";
      case "invoke": return o.client + " + invoke op " + o.op + " " + short(o.request);
      case "complete": return o.client + " - return op " + o.op + " " + short(o.outcome);
      case "phase": return "| phase " + o.phase;
      case "check": return "v " + o.check + " (" + o.kind + "): " + o.status;
      case "violation": return "!! FAIL " + o.check + " (" + o.kind + ", " + o.class + ")";
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
        break;
      case "pause":
        l = laneIndex(arg);
        if (l >= 0 && openPause[l] === undefined) openPause[l] = { lane: l, t0: t, kind: "paused", i0: i };
        break;
      case "resume":
        l = laneIndex(arg);
        if (openPause[l]) { openPause[l].t1 = t; gaps.push(openPause[l]); delete openPause[l]; }
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
          Object.keys(openPause).forEach(function (k) { openPause[k].t1 = t; gaps.push(openPause[k]); });
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
          if (segs.length) segs[segs.length - 1].t1 = T[i];
          segs.push({ t0: T[i], t1: tEnd, role: role, i0: i });
          if (isLeading(role)) leadingSegments++;
        }
        break;
      }
      case "start": {
        var sx = rest(i);
        if (sx.recover && openDown[r[3]]) { openDown[r[3]].t1 = T[i]; gaps.push(openDown[r[3]]); delete openDown[r[3]]; }
        break;
      }
      case "fault": onFault(i); break;
      case "invoke": ops.set(r[5], { inv: i, done: -1, lane: r[3] }); break;
      case "complete": { var op = ops.get(r[5]); if (op) op.done = i; break; }
      case "violation": violationIdx = i; break;
      default: break;
    }
  }
  Object.keys(openDown).forEach(function (k) { openDown[k].t1 = tEnd; gaps.push(openDown[k]); });
  Object.keys(openPause).forEach(function (k) { openPause[k].t1 = tEnd; gaps.push(openPause[k]); });
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
  var w0 = 0, w1 = tEnd;
  var playing = false;
  var selectedArrow = -1;

  function initialWindow() {
    if (N <= 3000) { w0 = 0; w1 = tEnd; return; }
    // A long run opens on its first 2,500 records (enough for a first election).
    var last = T[Math.min(N - 1, 2500)];
    w0 = 0; w1 = Math.max(last, 1000);
  }
  initialWindow();

  // The value of every note key of `lane` after record `upto` (inclusive; -1 for none).
  function stateAt(lane, upto) {
    var out = [];
    if (lane < 0 || !notes[lane]) return out;
    notes[lane].forEach(function (m, key) {
      var lo = 0, hi = m.idx.length;
      while (lo < hi) { var mid = (lo + hi) >> 1; if (m.idx[mid] <= upto) lo = mid + 1; else hi = mid; }
      out.push([key, lo > 0 ? m.val[lo - 1] : undefined]);
    });
    return out;
  }

  // One note key of `lane` after record `upto`, or undefined.
  function noteAt(lane, key, upto) {
    var m = notes[lane] && notes[lane].get(key);
    if (!m) return undefined;
    var lo = 0, hi = m.idx.length;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (m.idx[mid] <= upto) lo = mid + 1; else hi = mid; }
    return lo > 0 ? m.val[lo - 1] : undefined;
  }

  // ---------------------------------------------------------------- drawing

  var svg = document.getElementById("diagram");
  var GUTTER = 190, AXIS = 34, NODE_H = 46, CLIENT_H = 30;
  var laneY = [], laneH = [];
  var height = AXIS;
  lanes.forEach(function (name, l) {
    var h = l < NODES || name.charAt(0) === "n" ? NODE_H : CLIENT_H;
    laneY.push(height); laneH.push(h); height += h + 4;
  });
  height += 8;
  function mid(l) { return laneY[l] + laneH[l] / 2; }

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
      var client = l >= NODES && name.charAt(0) !== "n";
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
      if (g.t1 < w0 || g.t0 > w1) return;
      var x0 = clampX(x(g.t0)), x1 = clampX(x(g.t1));
      var r = tip(el("rect", { x: x0, y: laneY[g.lane], width: Math.max(2, x1 - x0), height: laneH[g.lane], class: g.kind + " hit", "data-i": g.i0 }, plot),
        lanes[g.lane] + " " + (g.kind === "down" ? "crashed" : "paused") + " from " + fmtTime(g.t0) + " to " + fmtTime(g.t1));
      if (x1 - x0 > 50) el("text", { x: x0 + 4, y: laneY[g.lane] + 12, class: "gap-label" }, plot, g.kind === "down" ? "crashed" : "paused");
      return r;
    });
    // Partitions: a band over every lane, and a strip per lane in its group's colour.
    parts.forEach(function (p) {
      if (p.t1 < w0 || p.t0 > w1) return;
      var x0 = clampX(x(p.t0)), x1 = clampX(x(p.t1));
      tip(el("rect", { x: x0, y: AXIS - 14, width: Math.max(2, x1 - x0), height: height - AXIS + 6, class: "part-band hit", "data-i": p.i0 }, plot),
        p.text + "\n" + p.strips.map(function (st) { return st.text; }).join("\n"));
      p.strips.forEach(function (s) {
        if (s.lane < 0) return;
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
      if (l < 0) return;
      var x0 = clampX(x(o.t0)), x1 = clampX(x(o.t1));
      var y = laneY[l] + 5;
      el("rect", { x: x0, y: y, width: Math.max(2, x1 - x0), height: laneH[l] - 10, class: "op hit " + o.kind + (o.culprit ? " " + o.culprit : ""), "data-i": o.inv }, plot);
      if (x1 - x0 > 40) el("text", { x: x0 + 2, y: y + laneH[l] / 2 + 2, class: "op-label" }, plot, compact(rest(o.inv).request).slice(0, Math.floor((x1 - x0) / 5.5)));
      stats.ops++;
    });

    // Message arrows in the window: sends from w0 - maxSpan on, filtered by end time.
    var a0 = arrowLowerBound(w0 - maxSpan), a1 = arrowLowerBound(w1 + 1);
    var vis = [];
    for (k = a0; k < a1; k++) if (T[arrows[k].e] >= w0 || arrows[k].kind === "lost") vis.push(k);
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

    // The cursor.
    if (N) {
      var cx = x(T[cursor]);
      if (cx >= GUTTER && cx <= width) {
        el("line", { x1: cx, x2: cx, y1: AXIS - 16, y2: height, class: "cursor" }, svg);
        var cl = R[cursor][3] >= 0 ? R[cursor][3] : faultLane(cursor);
        if (cl >= 0) el("circle", { cx: cx, cy: mid(cl), r: 5, class: "cursor-dot" }, svg);
      }
    }

    // Gutter: names and each node's state at the cursor; then the axis.
    el("rect", { x: 0, y: 0, width: GUTTER, height: height, class: "gutter" }, svg);
    lanes.forEach(function (name, l) {
      var grp = el("g", { class: "lane", "data-lane": name }, svg);
      el("text", { x: 8, y: laneY[l] + 15, class: "lane-name" }, grp, name);
      var st = stateAt(l, cursor).filter(function (kv) { return kv[1] !== undefined; });
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

  function setCursor(i, follow) {
    if (!N) return;
    cursor = Math.max(0, Math.min(N - 1, i));
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
    var span = w1 - w0;
    w0 = Math.max(0, us - span / 2); w1 = w0 + span;
    setCursor(i, false);
  }
  function jumpToViolation() {
    if (violationIdx < 0 && !culprits.length) return false;
    if (culprits.length) {
      var a = Infinity, b = 0;
      culprits.forEach(function (o) { a = Math.min(a, o.t0); b = Math.max(b, o.t1); });
      var pad = (b - a) * 0.08 + 1000;
      w0 = Math.max(0, a - pad); w1 = Math.max(b, violationIdx >= 0 ? T[violationIdx] : b) + pad;
    } else {
      var t = T[violationIdx];
      var span = Math.min(w1 - w0, tEnd);
      w0 = Math.max(0, t - span * 0.8); w1 = w0 + span;
    }
    setCursor(violationIdx >= 0 ? violationIdx : culprits[culprits.length - 1].inv, false);
    return true;
  }

  var timer = null, last = 0, carry = 0;
  var playBtn = document.getElementById("btn-play");
  function frame(now) {
    if (!playing) return;
    var rate = Number(document.getElementById("speed").value);
    carry += (now - last) / 1000 * rate; last = now;
    var n = Math.floor(carry);
    if (n > 0) { carry -= n; setCursor(cursor + n, true); }
    if (cursor >= N - 1) { pause(); return; }
    timer = requestAnimationFrame(frame);
  }
  function play() { if (playing) return; playing = true; last = performance.now(); carry = 0; playBtn.textContent = "❚❚ pause"; timer = requestAnimationFrame(frame); }
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
  var counts = (summary.network ? summary.network.sent + " messages sent · " : "") + N + " records";
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

  setCursor(0, false);
  document.body.dataset.rendered = "1";
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
    drawn: function () { return { arrows: stats.arrows, marks: stats.marks, ops: stats.ops }; }
  };
})();
