// The console's access to the API: the token (session storage only, never in a URL or a
// log), JSON calls with Authorization: Bearer, and small helpers the pages share.
"use strict";
(function () {
  const OC = (window.OC = {});
  const tokenKey = "ocpp-console-token";

  OC.token = function () { return sessionStorage.getItem(tokenKey); };
  OC.setToken = function (token) { sessionStorage.setItem(tokenKey, token); };
  OC.clearToken = function () { sessionStorage.removeItem(tokenKey); };

  /** An answer other than 2xx: its status and the API's `detail`, as text. */
  class APIError extends Error {
    constructor(status, detail) {
      super(detail);
      this.status = status;
    }
  }
  OC.APIError = APIError;

  function detailText(body, status) {
    if (!body) return "HTTP " + status;
    const detail = body.detail;
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail.map(function (item) {
        return (item.loc ? item.loc.join(".") + ": " : "") + (item.msg || JSON.stringify(item));
      }).join("; ");
    }
    return JSON.stringify(body);
  }

  /** The headers of every call: the bearer token, when there is one. */
  OC.headers = function (extra) {
    const headers = new Headers(extra || {});
    const token = OC.token();
    if (token) headers.set("Authorization", "Bearer " + token);
    return headers;
  };

  /**
   * Calls the API: `options.method`, `options.body` (sent as JSON), `options.accept`,
   * `options.signal`. Resolves with the parsed JSON (or text for other types); rejects
   * with an APIError. A 401 signs the console out.
   */
  OC.api = async function (path, options) {
    options = options || {};
    const headers = OC.headers({ Accept: options.accept || "application/json" });
    let body;
    if (options.body !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.body);
    }
    const response = await fetch(path, {
      method: options.method || "GET", headers: headers, body: body, cache: "no-store",
      credentials: "omit", signal: options.signal,
    });
    const type = response.headers.get("Content-Type") || "";
    const payload = type.indexOf("json") >= 0 ? await response.json().catch(function () { return null; })
      : await response.text();
    if (response.status === 401 && OC.onUnauthorized) OC.onUnauthorized(detailText(payload, 401));
    if (!response.ok) throw new APIError(response.status, detailText(typeof payload === "object" ? payload : null, response.status));
    return payload;
  };

  /** Every item of a paged list (`{"items","total","limit","offset"}`), up to `max` items. */
  OC.list = async function (path, max, signal) {
    const items = [];
    const separator = path.indexOf("?") >= 0 ? "&" : "?";
    const limit = 1000;
    for (let offset = 0; offset < (max || 10000); offset += limit) {
      const page = await OC.api(path + separator + "limit=" + limit + "&offset=" + offset, { signal: signal });
      items.push.apply(items, page.items);
      if (page.items.length < limit || items.length >= page.total) break;
    }
    return items;
  };

  /** Says `text` to screen readers through the page's live region. */
  OC.announce = function (text) {
    const region = document.getElementById("live-region");
    const line = document.createElement("p");
    line.textContent = text;
    region.appendChild(line);
    while (region.childNodes.length > 5) region.removeChild(region.firstChild);
  };

  /** An element: `OC.el("td", {class: "num"}, "text", child, ...)`. */
  OC.el = function (tag, attributes) {
    const element = document.createElement(tag);
    for (const name in attributes || {}) {
      const value = attributes[name];
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") element.textContent = value;
      else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
      else element.setAttribute(name, value === true ? "" : value);
    }
    const append = function (child) {
      if (child === undefined || child === null) return;
      if (Array.isArray(child)) child.forEach(append);
      else element.append(child instanceof Node ? child : String(child));
    };
    for (let index = 2; index < arguments.length; index++) append(arguments[index]);
    return element;
  };

  /** A status badge. */
  OC.statusBadge = function (status) {
    const text = status || "Unknown";
    return OC.el("span", { class: "status status-" + text.replace(/[^A-Za-z]/g, "") }, text);
  };

  /** A time as local date and time (seconds), with the ISO text in a <time>. */
  OC.time = function (iso) {
    if (!iso) return OC.el("span", { class: "muted" }, "never");
    const date = new Date(iso);
    return OC.el("time", { datetime: date.toISOString() }, OC.formatTime(date));
  };
  OC.formatTime = function (date) {
    const pad = function (n) { return String(n).padStart(2, "0"); };
    return date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + " " +
      pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds());
  };
  OC.ago = function (iso) {
    if (!iso) return "never";
    const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (seconds < 60) return seconds + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    if (seconds < 86400) return Math.round(seconds / 3600) + " h ago";
    return Math.round(seconds / 86400) + " d ago";
  };

  /** A number with at most `digits` decimals, grouped. */
  OC.number = function (value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits === undefined ? 1 : digits });
  };

  /** A notice (error or information) element. */
  OC.notice = function (text, isError) {
    return OC.el("p", { class: isError ? "notice error" : "notice", role: isError ? "alert" : null }, text);
  };

  /** Asks for confirmation in the page's dialog; resolves true when confirmed. */
  OC.confirm = function (title, text, action) {
    const dialog = document.getElementById("confirm");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = text;
    document.getElementById("confirm-ok").textContent = action || "Send";
    dialog.returnValue = "";
    return new Promise(function (resolve) {
      dialog.addEventListener("close", function () { resolve(dialog.returnValue === "ok"); }, { once: true });
      dialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  };
})();
