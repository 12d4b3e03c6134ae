(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('vre-data').textContent);
  var T = D.tasks, n = T.s.length, lanes = D.lanes;
  var tip = document.getElementById('tip');
  function fmt(x) { return x < 10 ? x.toFixed(2) + ' s' : x < 600 ? x.toFixed(1) + ' s' : (x / 60).toFixed(1) + ' min'; }
  function name(i) { return T.idx[i] < 0 ? 'audio' : 'chunk ' + T.idx[i]; }
  function fps(i) { return T.fr[i] / Math.max(T.enc[i], 1e-9); }
  function canvas(cv, w, h) {
    var r = window.devicePixelRatio || 1;
    cv.width = Math.round(w * r); cv.height = Math.round(h * r);
    cv.style.width = w + 'px'; cv.style.height = h + 'px';
    var g = cv.getContext('2d'); g.setTransform(r, 0, 0, r, 0, 0); g.clearRect(0, 0, w, h);
    return g;
  }
  function step(span, px, gap) {
    var want = span * gap / Math.max(px, 1), p = Math.pow(10, Math.floor(Math.log10(want)));
    var ms = [1, 2, 5, 10];
    for (var j = 0; j < ms.length; j++) if (ms[j] * p >= want) return ms[j] * p;
    return 10 * p;
  }
  function showTip(ev, text) {
    tip.textContent = text; tip.hidden = false;
    var x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + tip.offsetWidth > window.innerWidth - 4) x = ev.clientX - tip.offsetWidth - 10;
    if (y + tip.offsetHeight > window.innerHeight - 4) y = ev.clientY - tip.offsetHeight - 10;
    tip.style.left = x + 'px'; tip.style.top = y + 'px';
  }
  function hideTip() { tip.hidden = true; }

  // ---- Timeline: one lane per worker, bars from started_at to finished_at. ----
  var gwrap = document.getElementById('gantt'), gc = document.getElementById('gantt-canvas');
  var LABEL = 180, AXIS = 24, GAP = 8, RIGHT = 10;
  var rows = 0; lanes.forEach(function (l) { rows += l.rows; });
  var rowH = Math.max(3, Math.min(24, Math.floor(440 / Math.max(rows, 1))));
  var laneY = [], y = AXIS;
  lanes.forEach(function (l) { laneY.push(y); y += l.rows * rowH + GAP; });
  var GH = Math.max(y + 4, 60), view = [0, D.span], hatch = null;
  function audioFill(g) {
    if (!hatch) {
      var c = document.createElement('canvas'); c.width = 8; c.height = 8;
      var p = c.getContext('2d'); p.fillStyle = '#e8891c'; p.fillRect(0, 0, 8, 8);
      p.strokeStyle = '#f8d2a4'; p.lineWidth = 2;
      p.beginPath(); p.moveTo(-2, 2); p.lineTo(2, -2); p.moveTo(0, 8); p.lineTo(8, 0); p.moveTo(6, 10); p.lineTo(10, 6); p.stroke();
      hatch = c;
    }
    return g.createPattern(hatch, 'repeat');
  }
  function drawGantt() {
    var W = Math.max(gwrap.clientWidth, 300), pw = W - LABEL - RIGHT, g = canvas(gc, W, GH);
    var a = view[0], b = view[1], k = pw / Math.max(b - a, 1e-9);
    g.font = '11px system-ui, sans-serif'; g.textBaseline = 'middle';
    var st = step(b - a, pw, 90);
    g.strokeStyle = '#e6eaf0'; g.fillStyle = '#6b7585'; g.lineWidth = 1;
    for (var t = Math.ceil(a / st) * st; t <= b + 1e-9; t += st) {
      var x = Math.round(LABEL + (t - a) * k) + 0.5;
      g.beginPath(); g.moveTo(x, AXIS - 4); g.lineTo(x, GH); g.stroke();
      var digits = st < 1 ? Math.min(3, Math.ceil(-Math.log10(st))) : 0;
      g.textAlign = 'center'; g.fillText(t.toFixed(digits) + ' s', x, 10);
    }
    g.textAlign = 'left';
    lanes.forEach(function (l, i) {
      var h = l.rows * rowH;
      g.fillStyle = i % 2 ? '#fafbfd' : '#f2f5f9'; g.fillRect(LABEL, laneY[i], pw, h);
      g.fillStyle = '#1d2430';
      var label = l.label.length > 26 ? l.label.slice(0, 12) + '\u2026' + l.label.slice(-13) : l.label;
      g.fillText(label, 4, laneY[i] + Math.min(h, 2 * rowH) / 2);
      if (h >= 28) { g.fillStyle = '#6b7585'; g.fillText(l.tasks + ' tasks', 4, laneY[i] + Math.min(h, 2 * rowH) / 2 + 13); }
    });
    var audio = audioFill(g), drawn = 0;
    g.save(); g.beginPath(); g.rect(LABEL, 0, pw, GH); g.clip();
    for (var i = 0; i < n; i++) {
      var s = T.s[i], e = T.e[i];
      if (e < a || s > b) continue;
      var x0 = LABEL + (s - a) * k, w = Math.max((e - s) * k, 1);
      if (w > 4) w -= 1;
      var top = laneY[T.lane[i]] + T.row[i] * rowH, bh = Math.max(rowH - (rowH > 6 ? 2 : 1), 1);
      g.fillStyle = T.idx[i] < 0 ? audio : (T.idx[i] % 2 ? '#6aa1e6' : '#3f7fd0');
      g.fillRect(x0, top + (rowH > 6 ? 1 : 0), w, bh);
      if (w > 42 && rowH >= 14) {
        g.fillStyle = T.idx[i] < 0 ? '#5a3000' : '#fff';
        g.fillText(T.idx[i] < 0 ? 'audio' : String(T.idx[i]), x0 + 4, top + rowH / 2);
      }
      drawn++;
    }
    g.restore();
    if (n === 0) { g.fillStyle = '#6b7585'; g.fillText('no task published yet', LABEL + 8, AXIS + 12); }
    gwrap.dataset.bars = String(drawn);
  }
  function ganttHit(ev) {
    var r = gc.getBoundingClientRect(), px = ev.clientX - r.left, py = ev.clientY - r.top;
    if (px < LABEL) return -1;
    var pw = r.width - LABEL - RIGHT, k = pw / Math.max(view[1] - view[0], 1e-9), t = view[0] + (px - LABEL) / k, slack = 2 / k;
    for (var l = 0; l < lanes.length; l++) {
      var row = Math.floor((py - laneY[l]) / rowH);
      if (row < 0 || row >= lanes[l].rows) continue;
      var best = -1, dist = Infinity;
      for (var i = 0; i < n; i++) {
        if (T.lane[i] !== l || T.row[i] !== row || T.s[i] - slack > t || T.e[i] + slack < t) continue;
        var d = Math.abs((T.s[i] + T.e[i]) / 2 - t);
        if (d < dist) { dist = d; best = i; }
      }
      return best;
    }
    return -1;
  }
  var drag = null;
  gc.addEventListener('mousedown', function (ev) { drag = { x: ev.clientX, view: view.slice() }; });
  window.addEventListener('mouseup', function () { drag = null; });
  gc.addEventListener('mousemove', function (ev) {
    if (drag) {
      var pw = gc.getBoundingClientRect().width - LABEL - RIGHT, span = drag.view[1] - drag.view[0];
      var dt = -(ev.clientX - drag.x) * span / Math.max(pw, 1);
      dt = Math.max(-drag.view[0], Math.min(D.span - drag.view[1], dt));
      view = [drag.view[0] + dt, drag.view[1] + dt]; drawGantt(); hideTip(); return;
    }
    var i = ganttHit(ev);
    if (i < 0) { hideTip(); return; }
    var text = name(i) + '  \u00b7  ' + lanes[T.lane[i]].label + '\n' + 'start +' + fmt(T.s[i]) + ', end +' + fmt(T.e[i]) +
      '\nrendered in ' + fmt(T.enc[i]) + (T.idx[i] < 0 ? '' : ', ' + T.fr[i] + ' frames, ' + fps(i).toFixed(1) + ' frames/s');
    showTip(ev, text);
  });
  gc.addEventListener('mouseleave', hideTip);
  gc.addEventListener('wheel', function (ev) {
    ev.preventDefault();
    var r = gc.getBoundingClientRect(), pw = r.width - LABEL - RIGHT;
    var f = Math.min(Math.max((ev.clientX - r.left - LABEL) / Math.max(pw, 1), 0), 1);
    var span = view[1] - view[0], t = view[0] + f * span;
    var ns = Math.min(D.span, Math.max(span * Math.pow(1.0015, ev.deltaY), D.span / 20000, 1e-3));
    var a = Math.max(0, Math.min(t - f * ns, D.span - ns));
    view = [a, a + ns]; drawGantt();
  }, { passive: false });
  gc.addEventListener('dblclick', function () { view = [0, D.span]; drawGantt(); });

  // ---- Encode speed: frames / encode_seconds per chunk, by chunk index. ----
  var swrap = document.getElementById('speed'), sc = document.getElementById('speed-canvas');
  var byChunk = new Int32Array(D.chunks).fill(-1), top = 0, speeds = [];
  for (var i = 0; i < n; i++) if (T.idx[i] >= 0) { byChunk[T.idx[i]] = i; top = Math.max(top, fps(i)); speeds.push(fps(i)); }
  speeds.sort(function (p, q) { return p - q; });
  var SH = 200, SL = 56, SB = 22;
  function drawSpeed() {
    var W = Math.max(swrap.clientWidth, 300), pw = W - SL - RIGHT, ph = SH - SB - 8, g = canvas(sc, W, SH);
    g.font = '11px system-ui, sans-serif'; g.textBaseline = 'middle';
    var max = top > 0 ? top * 1.1 : 1, st = step(max, ph, 36);
    g.strokeStyle = '#e6eaf0'; g.fillStyle = '#6b7585'; g.textAlign = 'right';
    for (var v = 0; v <= max + 1e-9; v += st) {
      var yy = Math.round(8 + ph - v / max * ph) + 0.5;
      g.beginPath(); g.moveTo(SL, yy); g.lineTo(SL + pw, yy); g.stroke(); g.fillText(v.toFixed(st < 1 ? 1 : 0), SL - 6, yy);
    }
    g.save(); g.translate(12, 8 + ph / 2); g.rotate(-Math.PI / 2); g.textAlign = 'center'; g.fillText('frames/s', 0, 0); g.restore();
    var bw = pw / Math.max(D.chunks, 1), cstep = step(D.chunks, pw, 70);
    g.textAlign = 'center';
    for (var c = 0; c < D.chunks; c += Math.max(1, cstep)) g.fillText(String(c), SL + (c + 0.5) * bw, SH - 10);
    for (var j = 0; j < D.chunks; j++) {
      var ti = byChunk[j];
      if (ti < 0) continue;
      var h = fps(ti) / max * ph;
      g.fillStyle = j % 2 ? '#6aa1e6' : '#3f7fd0';
      g.fillRect(SL + j * bw + (bw > 4 ? 1 : 0), 8 + ph - h, Math.max(bw - (bw > 4 ? 2 : 0), 1), Math.max(h, 1));
    }
    if (speeds.length) {
      var med = speeds[Math.floor(speeds.length / 2)], my = Math.round(8 + ph - med / max * ph) + 0.5;
      g.strokeStyle = '#c0392b'; g.setLineDash([5, 4]); g.beginPath(); g.moveTo(SL, my); g.lineTo(SL + pw, my); g.stroke(); g.setLineDash([]);
      g.fillStyle = '#c0392b'; g.textAlign = 'right'; g.fillText('median ' + med.toFixed(1), SL + pw - 2, my - 8);
    } else {
      g.fillStyle = '#6b7585'; g.textAlign = 'left'; g.fillText('no chunk published yet', SL + 8, 20);
    }
  }
  sc.addEventListener('mousemove', function (ev) {
    var r = sc.getBoundingClientRect(), pw = r.width - SL - RIGHT;
    var c = Math.floor((ev.clientX - r.left - SL) / (pw / Math.max(D.chunks, 1)));
    if (c < 0 || c >= D.chunks) { hideTip(); return; }
    var i = byChunk[c];
    showTip(ev, i < 0 ? 'chunk ' + c + ': not published' :
      'chunk ' + c + ': ' + fps(i).toFixed(1) + ' frames/s\n' + T.fr[i] + ' frames in ' + fmt(T.enc[i]) + '\n' + lanes[T.lane[i]].label);
  });
  sc.addEventListener('mouseleave', hideTip);

  // ---- Per-task table, built when opened. ----
  var details = document.getElementById('chunk-table');
  details.addEventListener('toggle', function () {
    var box = document.getElementById('chunk-rows');
    if (!details.open || box.firstChild) return;
    var order = []; for (var i = 0; i < n; i++) order.push(i);
    order.sort(function (p, q) { return T.idx[p] - T.idx[q]; });
    var table = document.createElement('table'), head = table.insertRow();
    ['task', 'frames', 'encode', 'frames/s', 'start', 'end', 'worker'].forEach(function (h) {
      var th = document.createElement('th'); th.textContent = h; head.appendChild(th);
    });
    order.forEach(function (i) {
      var row = table.insertRow();
      [name(i), T.idx[i] < 0 ? '' : T.fr[i], fmt(T.enc[i]), T.idx[i] < 0 ? '' : fps(i).toFixed(1), '+' + fmt(T.s[i]), '+' + fmt(T.e[i]), lanes[T.lane[i]].label]
        .forEach(function (v) { row.insertCell().textContent = v; });
    });
    box.appendChild(table);
  });

  drawGantt(); drawSpeed();
  var pending = false;
  window.addEventListener('resize', function () {
    if (pending) return; pending = true;
    setTimeout(function () { pending = false; drawGantt(); drawSpeed(); }, 100);
  });
})();
