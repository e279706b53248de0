// The "table" view: a payload {values} (and {contributions} for anomaly maps) drawn as an SVG bar chart,
// one bar per feature against its training range, labelled with the value in the data's own units.
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  function el(name, attributes, text) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function format(v) {
    if (v === null || v === undefined) return "–";
    const a = Math.abs(v);
    return a !== 0 && (a >= 1e4 || a < 1e-3) ? v.toExponential(2) : v.toPrecision(4).replace(/\.?0+$/, "");
  }
  window.vaekitViews = window.vaekitViews || {};
  window.vaekitViews.table = {
    draw(element, payload, info) {
      element.replaceChildren();
      const columns = info.columns;
      const heat = Array.isArray(payload.contributions);
      const rowHeight = 16, labelWidth = 90, barWidth = 160, valueWidth = heat ? 140 : 70;
      const shown = Math.min(columns.length, 40);
      const svg = el("svg", {
        class: "bars", viewBox: `0 0 ${labelWidth + barWidth + valueWidth} ${shown * rowHeight + 4}`,
        role: "img", "aria-label": heat ? "contribution per feature" : "feature values",
      });
      const maxHeat = heat ? Math.max(1e-12, ...payload.contributions.map((c) => Math.abs(c || 0))) : 1;
      for (let j = 0; j < shown; j++) {
        const y = j * rowHeight + 2;
        const value = payload.values[j];
        svg.append(el("text", { x: labelWidth - 4, y: y + 11, "text-anchor": "end" }, columns[j]));
        svg.append(el("rect", { class: "track", x: labelWidth, y, width: barWidth, height: rowHeight - 3 }));
        let fraction;
        if (heat) {
          fraction = Math.max(0, (payload.contributions[j] || 0) / maxHeat);
        } else if (info.low && info.high && info.high[j] > info.low[j]) {
          fraction = (value - info.low[j]) / (info.high[j] - info.low[j]);
        } else {
          fraction = 0.5;
        }
        fraction = Math.min(1, Math.max(0, fraction || 0));
        svg.append(el("rect", {
          class: heat ? "bar heat" : "bar", x: labelWidth, y, width: (barWidth * fraction).toFixed(1), height: rowHeight - 3,
        }));
        const text = heat ? `${format(value)} (${format(payload.contributions[j])})` : format(value);
        svg.append(el("text", { x: labelWidth + barWidth + 4, y: y + 11 }, text));
      }
      const title = el("title", {}, heat ? "bar: contribution to the anomaly score; text: value (contribution)"
        : "bar: value within the training range; text: value in the data's units");
      svg.prepend(title);
      element.append(svg);
    },
  };
})();
