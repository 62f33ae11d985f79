// The session page: the summary, energy and power curves from the session's meter values,
// and its samples as CSV (fetched with the token, saved from a blob: no token in a URL).
"use strict";
(function () {
  const OC = window.OC;
  const maximumPoints = 10000;

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = Math.round(seconds % 60);
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
  }

  async function samples(id, measurand) {
    const query = new URLSearchParams({ measurand: measurand, limit: String(maximumPoints) });
    const page = await OC.api("/db/charge_sessions/" + id + "/meter-values?" + query.toString());
    return { items: page.items.filter(function (item) { return typeof item.value === "number" && !item.phase; }), more: !!page.next_cursor };
  }

  OC.sessionPage = async function (view, id) {
    const session = await OC.api("/db/charge_sessions/" + encodeURIComponent(id));
    document.title = "Session " + session.id + " – ocpp-server console";
    let charger = null;
    try { charger = await OC.api("/db/chargers/" + session.charger_id); } catch (error) { charger = null; }
    const summaryHost = OC.el("div", { id: "session-summary" }, OC.el("p", {}, "Loading the summary…"));
    const energyHost = OC.el("div", { id: "session-energy" });
    const powerHost = OC.el("div", { id: "session-power" });
    const csvResult = OC.el("p", { id: "csv-result", role: "status" });
    const csvButton = OC.el("button", { type: "button", id: "csv-download" }, "Download the samples as CSV");
    view.append(
      OC.el("p", {}, OC.el("a", { href: "#/fleet" }, "← Fleet"),
        charger ? [" · ", OC.el("a", { href: "#/chargers/" + charger.id }, "Charger " + charger.charge_point_id)] : null),
      OC.el("h1", {}, "Session " + session.id),
      OC.el("dl", { class: "facts" },
        OC.el("dt", {}, "Charger"), OC.el("dd", {}, charger ? charger.charge_point_id : String(session.charger_id)),
        OC.el("dt", {}, "Connector"), OC.el("dd", {}, String(session.connector_id)),
        OC.el("dt", {}, "Id tag"), OC.el("dd", {}, session.id_tag),
        OC.el("dt", {}, "Status"), OC.el("dd", { id: "session-status" }, session.status),
        OC.el("dt", {}, "Started"), OC.el("dd", {}, OC.time(session.start_time)),
        OC.el("dt", {}, "Stopped"), OC.el("dd", {}, session.stop_time ? OC.time(session.stop_time) : "still charging"),
        OC.el("dt", {}, "Stop reason"), OC.el("dd", {}, session.stop_reason || "–")),
      OC.el("section", { "aria-labelledby": "summary-title" }, OC.el("h2", { id: "summary-title" }, "Summary"), summaryHost),
      OC.el("section", { "aria-labelledby": "energy-title" }, OC.el("h2", { id: "energy-title" }, "Energy"), energyHost),
      OC.el("section", { "aria-labelledby": "power-title" }, OC.el("h2", { id: "power-title" }, "Power"), powerHost),
      OC.el("section", { "aria-labelledby": "csv-title" }, OC.el("h2", { id: "csv-title" }, "Samples"),
        OC.el("p", {}, "Every sample of the session (all measurands), as CSV with a header line."), csvButton, csvResult));

    csvButton.addEventListener("click", async function () {
      csvResult.textContent = "Preparing the CSV…";
      try {
        const text = await OC.api("/db/charge_sessions/" + session.id + "/meter-values?format=csv", { accept: "text/csv" });
        const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
        const link = OC.el("a", { href: url, download: "session-" + session.id + ".csv", id: "csv-link" }, "session-" + session.id + ".csv");
        const lines = text.split("\n").filter(Boolean).length;
        csvResult.textContent = "";
        csvResult.append("CSV ready: " + Math.max(0, lines - 1) + " samples. ", link);
        link.click();
      } catch (error) {
        csvResult.textContent = "";
        csvResult.appendChild(OC.notice("The CSV could not be read: " + error.message, true));
      }
    });

    try {
      const summary = await OC.api("/db/charge_sessions/" + session.id + "/summary");
      summaryHost.textContent = "";
      summaryHost.appendChild(OC.el("table", { id: "summary-table", class: "compact" },
        OC.el("caption", {}, "What the session's samples and meter readings add up to"),
        OC.el("tbody", {},
          OC.el("tr", {}, OC.el("th", { scope: "row" }, "Energy"), OC.el("td", { id: "summary-energy" },
            summary.energy_wh === null ? "–" : OC.number(summary.energy_wh / 1000, 3) + " kWh" + (summary.energy_source ? " (from " + summary.energy_source.replace(/_/g, " ") + ")" : ""))),
          OC.el("tr", {}, OC.el("th", { scope: "row" }, "Duration"), OC.el("td", {}, duration(summary.duration_seconds))),
          OC.el("tr", {}, OC.el("th", { scope: "row" }, "Peak power"), OC.el("td", {}, summary.peak_power_w === null ? "–" : OC.number(summary.peak_power_w / 1000, 2) + " kW")),
          OC.el("tr", {}, OC.el("th", { scope: "row" }, "Average power"), OC.el("td", {}, summary.average_power_w === null ? "–" : OC.number(summary.average_power_w / 1000, 2) + " kW")),
          OC.el("tr", {}, OC.el("th", { scope: "row" }, "Samples"), OC.el("td", { id: "summary-samples" }, OC.number(summary.sample_count, 0))))));
    } catch (error) {
      summaryHost.textContent = "";
      summaryHost.appendChild(OC.notice("The summary could not be read: " + error.message, true));
    }

    const results = await Promise.all([
      samples(session.id, "Energy.Active.Import.Register").catch(function (error) { return { error: error }; }),
      samples(session.id, "Power.Active.Import").catch(function (error) { return { error: error }; }),
    ]);
    const energy = results[0], power = results[1];
    if (energy.error) energyHost.appendChild(OC.notice("The energy samples could not be read: " + energy.error.message, true));
    else {
      const first = energy.items.length ? energy.items[0].value : 0;
      const unit = energy.items.length ? energy.items[0].unit || "Wh" : "Wh";
      OC.lineChart(energyHost, {
        title: "Energy delivered during session " + session.id + (energy.more ? " (first " + maximumPoints + " samples)" : ""),
        unit: unit, yLabel: "Energy since start (" + unit + ")",
        series: [{ name: "Energy", points: energy.items.map(function (i) { return { t: new Date(i.timestamp).getTime(), v: i.value - first }; }) }],
        empty: "The session has no energy register samples.",
      });
    }
    if (power.error) powerHost.appendChild(OC.notice("The power samples could not be read: " + power.error.message, true));
    else {
      const unit = power.items.length ? power.items[0].unit || "W" : "W";
      OC.lineChart(powerHost, {
        title: "Active power during session " + session.id + (power.more ? " (first " + maximumPoints + " samples)" : ""),
        unit: unit, yLabel: "Power (" + unit + ")",
        series: [{ name: "Power", points: power.items.map(function (i) { return { t: new Date(i.timestamp).getTime(), v: i.value }; }) }],
        empty: "The session has no power samples.",
      });
    }
    return function () {};
  };
})();
