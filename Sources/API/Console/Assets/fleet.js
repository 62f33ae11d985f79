// The fleet page: every charger the token may see, with its connection, status and last
// contact, counts by status, search by id, faulted chargers first; live status changes
// from the fleet's status stream.
"use strict";
(function () {
  const OC = window.OC;
  /** Every status change of every charger the caller may see. */
  OC.fleetStreamPath = "/db/meter-values/stream?kind=status";

  /** The charger's status: Faulted when any connector is, else its latest StatusNotification's. */
  OC.chargerStatus = function (connectors) {
    if (connectors.some(function (c) { return c.status === "Faulted"; })) return "Faulted";
    let latest = null;
    connectors.forEach(function (c) {
      if (c.status && (!latest || (c.status_at || "") > (latest.status_at || ""))) latest = c;
    });
    return latest ? latest.status : "Unknown";
  };

  function latestOf(values) {
    return values.filter(Boolean).sort().pop() || null;
  }

  OC.fleetPage = function (view) {
    const state = { chargers: [], connectors: new Map(), connected: new Map(), filter: "" };
    let stream = null;
    let poll = null;
    let clock = null;

    const search = OC.el("input", { id: "fleet-search", type: "search", placeholder: "e.g. CP-1", "aria-describedby": "fleet-search-hint" });
    const live = OC.el("span", { class: "live", id: "fleet-live", "data-state": "connecting" }, "Connecting to live updates…");
    const counts = OC.el("ul", { class: "counts", id: "fleet-counts", "aria-label": "Chargers by status" });
    const tableHost = OC.el("div", { id: "fleet-table" }, OC.el("p", {}, "Loading chargers…"));
    view.append(
      OC.el("h1", {}, "Fleet"),
      OC.el("div", { class: "toolbar" },
        OC.el("div", { class: "field" }, OC.el("label", { for: "fleet-search" }, "Search by charger id"), search,
          OC.el("span", { id: "fleet-search-hint", class: "visually-hidden" }, "Filters the table as you type")),
        live),
      OC.el("h2", {}, "By status"), counts, tableHost);
    search.addEventListener("input", function () { state.filter = search.value.trim().toLowerCase(); render(); });

    function row(charger) {
      const connectors = (state.connectors.get(charger.id) || []).slice().sort(function (a, b) { return a.connector_id - b.connector_id; });
      const connection = state.connected.get(charger.charge_point_id);
      const status = OC.chargerStatus(connectors);
      const lastSeen = latestOf([connection && connection.last_message_at, charger.last_heartbeat_at, charger.last_boot_at]
        .concat(connectors.map(function (c) { return c.status_at; })));
      return { charger: charger, connectors: connectors, connected: !!connection, status: status, lastSeen: lastSeen };
    }

    function render() {
      const rows = state.chargers.map(row);
      const byStatus = new Map();
      rows.forEach(function (r) { byStatus.set(r.status, (byStatus.get(r.status) || 0) + 1); });
      counts.textContent = "";
      counts.appendChild(OC.el("li", { "data-status": "Total" }, "Total", OC.el("strong", {}, rows.length)));
      counts.appendChild(OC.el("li", { "data-status": "Connected" }, "Connected",
        OC.el("strong", {}, rows.filter(function (r) { return r.connected; }).length)));
      Array.from(byStatus.keys()).sort(function (a, b) {
        return (a === "Faulted" ? -1 : 0) - (b === "Faulted" ? -1 : 0) || a.localeCompare(b);
      }).forEach(function (status) {
        counts.appendChild(OC.el("li", { "data-status": status }, OC.statusBadge(status), OC.el("strong", {}, byStatus.get(status))));
      });
      const shown = rows.filter(function (r) {
        return !state.filter || r.charger.charge_point_id.toLowerCase().indexOf(state.filter) >= 0;
      }).sort(function (a, b) {
        const faulted = (b.status === "Faulted") - (a.status === "Faulted");
        return faulted || a.charger.charge_point_id.localeCompare(b.charger.charge_point_id, "en", { numeric: true });
      });
      const body = OC.el("tbody");
      shown.forEach(function (r) {
        body.appendChild(OC.el("tr", { "data-charge-point-id": r.charger.charge_point_id, "data-status": r.status },
          OC.el("th", { scope: "row" }, OC.el("a", { href: "#/chargers/" + r.charger.id }, r.charger.charge_point_id)),
          OC.el("td", { class: r.connected ? "conn-online" : "conn-offline" }, r.connected ? "Connected" : "Offline"),
          OC.el("td", { class: "charger-status" }, OC.statusBadge(r.status)),
          OC.el("td", {}, r.connectors.length ? r.connectors.map(function (c) { return c.connector_id + ": " + (c.status || "Unknown"); }).join(", ") : "none reported"),
          OC.el("td", {}, OC.time(r.lastSeen), r.lastSeen ? OC.el("span", { class: "muted" }, " (" + OC.ago(r.lastSeen) + ")") : null),
          OC.el("td", {}, [r.charger.vendor, r.charger.model].filter(Boolean).join(" ") || "–")));
      });
      const table = OC.el("table", { id: "fleet-chargers" },
        OC.el("caption", {}, "Chargers: " + shown.length + " shown of " + rows.length + (state.filter ? ", matching “" + state.filter + "”" : "") + "; faulted first"),
        OC.el("thead", {}, OC.el("tr", {},
          OC.el("th", { scope: "col" }, "Charger"), OC.el("th", { scope: "col" }, "Connection"),
          OC.el("th", { scope: "col" }, "Status"), OC.el("th", { scope: "col" }, "Connectors"),
          OC.el("th", { scope: "col" }, "Last seen"), OC.el("th", { scope: "col" }, "Vendor and model"))),
        body);
      tableHost.textContent = "";
      tableHost.appendChild(shown.length || rows.length ? table : OC.el("p", {}, "No chargers yet: they appear when they connect."));
    }

    async function load() {
      const results = await Promise.all([
        OC.list("/db/chargers/?sort=charge_point_id"), OC.list("/db/connectors/"), OC.list("/charge_points"),
      ]);
      state.chargers = results[0];
      state.connectors = new Map();
      results[1].forEach(function (c) {
        if (!state.connectors.has(c.charger_id)) state.connectors.set(c.charger_id, []);
        state.connectors.get(c.charger_id).push(c);
      });
      state.connected = new Map(results[2].map(function (p) { return [p.charge_point_id, p]; }));
      render();
    }

    function applyStatus(event) {
      const charger = state.chargers.find(function (c) { return c.charge_point_id === event.charge_point_id; });
      if (!charger) { load().catch(function () {}); return; }
      const list = state.connectors.get(charger.id) || [];
      let connector = list.find(function (c) { return c.connector_id === event.connector_id; });
      if (!connector) {
        connector = { charger_id: charger.id, connector_id: event.connector_id };
        list.push(connector);
        state.connectors.set(charger.id, list);
      }
      if ((connector.status_at || "") > event.timestamp) return;
      const before = OC.chargerStatus(list);
      connector.status = event.value;
      connector.status_at = event.timestamp;
      connector.error_code = event.error_code;
      const connection = state.connected.get(charger.charge_point_id);
      if (connection) connection.last_message_at = event.timestamp;
      scheduleRender();
      // A fleet changes all the time: only faults and recoveries are read out.
      const after = OC.chargerStatus(list);
      if ((before === "Faulted") !== (after === "Faulted")) {
        OC.announce(charger.charge_point_id + (after === "Faulted" ? " is faulted" : " is no longer faulted, now " + after));
      }
    }

    // A busy fleet sends many changes a second: the table is drawn at most every 250 ms.
    let renderTimer = null;
    function scheduleRender() {
      if (renderTimer) return;
      renderTimer = setTimeout(function () { renderTimer = null; render(); }, 250);
    }

    function startPolling() {
      live.dataset.state = "polling";
      live.textContent = "Live stream unavailable: refreshing every 10 s";
      poll = setInterval(function () { load().catch(function () {}); }, 10000);
    }

    load().catch(function (error) {
      tableHost.textContent = "";
      tableHost.appendChild(OC.notice("The chargers could not be read: " + error.message, true));
    });
    stream = OC.stream(OC.fleetStreamPath, {
      event: function (type, data) { if (type === "status") applyStatus(data); },
      state: function (value) {
        if (value === "live") { live.dataset.state = "live"; live.textContent = "Live"; }
        else if (value === "reconnecting") { live.dataset.state = "reconnecting"; live.textContent = "Reconnecting…"; load().catch(function () {}); }
        else if (value === "unavailable") startPolling();
      },
    });
    // "Last seen … ago" and connections age: refresh the connected list now and then.
    clock = setInterval(function () {
      OC.list("/charge_points").then(function (points) {
        state.connected = new Map(points.map(function (p) { return [p.charge_point_id, p]; }));
        render();
      }).catch(function () {});
    }, 30000);
    return function () {
      if (stream) stream.close();
      if (poll) clearInterval(poll);
      if (renderTimer) clearTimeout(renderTimer);
      clearInterval(clock);
    };
  };
})();
