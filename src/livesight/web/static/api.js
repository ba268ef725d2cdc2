// Talking to the server: the API key the user logged in with stays in sessionStorage (this tab only) and
// goes out as `Authorization: Bearer …` on every call. Live updates are Server-Sent Events read with
// fetch() (EventSource cannot send that header), parsed here, reconnecting with Last-Event-ID.

export const KEY = "livesight.apiKey"; // null: logged out; "": logged in to a development-mode server

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function storedKey() {
  return sessionStorage.getItem(KEY);
}

export function authHeaders() {
  const key = storedKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

export function toLogin() {
  sessionStorage.removeItem(KEY);
  const next = location.pathname + location.search;
  location.assign(`/ui/login?next=${encodeURIComponent(next)}`);
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `The server answered ${status}.`);
    this.status = status;
    this.code = error.code || "HTTP_ERROR";
    this.remediation = error.remediation || "";
    this.fields = Array.isArray(error.fields) ? error.fields : null;
  }
}

/** Call the JSON API. `key` overrides the stored key (the login page tries one before keeping it). */
export async function api(path, { method = "GET", json, key } = {}) {
  const headers = key === undefined ? authHeaders() : key ? { Authorization: `Bearer ${key}` } : {};
  const init = { method, headers, cache: "no-store" };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: { code: "NETWORK", message: "The server cannot be reached.", remediation: "" } });
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    if (response.status === 401 && key === undefined) toLogin();
    throw new ApiError(response.status, body);
  }
  return body;
}

/**
 * Follow an SSE stream with the bearer header. `onMessage(name, data)` returning true ends it (a
 * terminal event); otherwise a dropped connection is retried with the last event id. Aborting `signal`
 * closes it for good (the overview's "show archived" follows another stream instead).
 */
export async function follow(path, onMessage, { onState = () => {}, signal } = {}) {
  let retry = 2000;
  let lastId = null;
  for (;;) {
    try {
      const headers = { ...authHeaders(), Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(path, { headers, cache: "no-store", signal });
      if (response.status === 401) return toLogin();
      if (response.status === 404) return onState("gone");
      if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
      onState("live");
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      let data = [];
      let name = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          let line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (line.endsWith("\r")) line = line.slice(0, -1);
          if (line === "") {
            if (data.length) {
              let parsed = null;
              try {
                parsed = JSON.parse(data.join("\n"));
              } catch {
                parsed = data.join("\n");
              }
              if (onMessage(name || "message", parsed) === true) {
                reader.cancel().catch(() => {});
                onState("ended");
                return;
              }
            }
            data = [];
            name = "";
          } else if (!line.startsWith(":")) {
            const colon = line.indexOf(":");
            const field = colon < 0 ? line : line.slice(0, colon);
            let text = colon < 0 ? "" : line.slice(colon + 1);
            if (text.startsWith(" ")) text = text.slice(1);
            if (field === "data") data.push(text);
            else if (field === "event") name = text;
            else if (field === "id") lastId = text;
            else if (field === "retry" && /^\d+$/.test(text)) retry = Number(text);
          }
        }
      }
    } catch {
      // dropped: retry below
    }
    if (signal?.aborted) return;
    onState("reconnecting");
    await sleep(retry);
  }
}

