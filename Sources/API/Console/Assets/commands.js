// The charger page's commands: reset, unlock, remote start and stop, availability and
// trigger message, each sent after a confirmation, only for roles that may send commands
// (`/whoami` says so; the API refuses the others with 403 anyway).
"use strict";
(function () {
  const OC = window.OC;

  function field(id, label, control) {
    control.id = id;
    return OC.el("div", { class: "field" }, OC.el("label", { for: id }, label), control);
  }

  function choice(values, selected) {
    const select = OC.el("select");
    values.forEach(function (v) { select.appendChild(OC.el("option", { value: v, selected: v === selected }, v)); });
    return select;
  }

  OC.renderCommands = function (host, charger, connectorIDs) {
    const cpid = charger.charge_point_id;
    host.textContent = "";
    host.appendChild(OC.el("h2", { id: "commands-title" }, "Commands"));
    const who = OC.whoami || {};
    if (!who.commands) {
      host.appendChild(OC.el("p", { id: "commands-not-allowed", class: "notice" },
        "Your token's role (" + (who.role || "unknown") + ") may read but not send commands to chargers."));
      return;
    }
    const ports = connectorIDs.filter(function (id) { return id > 0; });
    const connectorChoices = (ports.length ? ports : [1]).map(String);
    const result = OC.el("div", { class: "result", id: "command-result", role: "status", "aria-live": "polite" });

    async function send(command, body, description) {
      const ok = await OC.confirm("Send " + description + "?", "Send " + description + " to charger " + cpid + ".", "Send");
      if (!ok) { result.textContent = description + ": not sent."; return; }
      result.textContent = "Sending " + description + "…";
      try {
        const answer = await OC.api("/charge_points/" + encodeURIComponent(cpid) + "/" + command, { method: "POST", body: body });
        const status = answer && answer.status ? answer.status : JSON.stringify(answer);
        result.textContent = "";
        result.appendChild(OC.el("p", { class: "notice", "data-command": command }, description + ": the charger answered " + status + "."));
      } catch (error) {
        result.textContent = "";
        const reason = error.status === 404 ? "the charger is not connected" : error.message;
        result.appendChild(OC.notice(description + " failed (" + error.status + "): " + reason, true));
      }
    }

    const resetType = choice(["Soft", "Hard"], "Soft");
    const unlockConnector = choice(connectorChoices, connectorChoices[0]);
    const startConnector = choice(connectorChoices, connectorChoices[0]);
    const startTag = OC.el("input", { type: "text", value: "", placeholder: "id tag", required: true, maxlength: "20" });
    const stopTransaction = OC.el("input", { type: "number", min: "1", placeholder: "transaction id" });
    const availabilityConnector = choice(["0"].concat(connectorChoices), "0");
    const availabilityType = choice(["Operative", "Inoperative"], "Inoperative");
    const triggerMessage = choice(["StatusNotification", "Heartbeat", "BootNotification", "MeterValues",
      "DiagnosticsStatusNotification", "FirmwareStatusNotification"], "StatusNotification");

    function button(id, label, handler, danger) {
      return OC.el("button", { type: "button", id: id, class: danger ? "danger" : null, onclick: handler }, label);
    }

    host.appendChild(OC.el("div", { class: "commands" },
      OC.el("fieldset", {}, OC.el("legend", {}, "Reset"), field("cmd-reset-type", "Type", resetType),
        button("cmd-reset", "Reset…", function () { send("reset", { type: resetType.value }, resetType.value + " reset"); }, true)),
      OC.el("fieldset", {}, OC.el("legend", {}, "Unlock connector"), field("cmd-unlock-connector", "Connector", unlockConnector),
        button("cmd-unlock", "Unlock…", function () {
          send("unlock", { connector_id: Number(unlockConnector.value) }, "unlock of connector " + unlockConnector.value);
        })),
      OC.el("fieldset", {}, OC.el("legend", {}, "Remote start"), field("cmd-start-connector", "Connector", startConnector),
        field("cmd-start-tag", "Id tag", startTag),
        button("cmd-start", "Start…", function () {
          if (!startTag.value.trim()) { result.textContent = "Remote start needs an id tag."; startTag.focus(); return; }
          send("remote_start", { connector_id: Number(startConnector.value), id_tag: startTag.value.trim() },
            "remote start on connector " + startConnector.value);
        })),
      OC.el("fieldset", {}, OC.el("legend", {}, "Remote stop"), field("cmd-stop-transaction", "Transaction", stopTransaction),
        button("cmd-stop", "Stop…", function () {
          if (!stopTransaction.value) { result.textContent = "Remote stop needs a transaction id."; stopTransaction.focus(); return; }
          send("remote_stop", { transaction_id: Number(stopTransaction.value) }, "remote stop of transaction " + stopTransaction.value);
        })),
      OC.el("fieldset", {}, OC.el("legend", {}, "Availability"),
        field("cmd-availability-connector", "Connector (0: all)", availabilityConnector),
        field("cmd-availability-type", "Make", availabilityType),
        button("cmd-availability", "Change…", function () {
          send("availability", { connector_id: Number(availabilityConnector.value), type: availabilityType.value },
            "availability " + availabilityType.value + " of connector " + availabilityConnector.value);
        })),
      OC.el("fieldset", {}, OC.el("legend", {}, "Trigger message"), field("cmd-trigger-message", "Message", triggerMessage),
        button("cmd-trigger", "Trigger…", function () {
          send("trigger_message", { requested_message: triggerMessage.value }, "trigger of " + triggerMessage.value);
        }))));
    host.appendChild(result);
  };
})();
