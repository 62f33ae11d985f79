// Line charts drawn as SVG: time on x, a value on y, with axis labels, a text summary for
// screen readers (the SVG's title and description) and the data as a table on request.
"use strict";
(function () {
  const OC = window.OC;
  const svgNS = "http://www.w3.org/2000/svg";
  const colors = ["#0b5cad", "#b3261e", "#1a6b32", "#6b3fa0", "#8a5300", "#00707a"];
  let chartCount = 0;

  function svg(tag, attributes, text) {
    const element = document.createElementNS(svgNS, tag);
    for (const name in attributes) element.setAttribute(name, attributes[name]);
    if (text !== undefined) element.textContent = text;
    return element;
  }

  /** About `count` round steps covering [low, high]. */
  function ticks(low, high, count) {
    if (!(high > low)) return [low];
    const raw = (high - low) / count;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= raw; });
    const values = [];
    const top = Math.ceil(high / step - 1e-9) * step;
    for (let value = Math.ceil(low / step) * step; value <= top + step * 1e-9; value += step) values.push(value);
    return values;
  }

  const timeSteps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
    172800, 604800].map(function (seconds) { return seconds * 1000; });

  /** Round local times in [low, high], at most six of them. */
  function timeTicks(low, high) {
    const step = timeSteps.find(function (s) { return (high - low) / s <= 6; }) || timeSteps[timeSteps.length - 1];
    const offset = new Date(low).getTimezoneOffset() * 60000;
    const values = [];
    for (let t = Math.ceil((low - offset) / step) * step + offset; t <= high; t += step) values.push(t);
    return values;
  }

  function timeTick(ms, span) {
    const date = new Date(ms);
    const pad = function (n) { return String(n).padStart(2, "0"); };
    const clock = pad(date.getHours()) + ":" + pad(date.getMinutes());
    if (span < 5 * 60 * 1000) return clock + ":" + pad(date.getSeconds());
    if (span <= 36 * 3600 * 1000) return clock;
    return pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " + clock;
  }

  /**
   * Draws into `container` (emptied first). `options`: `title`, `unit`, `yLabel`, `xLabel`,
   * `series`: [{name, points: [{t: milliseconds, v: number}]}], `empty` (text when there is
   * no point), `from` and `to` (milliseconds: the time axis's range, by default the data's).
   * Returns the figure element.
   */
  OC.lineChart = function (container, options) {
    const id = "chart-" + (++chartCount);
    const width = 760, height = 280;
    const margin = { left: 70, right: 16, top: 14, bottom: 46 };
    const plotW = width - margin.left - margin.right, plotH = height - margin.top - margin.bottom;
    const series = (options.series || []).filter(function (s) { return s.points.length > 0; });
    const all = [].concat.apply([], series.map(function (s) { return s.points; }));
    container.textContent = "";
    const figure = OC.el("figure", { class: "chart", "data-points": String(all.length) });
    const root = svg("svg", {
      viewBox: "0 0 " + width + " " + height, role: "img", "aria-labelledby": id + "-title " + id + "-desc",
    });
    root.appendChild(svg("title", { id: id + "-title" }, options.title));
    let summary;
    if (all.length === 0) {
      summary = options.empty || "No data in this range.";
      root.appendChild(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle", class: "empty" }, summary));
    } else {
      // The time axis spans the range asked for (options.from, options.to), or else the data's.
      let tMin = Math.min.apply(null, all.map(function (p) { return p.t; }).concat(options.from ? [options.from] : []));
      let tMax = Math.max.apply(null, all.map(function (p) { return p.t; }).concat(options.to ? [options.to] : []));
      if (tMax === tMin) { tMin -= 30000; tMax += 30000; }
      let vMin = Math.min(0, Math.min.apply(null, all.map(function (p) { return p.v; })));
      let vMax = Math.max.apply(null, all.map(function (p) { return p.v; }));
      if (vMax === vMin) vMax = vMin + 1;
      const yTicks = ticks(vMin, vMax, 5);
      vMax = Math.max(vMax, yTicks[yTicks.length - 1]);
      const x = function (t) { return margin.left + (t - tMin) / (tMax - tMin) * plotW; };
      const y = function (v) { return margin.top + plotH - (v - vMin) / (vMax - vMin) * plotH; };
      const axis = svg("g", { class: "axis" });
      yTicks.forEach(function (value) {
        axis.appendChild(svg("line", { x1: margin.left, x2: margin.left + plotW, y1: y(value), y2: y(value), class: "gridline" }));
        axis.appendChild(svg("text", { x: margin.left - 6, y: y(value) + 4, "text-anchor": "end" }, OC.number(value, 2)));
      });
      const span = tMax - tMin;
      timeTicks(tMin, tMax).forEach(function (t) {
        axis.appendChild(svg("line", { x1: x(t), x2: x(t), y1: margin.top + plotH, y2: margin.top + plotH + 5 }));
        axis.appendChild(svg("text", { x: x(t), y: margin.top + plotH + 18, "text-anchor": "middle" }, timeTick(t, span)));
      });
      axis.appendChild(svg("path", { d: "M" + margin.left + " " + margin.top + "V" + (margin.top + plotH) + "H" + (margin.left + plotW), fill: "none" }));
      axis.appendChild(svg("text", { x: margin.left + plotW / 2, y: height - 6, "text-anchor": "middle" }, options.xLabel || "Time (local)"));
      axis.appendChild(svg("text", { x: 14, y: margin.top + plotH / 2, "text-anchor": "middle", transform: "rotate(-90 14 " + (margin.top + plotH / 2) + ")" }, options.yLabel || options.unit || ""));
      root.appendChild(axis);
      series.forEach(function (s, index) {
        const color = colors[index % colors.length];
        const d = s.points.map(function (p, i) { return (i ? "L" : "M") + x(p.t).toFixed(1) + " " + y(p.v).toFixed(1); }).join("");
        root.appendChild(svg("path", { d: d, class: "series", stroke: color }));
        if (s.points.length === 1) root.appendChild(svg("circle", { cx: x(s.points[0].t), cy: y(s.points[0].v), r: 3, fill: color }));
      });
      summary = series.map(function (s) {
        const values = s.points.map(function (p) { return p.v; });
        return s.name + ": " + s.points.length + " points from " + OC.formatTime(new Date(s.points[0].t)) + " to " +
          OC.formatTime(new Date(s.points[s.points.length - 1].t)) + ", min " + OC.number(Math.min.apply(null, values), 2) +
          ", max " + OC.number(Math.max.apply(null, values), 2) + ", last " + OC.number(values[values.length - 1], 2) +
          " " + (options.unit || "");
      }).join(". ");
    }
    summary = options.title + ". " + summary;
    root.insertBefore(svg("desc", { id: id + "-desc" }, summary), root.childNodes[1]);
    figure.appendChild(root);
    if (series.length > 1) {
      const legend = OC.el("ul", { class: "counts", "aria-label": "Legend" });
      series.forEach(function (s, index) {
        const swatch = OC.el("span", { "aria-hidden": "true" }, "\u25A0 ");
        swatch.style.color = colors[index % colors.length];
        legend.appendChild(OC.el("li", {}, swatch, s.name));
      });
      figure.appendChild(legend);
    }
    figure.appendChild(OC.el("figcaption", { class: "muted" }, summary));
    if (all.length > 0) {
      const table = OC.el("table", {},
        OC.el("caption", {}, options.title + " (" + (options.unit || "") + ")"),
        OC.el("thead", {}, OC.el("tr", {},
          OC.el("th", { scope: "col" }, "Time"), OC.el("th", { scope: "col" }, "Series"),
          OC.el("th", { scope: "col", class: "num" }, "Value"))));
      const body = OC.el("tbody");
      series.forEach(function (s) {
        s.points.forEach(function (p) {
          body.appendChild(OC.el("tr", {}, OC.el("td", {}, OC.formatTime(new Date(p.t))), OC.el("td", {}, s.name),
            OC.el("td", { class: "num" }, OC.number(p.v, 3))));
        });
      });
      table.appendChild(body);
      figure.appendChild(OC.el("details", { class: "data" }, OC.el("summary", {}, "Show the data as a table"), table));
    }
    container.appendChild(figure);
    return figure;
  };
})();
