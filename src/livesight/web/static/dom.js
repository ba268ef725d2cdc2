// Building and updating the pages: elements, times, status badges, counters, and the API's validation
// messages next to the fields they are about.

export const LIVE = new Set(["INITIALIZING", "ACTIVE", "ENDING", "pending", "running"]);

export const $ = (selector, root = document) => root.querySelector(selector);

/** Build an element: h("a", {href: "/"}, "text", child…). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") el.className = value;
    else if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

/** Seconds as MM:SS (HH:MM:SS past an hour). */
export function clock(seconds) {
  const total = Math.max(0, Math.floor(Number(seconds) || 0));
  const pad = (n) => String(n).padStart(2, "0");
  const hours = Math.floor(total / 3600);
  const rest = `${pad(Math.floor((total % 3600) / 60))}:${pad(total % 60)}`;
  return hours ? `${pad(hours)}:${rest}` : rest;
}

/** The wall-clock time (local, HH:MM:SS) of `seconds` into a run whose time 0 was `origin` (ISO-8601). */
export function wallClock(origin, seconds) {
  const start = origin ? Date.parse(origin) : NaN;
  if (Number.isNaN(start)) return "";
  const at = new Date(start + Math.max(0, Number(seconds) || 0) * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

/** An offset, or a span with its length where it has an end after its start: `00:26` or `00:26–00:46 (20 s)`. */
export function span(start, end) {
  const from = Number(start) || 0;
  if (end === null || end === undefined || !(Number(end) > from)) return clock(from);
  const length = Number(end) - from;
  const text = length < 60 ? `${Math.round(length)} s` : `${Math.floor(length / 60)} min ${Math.round(length % 60)} s`;
  return `${clock(from)}–${clock(end)} (${text})`;
}

/** A signed link from the API, made relative to this page's origin (the server may not know its public name). */
export function local(url) {
  if (!url) return url;
  const parsed = new URL(url, location.href);
  return parsed.pathname + parsed.search;
}

function tone(status) {
  if (status === "ACTIVE" || status === "running") return "live";
  if (status === "FAILED" || status === "failed") return "bad";
  if (LIVE.has(status)) return "wait";
  return "done";
}

export function setBadge(el, status) {
  el.textContent = status;
  el.className = `badge ${tone(status)}`;
  el.dataset.status = status;
}

export function percent(value) {
  return value === null || value === undefined ? "—" : `${Math.round(Number(value) * 100)}%`;
}

/** Replace `parent`'s children by `nodes`, moving only what changed (keeps focus and scroll). */
export function syncChildren(parent, nodes) {
  nodes.forEach((node, i) => {
    if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
  });
  while (parent.children.length > nodes.length) parent.lastElementChild.remove();
}

/** The run's counters. `listed` (the run pages) is the count of events in the list beside them, shown in
 * place of the server's so the two never disagree; `noun` names them ("events", "triggers", "summaries"). */
export function fillCounters(dl, run, { listed, noun } = {}) {
  const counters = run.counters || {};
  const items = [
    ["chunks", counters.chunks],
    ["checks", counters.checks],
    [noun || (run.kind === "session" ? "events" : "triggers"), listed ?? counters.triggers],
    ["at", clock(run.session_time || 0)],
  ];
  const nodes = items.map(([label, value], i) =>
    h("div", { "data-counter": ["chunks", "checks", "triggers", "at"][i] }, h("dt", {}, label), h("dd", {}, String(value ?? 0))),
  );
  dl.replaceChildren(...nodes);
}

export function healthText(run) {
  if (run.health) {
    const { state, reconnects, last_frame_age_seconds: age, error } = run.health;
    const parts = [`source ${state}`];
    parts.push(age === null ? "no frame yet" : `last frame ${age.toFixed(1)} s ago`);
    parts.push(`${reconnects} reconnect${reconnects === 1 ? "" : "s"}`);
    if (error && state !== "streaming") parts.push(error);
    return parts.join(" · ");
  }
  if (run.error) return run.error;
  if (run.reason) return `ended: ${run.reason.replaceAll("_", " ")}`;
  return LIVE.has(run.status) ? "starting…" : "ended";
}

/** What is wrong with a run, for the alert above its player: `{tone, text}`, or null when nothing is.
 * A failed run says why it failed; a source that is not streaming (reconnecting, or still connecting
 * after a few seconds) says so with its last error, while the run goes on. */
export function runProblem(run) {
  const failed = run.status === "FAILED" || run.status === "failed";
  if (failed) return { tone: "bad", text: `Failed: ${run.error || (run.reason || "unknown reason").replaceAll("_", " ")}` };
  const health = run.health;
  if (!health || !LIVE.has(run.status)) return null;
  const { state, reconnects, error } = health;
  if (state === "reconnecting" || (state === "connecting" && (reconnects > 0 || error))) {
    const tries = reconnects ? ` (${reconnects} attempt${reconnects === 1 ? "" : "s"})` : "";
    return { tone: "warn", text: `The source is not answering; reconnecting${tries}.${error ? ` Last error: ${error}` : ""}` };
  }
  if (state === "failed") return { tone: "bad", text: `The source failed${error ? `: ${error}` : "."}` };
  return null;
}

// -- forms: the API's validation messages next to their fields -------------------------------------

const URL_CODES = new Set(["INVALID_URL", "URL_NOT_ALLOWED", "STREAM_OFFLINE", "STREAM_FETCH_FAILED", "NOT_LIVESTREAM"]);

export function clearErrors(form) {
  for (const p of form.querySelectorAll(".error, .form-error")) {
    p.hidden = true;
    p.textContent = "";
  }
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

export function sentence(text) {
  return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
}

/** Map an API error to {field name: message}, for the fields this form has. */
function fieldErrors(form, err) {
  const out = new Map();
  const has = (name) => Boolean(form.querySelector(`[data-error-for="${name}"]`));
  if (err.fields) {
    for (const f of err.fields) {
      const name = String(f.field || "").split(".")[0];
      if (has(name) && !out.has(name)) out.set(name, sentence(f.message));
    }
  } else if (err.code === "VALIDATION_ERROR") {
    for (const part of err.message.split("; ")) {
      const colon = part.indexOf(": ");
      const name = colon > 0 ? part.slice(0, colon).split(".")[0] : "";
      if (has(name) && !out.has(name)) out.set(name, sentence(part.slice(colon + 2)));
    }
  } else if (URL_CODES.has(err.code)) {
    const webhook = form.elements.webhook_url;
    let host = "";
    try {
      host = webhook && webhook.value ? new URL(webhook.value).hostname : "";
    } catch {
      host = "";
    }
    const name = host && err.message.includes(host) ? "webhook_url" : has("source_url") ? "source_url" : "stream_url";
    out.set(name, [err.message, err.remediation].filter(Boolean).join(" "));
  }
  return out;
}

export function showErrors(form, err) {
  const errors = fieldErrors(form, err);
  let first = null;
  for (const [name, message] of errors) {
    const p = form.querySelector(`[data-error-for="${name}"]`);
    p.textContent = message;
    p.hidden = false;
    const input = form.elements[name];
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  if (!errors.size) {
    const general = form.querySelector(".form-error");
    general.textContent = [err.message, err.remediation].filter(Boolean).join(" ");
    general.hidden = false;
  }
  if (first) first.focus();
}

export async function busy(button, task) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await task();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

