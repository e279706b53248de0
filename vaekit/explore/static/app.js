// vaekit explorer page: fetches JSON from this server only and draws with canvas, SVG and <img>.
// Data kinds are drawn by the view script the server names (window.vaekitViews[kind].draw).
(function () {
  "use strict";
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#c7c7c7", "#dbdb8d", "#9edae5"];
  const $ = (id) => document.getElementById(id);
  const state = {
    info: null, map: null, view: null, mode: "decode", z: null, current: null, a: null, b: null,
    hover: -1, examples: new Map(), decodeBusy: false, decodePending: false, bounds: null,
  };

  function setStatus(text, error) {
    const status = $("status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(error));
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    };
    const response = await fetch(path, options);
    if (!response.ok) {
      let detail = response.statusText;
      try { detail = (await response.json()).detail; } catch (_) { /* not JSON */ }
      throw new Error(typeof detail === "string" ? detail : JSON.stringify(detail));
    }
    return response.json();
  }

  function loadScript(name) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/" + encodeURIComponent(name);
      script.onload = resolve;
      script.onerror = () => reject(new Error("cannot load the view script " + name));
      document.head.append(script);
    });
  }

  function draw(element, payload) {
    state.view.draw(element, payload, state.info.view);
  }

  function chosenLabel() {
    if (!state.info.conditional) return null;
    return Number($("class-select").value);
  }

  // ------------------------------------------------------------------ map
  function colourOf(i) {
    const m = state.map;
    if (m.labels) return PALETTE[m.labels[i] % PALETTE.length];
    if (m.scores) {
      const t = (m.scores[i] - state.scoreLow) / (state.scoreHigh - state.scoreLow || 1);
      return `hsl(${(240 - 240 * Math.min(1, Math.max(0, t))).toFixed(0)}, 75%, 45%)`;
    }
    return PALETTE[0];
  }

  function computeBounds() {
    const m = state.map;
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;  // a loop: spreading 100k values overflows
    for (let i = 0; i < m.x.length; i++) {
      x0 = Math.min(x0, m.x[i]); x1 = Math.max(x1, m.x[i]); y0 = Math.min(y0, m.y[i]); y1 = Math.max(y1, m.y[i]);
    }
    if (x1 - x0 < 1e-9) { x0 -= 1; x1 += 1; }
    if (y1 - y0 < 1e-9) { y0 -= 1; y1 += 1; }
    const px = 0.08 * (x1 - x0), py = 0.08 * (y1 - y0);
    state.bounds = { x0: x0 - px, x1: x1 + px, y0: y0 - py, y1: y1 + py };
    Object.assign($("map").dataset, state.bounds);  // the map's extent, for tests and tools
    if (m.scores) {
      const sorted = [...m.scores].sort((p, q) => p - q);
      state.scoreLow = sorted[Math.floor(0.02 * (sorted.length - 1))];
      state.scoreHigh = sorted[Math.floor(0.98 * (sorted.length - 1))];
    }
  }

  function toCanvas(x, y) {
    const c = $("map"), b = state.bounds;
    return [(x - b.x0) / (b.x1 - b.x0) * c.width, (1 - (y - b.y0) / (b.y1 - b.y0)) * c.height];
  }

  function fromCanvas(cx, cy) {
    const c = $("map"), b = state.bounds;
    return [b.x0 + cx / c.width * (b.x1 - b.x0), b.y0 + (1 - cy / c.height) * (b.y1 - b.y0)];
  }

  function eventPosition(event) {
    const c = $("map"), rect = c.getBoundingClientRect();
    return [(event.clientX - rect.left) * c.width / rect.width, (event.clientY - rect.top) * c.height / rect.height];
  }

  function marker(ctx, x, y, text, colour) {
    const [cx, cy] = toCanvas(x, y);
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.arc(cx, cy, 7, 0, 2 * Math.PI); ctx.stroke();
    if (text) { ctx.font = "bold 12px sans-serif"; ctx.fillText(text, cx + 9, cy - 7); }
  }

  function drawMap() {
    const c = $("map"), ctx = c.getContext("2d"), m = state.map;
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.strokeStyle = "#e5e7eb"; ctx.lineWidth = 1;
    const [ox, oy] = toCanvas(0, 0);
    ctx.beginPath(); ctx.moveTo(0, oy); ctx.lineTo(c.width, oy); ctx.moveTo(ox, 0); ctx.lineTo(ox, c.height); ctx.stroke();
    ctx.globalAlpha = 0.75;
    for (let i = 0; i < m.x.length; i++) {
      const [cx, cy] = toCanvas(m.x[i], m.y[i]);
      ctx.fillStyle = colourOf(i);
      ctx.fillRect(cx - 2, cy - 2, 4, 4);
    }
    ctx.globalAlpha = 1;
    ctx.fillStyle = "#6b7280"; ctx.font = "12px sans-serif";
    ctx.fillText(m.axes[0] + " →", c.width - 52, c.height - 6);
    ctx.fillText("↑ " + m.axes[1], 6, 14);
    if (state.hover >= 0) marker(ctx, m.x[state.hover], m.y[state.hover], "", "#111827");
    if (state.a !== null) marker(ctx, m.x[state.a], m.y[state.a], "A", "#059669");
    if (state.b !== null) marker(ctx, m.x[state.b], m.y[state.b], "B", "#dc2626");
    if (state.current) {
      const [cx, cy] = toCanvas(state.current[0], state.current[1]);
      ctx.strokeStyle = "#111827"; ctx.lineWidth = 2;
      ctx.beginPath(); ctx.moveTo(cx - 8, cy); ctx.lineTo(cx + 8, cy); ctx.moveTo(cx, cy - 8); ctx.lineTo(cx, cy + 8); ctx.stroke();
    }
  }

  function nearest(cx, cy, radius) {
    const m = state.map;
    let best = -1, bestD = radius * radius;
    for (let i = 0; i < m.x.length; i++) {
      const [px, py] = toCanvas(m.x[i], m.y[i]);
      const d = (px - cx) ** 2 + (py - cy) ** 2;
      if (d < bestD) { bestD = d; best = i; }
    }
    return best;
  }

  async function example(i) {
    if (!state.examples.has(i)) state.examples.set(i, api("/api/example/" + i));
    return state.examples.get(i);
  }

  function className(label) {
    const classes = state.info.classes;
    return classes && label !== null && label !== undefined ? classes[label] : "";
  }

  async function showTooltip(i, cx, cy) {
    const tip = $("tooltip"), c = $("map"), rect = c.getBoundingClientRect();
    const e = await example(i);
    if (state.hover !== i) return;
    tip.replaceChildren();
    const box = document.createElement("div");
    box.className = "view";
    draw(box, e.payload);
    const caption = document.createElement("div");
    let text = "#" + i;
    if (e.label !== null) text += " · " + className(e.label);
    if (e.score !== undefined) text += " · score " + e.score.toPrecision(4);
    caption.textContent = text;
    tip.append(box, caption);
    tip.style.left = Math.min(cx * rect.width / c.width + 12, rect.width - 100) + "px";
    tip.style.top = (cy * rect.height / c.height + 12) + "px";
    tip.classList.remove("hidden");
  }

  function onMove(event) {
    const [cx, cy] = eventPosition(event);
    const i = nearest(cx, cy, 8);
    if (i === state.hover) return;
    state.hover = i;
    drawMap();
    if (i < 0) { $("tooltip").classList.add("hidden"); return; }
    showTooltip(i, cx, cy).catch((error) => setStatus(error.message, true));
  }

  function setMode(mode) {
    state.mode = mode;
    for (const button of document.querySelectorAll(".mode")) button.classList.toggle("active", button.dataset.mode === mode);
  }

  async function onClick(event) {
    const [cx, cy] = eventPosition(event);
    try {
      if (state.mode === "decode") {
        const [x, y] = fromCanvas(cx, cy);
        const started = performance.now();
        const result = await api("/api/decode_point", { x, y, label: chosenLabel() });
        showDecoded(result, performance.now() - started);
        state.current = result.point;
        drawMap();
        return;
      }
      const i = nearest(cx, cy, 1e6);
      const e = await example(i);
      if (state.mode === "a") { state.a = i; draw($("pick-a"), e.payload); } else { state.b = i; draw($("pick-b"), e.payload); }
      setMode(state.mode === "a" && state.b === null ? "b" : "decode");
      $("interp-go").disabled = state.a === null || state.b === null;
      drawMap();
      if (state.a !== null && state.b !== null) await interpolate();
    } catch (error) { setStatus(error.message, true); }
  }

  // ------------------------------------------------------ decode + sliders
  function showDecoded(result, ms) {
    state.z = result.z;
    draw($("decoded"), result.payload);
    $("decoded").dataset.version = String((Number($("decoded").dataset.version) || 0) + 1);
    if (ms !== undefined) $("latency").textContent = `decoded in ${ms.toFixed(0)} ms`;
    syncSliders();
  }

  function syncSliders() {
    for (const input of document.querySelectorAll("#sliders input")) {
      const d = Number(input.dataset.dim);
      input.value = String(state.z[d]);
      input.nextElementSibling.value = state.z[d].toFixed(2);
    }
  }

  async function decodeCurrent() {
    if (state.decodeBusy) { state.decodePending = true; return; }
    state.decodeBusy = true;
    try {
      do {
        state.decodePending = false;
        const started = performance.now();
        const result = await api("/api/decode", { z: state.z, label: chosenLabel() });
        state.z = result.z;
        draw($("decoded"), result.payload);
        $("decoded").dataset.version = String((Number($("decoded").dataset.version) || 0) + 1);
        $("latency").textContent = `decoded in ${(performance.now() - started).toFixed(0)} ms`;
      } while (state.decodePending);
    } catch (error) { setStatus(error.message, true); }
    state.decodeBusy = false;
  }

  function buildSliders() {
    const box = $("sliders");
    box.replaceChildren();
    $("ranking").textContent = "(ranked by " + state.info.ranking + ")";
    for (const s of state.info.sliders) {
      const label = document.createElement("label");
      label.textContent = "z" + s.dim;
      label.htmlFor = "slider-" + s.dim;
      label.title = `${state.info.ranking}: ${s.score.toPrecision(3)}`;
      const input = document.createElement("input");
      Object.assign(input, { type: "range", id: "slider-" + s.dim, min: s.low, max: s.high, step: (s.high - s.low) / 400 });
      input.dataset.dim = String(s.dim);
      const output = document.createElement("output");
      input.addEventListener("input", () => {
        state.z[s.dim] = Number(input.value);
        output.value = Number(input.value).toFixed(2);
        decodeCurrent();
      });
      box.append(label, input, output);
    }
    syncSliders();
  }

  // ----------------------------------------------------------- generation
  async function interpolate() {
    const steps = Math.max(2, Math.min(state.info.limits.steps, Number($("interp-steps").value) || 8));
    const result = await api("/api/interpolate", {
      a: state.a, b: state.b, steps, method: $("interp-method").value, label: chosenLabel(),
    });
    const strip = $("strip");
    strip.replaceChildren();
    for (const payload of result.payloads) {
      const cell = document.createElement("div");
      cell.className = "view";
      draw(cell, payload);
      strip.append(cell);
    }
  }

  async function sample() {
    const n = Math.max(1, Math.min(state.info.limits.samples, Number($("sample-n").value) || 16));
    const result = await api("/api/samples", {
      n, temperature: Number($("temperature").value), label: chosenLabel(), seed: Math.floor(Math.random() * 1e6),
    });
    const grid = $("samples");
    grid.replaceChildren();
    for (const payload of result.payloads) {
      const cell = document.createElement("div");
      cell.className = "view";
      draw(cell, payload);
      grid.append(cell);
    }
  }

  // -------------------------------------------------------------- anomaly
  function drawHistogram(summary) {
    const c = $("histogram"), ctx = c.getContext("2d");
    const counts = summary.counts, edges = summary.edges;
    const lo = edges[0], hi = edges[edges.length - 1], top = Math.max(...counts, 1);
    const scale = summary.log ? Math.log : (v) => v;  // log-spaced bins when the scores span orders of magnitude
    const x = (v) => 30 + (scale(v) - scale(lo)) / (scale(hi) - scale(lo) || 1) * (c.width - 40);
    ctx.clearRect(0, 0, c.width, c.height);
    ctx.fillStyle = "#60a5fa";
    for (let k = 0; k < counts.length; k++) {
      const h = counts[k] / top * (c.height - 30);
      ctx.fillRect(x(edges[k]), c.height - 20 - h, Math.max(1, x(edges[k + 1]) - x(edges[k]) - 1), h);
    }
    const t = Math.min(c.width - 2, Math.max(30, x(summary.threshold)));
    ctx.strokeStyle = "#dc2626"; ctx.lineWidth = 2;
    ctx.beginPath(); ctx.moveTo(t, 4); ctx.lineTo(t, c.height - 20); ctx.stroke();
    ctx.fillStyle = "#374151"; ctx.font = "11px sans-serif";
    ctx.fillText(lo.toPrecision(4), 30, c.height - 6);
    ctx.fillText(hi.toPrecision(4), c.width - 60, c.height - 6);
    if (summary.log) ctx.fillText("log scale", c.width / 2 - 20, c.height - 6);
    if (summary.overflow) ctx.fillText(`+${summary.overflow} above ${hi.toPrecision(4)}`, c.width - 150, 28);
    ctx.fillStyle = "#dc2626";
    ctx.fillText("threshold " + summary.threshold.toPrecision(4), Math.min(t + 4, c.width - 110), 14);
  }

  async function explain(i) {
    const result = await api("/api/anomaly/explain/" + i);
    draw($("heat"), result.heat);
    $("heat-note").textContent = `example #${i}: score ${result.score.toPrecision(4)} (latent KL part ${result.remainder.toPrecision(3)})`;
  }

  async function loadAnomaly() {
    $("anomaly-panel").classList.remove("hidden");
    const summary = await api("/api/anomaly");
    $("anomaly-note").textContent = `${summary.score}; ${summary.flagged} of ${state.map.x.length} above the threshold`;
    drawHistogram(summary);
    const grid = $("top-anomalies");
    grid.replaceChildren();
    for (const item of summary.top) {
      const cell = document.createElement("div");
      cell.className = "clickable";
      const box = document.createElement("div");
      box.className = "view";
      draw(box, item.payload);
      const caption = document.createElement("div");
      caption.className = "caption";
      caption.textContent = `#${item.index}: ${item.score.toPrecision(4)}`;
      cell.append(box, caption);
      cell.addEventListener("click", () => explain(item.index).catch((error) => setStatus(error.message, true)));
      grid.append(cell);
    }
    if (summary.top.length) await explain(summary.top[0].index);
  }

  // ----------------------------------------------------------------- start
  function legend() {
    const box = $("legend");
    box.replaceChildren();
    if (!state.map.labels || !state.info.classes) return;
    state.info.classes.forEach((name, k) => {
      const item = document.createElement("span");
      const dot = document.createElement("i");
      dot.style.background = PALETTE[k % PALETTE.length];
      item.append(dot, document.createTextNode(name));
      box.append(item);
    });
  }

  async function start() {
    try {
      setStatus("loading…");
      state.info = await api("/api/info");
      const info = state.info;
      $("title").textContent = info.title;
      $("model-info").textContent = `${info.model}, ${info.latent_dim}-D latent, ${info.examples} examples, ${info.view.kind} view`;
      await loadScript(info.script);
      state.view = window.vaekitViews[info.view.kind];
      if (info.conditional && info.classes) {
        const select = $("class-select");
        info.classes.forEach((name, k) => select.append(new Option(name, String(k))));
        $("class-choice").classList.remove("hidden");
      }
      state.map = await api("/api/map");
      computeBounds();
      $("map-note").textContent = info.latent_dim > 2 ? `(PCA of ${info.latent_dim}-D posterior means)` : "(the latent itself)";
      legend();
      drawMap();
      state.z = info.start.slice();
      buildSliders();
      await decodeCurrent();
      $("sample-note").textContent = info.sample_note;
      $("sample-go").disabled = !info.can_sample;
      const map = $("map");
      map.addEventListener("mousemove", onMove);
      map.addEventListener("mouseleave", () => { state.hover = -1; $("tooltip").classList.add("hidden"); drawMap(); });
      map.addEventListener("click", onClick);
      for (const button of document.querySelectorAll(".mode")) button.addEventListener("click", () => setMode(button.dataset.mode));
      $("interp-go").addEventListener("click", () => interpolate().catch((error) => setStatus(error.message, true)));
      $("sample-go").addEventListener("click", () => sample().catch((error) => setStatus(error.message, true)));
      $("temperature").addEventListener("input", () => { $("temperature-value").value = Number($("temperature").value).toFixed(2); });
      $("class-select").addEventListener("change", () => decodeCurrent());
      if (info.anomaly) await loadAnomaly();
      if (info.can_sample) await sample();
      setStatus("ready");
      document.body.dataset.ready = "true";
    } catch (error) {
      setStatus(error.message, true);
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
