// The charger page: its connectors with live status, a status timeline, a meter chart
// (measurand, range, bucket and aggregate chosen by the user, from the history API's
// buckets), its sessions, and the command panel (commands.js) for roles that may send them.
"use strict";
(function () {
  const OC = window.OC;

  OC.measurands = [
    "Power.Active.Import", "Energy.Active.Import.Register", "Current.Import", "Voltage", "SoC", "Temperature",
    "Frequency", "Power.Offered", "Current.Offered", "Power.Factor",
  ];
  OC.ranges = [
    ["15m", "Last 15 minutes", 15 * 60], ["1h", "Last hour", 3600], ["6h", "Last 6 hours", 6 * 3600],
    ["24h", "Last 24 hours", 86400], ["7d", "Last 7 days", 7 * 86400],
  ];
  OC.buckets = ["10s", "30s", "1m", "5m", "15m", "1h", "1d"];
  OC.aggregates = ["avg", "max", "min", "last", "first", "sum", "count"];

  /** A labelled <select>. */
  OC.select = function (id, label, options, selected) {
    const select = OC.el("select", { id: id });
    options.forEach(function (option) {
      const value = Array.isArray(option) ? option[0] : option;
      select.appendChild(OC.el("option", { value: value, selected: value === selected }, Array.isArray(option) ? option[1] : option));
    });
    return { field: OC.el("div", { class: "field" }, OC.el("label", { for: id }, label), select), select: select };
  };

  /**
   * Groups bucket rows into chart series, one per connector, phase and location. A series of
   * the store is also told apart by context (Sample.Periodic, Transaction.Begin, ...) and
   * format: their buckets at one time are folded into one point by the aggregate (the
   * average weighted by count; min, max, sum; first and last take the first and last row).
   */
  OC.bucketSeries = function (items, aggregate) {
    const groups = new Map();
    items.forEach(function (item) {
      if (typeof item.value !== "number") return;
      const name = "Connector " + item.connector_id + (item.phase ? " " + item.phase : "") +
        (item.location && item.location !== "Outlet" ? " (" + item.location + ")" : "");
      if (!groups.has(name)) groups.set(name, { name: name, unit: item.unit, byTime: new Map() });
      const t = new Date(item.bucket_start || item.timestamp).getTime();
      const byTime = groups.get(name).byTime;
      const point = byTime.get(t);
      const count = item.count || 1;
      if (!point) { byTime.set(t, { t: t, v: item.value, count: count }); return; }
      if (aggregate === "avg") point.v = (point.v * point.count + item.value * count) / (point.count + count);
      else if (aggregate === "min") point.v = Math.min(point.v, item.value);
      else if (aggregate === "max") point.v = Math.max(point.v, item.value);
      else if (aggregate === "sum" || aggregate === "count") point.v += item.value;
      else if (aggregate === "last") point.v = item.value;
      point.count += count;
    });
    return Array.from(groups.values()).map(function (group) {
      const points = Array.from(group.byTime.values()).sort(function (a, b) { return a.t - b.t; });
      return { name: group.name, unit: group.unit, points: points };
    });
  };

  OC.chargerPage = async function (view, id) {
    const charger = await OC.api("/db/chargers/" + encodeURIComponent(id));
    const cpid = charger.charge_point_id;
    document.title = cpid + " – ocpp-server console";
    const connectors = new Map();
    let stream = null;
    let connected = null;
    try {
      connected = (await OC.list("/charge_points")).find(function (p) { return p.charge_point_id === cpid; }) || null;
    } catch (error) { connected = null; }

    const live = OC.el("span", { class: "live", id: "charger-live", "data-state": "connecting" }, "Connecting to live updates…");
    const connectorHost = OC.el("div", { id: "charger-connectors" });
    const timeline = OC.el("ol", { class: "timeline", id: "charger-timeline", "aria-label": "Status changes, newest first" });
    const chartHost = OC.el("div", { id: "charger-chart" });
    const chartError = OC.el("div", { id: "charger-chart-error" });
    const sessionsHost = OC.el("div", { id: "charger-sessions" }, OC.el("p", {}, "Loading sessions…"));
    const commandsHost = OC.el("section", { id: "charger-commands", "aria-labelledby": "commands-title" });

    const measurand = OC.select("chart-measurand", "Measurand", OC.measurands, "Power.Active.Import");
    const range = OC.select("chart-range", "Range", OC.ranges.map(function (r) { return [r[0], r[1]]; }), "1h");
    const bucket = OC.select("chart-bucket", "Bucket", OC.buckets, "1m");
    const aggregate = OC.select("chart-agg", "Aggregate", OC.aggregates, "avg");
    const refresh = OC.el("button", { type: "button", id: "chart-refresh" }, "Show");

    view.append(
      OC.el("p", {}, OC.el("a", { href: "#/fleet" }, "← Fleet")),
      OC.el("h1", {}, "Charger ", OC.el("span", { id: "charger-id" }, cpid)),
      OC.el("div", { class: "toolbar" }, live),
      OC.el("dl", { class: "facts" },
        OC.el("dt", {}, "Connection"), OC.el("dd", { id: "charger-connection", class: connected ? "conn-online" : "conn-offline" },
          connected ? "Connected since " + OC.formatTime(new Date(connected.connected_since)) : "Offline"),
        OC.el("dt", {}, "Registration"), OC.el("dd", {}, charger.registration_status),
        OC.el("dt", {}, "Vendor and model"), OC.el("dd", {}, [charger.vendor, charger.model].filter(Boolean).join(" ") || "–"),
        OC.el("dt", {}, "Firmware"), OC.el("dd", {}, charger.firmware_version || "–"),
        OC.el("dt", {}, "Last heartbeat"), OC.el("dd", {}, OC.time(charger.last_heartbeat_at)),
        OC.el("dt", {}, "Last boot"), OC.el("dd", {}, OC.time(charger.last_boot_at))),
      OC.el("div", { class: "grid" },
        OC.el("section", { class: "panel", "aria-labelledby": "connectors-title" },
          OC.el("h2", { id: "connectors-title" }, "Connectors"), connectorHost),
        OC.el("section", { class: "panel", "aria-labelledby": "timeline-title" },
          OC.el("h2", { id: "timeline-title" }, "Status timeline"), timeline)),
      commandsHost,
      OC.el("section", { "aria-labelledby": "meter-title" },
        OC.el("h2", { id: "meter-title" }, "Meter values"),
        OC.el("form", { class: "toolbar", id: "chart-form" }, measurand.field, range.field, bucket.field, aggregate.field, refresh),
        chartError, chartHost),
      OC.el("section", { "aria-labelledby": "sessions-title" },
        OC.el("h2", { id: "sessions-title" }, "Sessions"), sessionsHost));

    function renderConnectors() {
      const body = OC.el("tbody");
      Array.from(connectors.values()).sort(function (a, b) { return a.connector_id - b.connector_id; }).forEach(function (c) {
        body.appendChild(OC.el("tr", { "data-connector-id": c.connector_id, "data-status": c.status || "Unknown" },
          OC.el("th", { scope: "row" }, c.connector_id === 0 ? "0 (charger)" : String(c.connector_id)),
          OC.el("td", { class: "connector-status" }, OC.statusBadge(c.status)),
          OC.el("td", {}, c.error_code && c.error_code !== "NoError" ? c.error_code : "–"),
          OC.el("td", {}, [c.info, c.vendor_error_code].filter(Boolean).join(" ") || "–"),
          OC.el("td", {}, OC.time(c.status_at))));
      });
      connectorHost.textContent = "";
      connectorHost.appendChild(connectors.size === 0 ? OC.el("p", {}, "No connector has reported a status yet.") :
        OC.el("table", { id: "connectors-table" },
          OC.el("caption", {}, "Live status of each connector"),
          OC.el("thead", {}, OC.el("tr", {}, OC.el("th", { scope: "col" }, "Connector"), OC.el("th", { scope: "col" }, "Status"),
            OC.el("th", { scope: "col" }, "Error"), OC.el("th", { scope: "col" }, "Info"), OC.el("th", { scope: "col" }, "Since"))),
          body));
    }

    function timelineItem(row, prepend) {
      const status = row.value || row.status;
      const error = row.error_code && row.error_code !== "NoError" ? " (" + row.error_code + ")" : "";
      const item = OC.el("li", { "data-status": status }, OC.time(row.timestamp),
        OC.el("span", {}, "Connector " + row.connector_id + ": "), OC.statusBadge(status), error);
      if (prepend) timeline.insertBefore(item, timeline.firstChild); else timeline.appendChild(item);
      while (timeline.childNodes.length > 200) timeline.removeChild(timeline.lastChild);
    }

    async function loadChart() {
      const spec = OC.ranges.find(function (r) { return r[0] === range.select.value; });
      const to = new Date();
      const from = new Date(to.getTime() - spec[2] * 1000);
      const query = new URLSearchParams({
        measurand: measurand.select.value, from: from.toISOString(), to: to.toISOString(),
        bucket: bucket.select.value, agg: aggregate.select.value,
      });
      chartError.textContent = "";
      try {
        const page = await OC.api("/db/chargers/" + charger.id + "/meter-values?" + query.toString());
        const series = OC.bucketSeries(page.items, aggregate.select.value);
        const unit = series.length ? series[0].unit || "" : "";
        OC.lineChart(chartHost, {
          title: measurand.select.value + ", " + aggregate.select.value + " per " + bucket.select.value + ", " + spec[1].toLowerCase(),
          unit: unit, yLabel: measurand.select.value + (unit ? " (" + unit + ")" : ""), series: series,
          from: from.getTime(), to: to.getTime(),
          empty: "No " + measurand.select.value + " samples in this range.",
        });
      } catch (error) {
        chartHost.textContent = "";
        chartError.appendChild(OC.notice("The meter values could not be read: " + error.message, true));
      }
    }

    async function loadSessions() {
      const page = await OC.api("/db/charge_sessions/?charger_id=" + charger.id + "&sort=-start_time&limit=50");
      const body = OC.el("tbody");
      page.items.forEach(function (s) {
        body.appendChild(OC.el("tr", { "data-session-id": s.id },
          OC.el("th", { scope: "row" }, OC.el("a", { href: "#/sessions/" + s.id }, "Session " + s.id)),
          OC.el("td", { class: "num" }, s.connector_id), OC.el("td", {}, s.id_tag), OC.el("td", {}, OC.time(s.start_time)),
          OC.el("td", {}, s.stop_time ? OC.time(s.stop_time) : "active"),
          OC.el("td", { class: "num" }, s.energy_wh === null || s.energy_wh === undefined ? "–" : OC.number(s.energy_wh / 1000, 3)),
          OC.el("td", {}, s.status)));
      });
      sessionsHost.textContent = "";
      sessionsHost.appendChild(page.items.length === 0 ? OC.el("p", {}, "No sessions yet.") :
        OC.el("table", { id: "sessions-table" },
          OC.el("caption", {}, "The latest " + page.items.length + " of " + page.total + " sessions, newest first"),
          OC.el("thead", {}, OC.el("tr", {}, OC.el("th", { scope: "col" }, "Session"), OC.el("th", { scope: "col", class: "num" }, "Connector"),
            OC.el("th", { scope: "col" }, "Id tag"), OC.el("th", { scope: "col" }, "Started"), OC.el("th", { scope: "col" }, "Stopped"),
            OC.el("th", { scope: "col", class: "num" }, "Energy (kWh)"), OC.el("th", { scope: "col" }, "Status"))),
          body));
    }

    document.getElementById("chart-form").addEventListener("submit", function (event) { event.preventDefault(); loadChart(); });
    [measurand, range, bucket, aggregate].forEach(function (s) { s.select.addEventListener("change", loadChart); });

    (await OC.list("/db/connectors/?charger_id=" + charger.id)).forEach(function (c) { connectors.set(c.connector_id, c); });
    renderConnectors();
    const history = await OC.api("/db/chargers/" + charger.id + "/status-history?order=desc&limit=50");
    history.items.forEach(function (row) { timelineItem(row, false); });
    if (history.items.length === 0) timeline.appendChild(OC.el("li", { class: "muted" }, "No status changes recorded."));
    OC.renderCommands(commandsHost, charger, Array.from(connectors.keys()));
    loadChart();
    loadSessions().catch(function (error) {
      sessionsHost.textContent = "";
      sessionsHost.appendChild(OC.notice("The sessions could not be read: " + error.message, true));
    });

    stream = OC.stream("/db/chargers/" + charger.id + "/meter-values/stream?kind=status", {
      event: function (type, data) {
        if (type !== "status") return;
        const current = connectors.get(data.connector_id) || { connector_id: data.connector_id };
        if ((current.status_at || "") > data.timestamp) return;
        current.status = data.value;
        current.status_at = data.timestamp;
        current.error_code = data.error_code;
        current.info = data.info;
        current.vendor_error_code = data.vendor_error_code;
        connectors.set(data.connector_id, current);
        renderConnectors();
        const placeholder = timeline.querySelector("li.muted");
        if (placeholder) placeholder.remove();
        timelineItem(data, true);
        OC.announce("Connector " + data.connector_id + " is now " + data.value);
        if (data.value === "Finishing" || data.value === "Available") loadSessions().catch(function () {});
      },
      state: function (value) {
        if (value === "live") { live.dataset.state = "live"; live.textContent = "Live"; }
        else if (value === "reconnecting") { live.dataset.state = "reconnecting"; live.textContent = "Reconnecting…"; }
        else if (value === "unavailable") { live.dataset.state = "polling"; live.textContent = "Live updates unavailable"; }
      },
    });
    return function () { if (stream) stream.close(); };
  };
})();
