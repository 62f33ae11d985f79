// Server-Sent Events read with fetch(), so that the token travels in the Authorization
// header (EventSource cannot send headers, and a token never goes into a URL). The
// event-stream format is parsed here; a lost stream reconnects after the server's `retry`
// with Last-Event-ID, so the server resumes where the stream stopped.
"use strict";
(function () {
  const OC = window.OC;

  /**
   * Opens `path` as an event stream. `handlers.event(type, data, id)` gets every event with
   * data (data parsed as JSON when it is JSON); `handlers.state(state, detail)` gets
   * "live", "reconnecting" or "closed", and "unavailable" with the status when the route
   * answers 404 (the caller may fall back to polling). Returns `{close()}`.
   */
  OC.stream = function (path, handlers) {
    let lastEventID = null;
    let retry = 3000;
    let closed = false;
    let controller = null;
    const state = handlers.state || function () {};

    function dispatch(type, data, id) {
      let value = data;
      try { value = JSON.parse(data); } catch (error) { /* not JSON: the text itself */ }
      handlers.event(type || "message", value, id);
    }

    async function run() {
      while (!closed) {
        controller = new AbortController();
        const headers = OC.headers({ Accept: "text/event-stream" });
        if (lastEventID) headers.set("Last-Event-ID", lastEventID);
        try {
          const response = await fetch(path, {
            headers: headers, cache: "no-store", credentials: "omit", signal: controller.signal,
          });
          if (response.status === 401) {
            if (OC.onUnauthorized) OC.onUnauthorized("the token no longer opens the API");
            closed = true;
            break;
          }
          if (response.status === 404 || response.status === 422 || response.status === 403) {
            state("unavailable", response.status);
            closed = true;
            break;
          }
          if (!response.ok || !response.body) throw new Error("HTTP " + response.status);
          state("live");
          await read(response.body);
        } catch (error) {
          if (closed) break;
        }
        if (closed) break;
        state("reconnecting");
        await new Promise(function (resolve) { setTimeout(resolve, retry); });
      }
      state("closed");
    }

    async function read(body) {
      const reader = body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let data = [];
      let type = "";
      let id = null;
      for (;;) {
        const chunk = await reader.read();
        if (chunk.done) return;
        buffer += chunk.value;
        let match;
        while ((match = /\r\n|\r|\n/.exec(buffer)) !== null) {
          // A lone CR at the end may be the first half of CRLF: wait for more.
          if (match[0] === "\r" && match.index === buffer.length - 1) break;
          const line = buffer.slice(0, match.index);
          buffer = buffer.slice(match.index + match[0].length);
          if (line === "") {
            if (id !== null) lastEventID = id;
            if (data.length > 0) dispatch(type, data.join("\n"), lastEventID);
            data = [];
            type = "";
            id = null;
            continue;
          }
          if (line[0] === ":") continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value[0] === " ") value = value.slice(1);
          if (field === "data") data.push(value);
          else if (field === "event") type = value;
          else if (field === "id" && value.indexOf("\0") < 0) id = value;
          else if (field === "retry" && /^\d+$/.test(value)) retry = Number(value);
        }
      }
    }

    run();
    return {
      close: function () {
        closed = true;
        if (controller) controller.abort();
      },
    };
  };
})();
