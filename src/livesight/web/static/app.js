// LiveSight's web UI: one module for every page; <body data-page="…"> says which page this is.

import { KEY, api, follow, storedKey, toLogin } from "./api.js";
import {
  $,
  LIVE,
  busy,
  clearErrors,
  clock,
  fillCounters,
  h,
  healthText,
  runProblem,
  local,
  percent,
  sentence,
  setBadge,
  showErrors,
  syncChildren,
} from "./dom.js";
import { createPlayer } from "./player.js";

const RANK = { pending: 0, INITIALIZING: 0, running: 1, ACTIVE: 1, ENDING: 2 }; // ended statuses rank 3

// -- pages ------------------------------------------------------------------------------------------

async function loginPage() {
  const raw = new URLSearchParams(location.search).get("next") || "/";
  const next = /^\/(?![\/\\])/.test(raw) ? raw : "/"; // a path on this site: never "//host" nor "/\\host"
  const form = $("#login-form");
  const input = $("#api-key");
  try {
    const who = await api("/api/ui/whoami", { key: "" });
    if (who.dev_mode) $("#dev-note").hidden = false;
  } catch {
    // keys exist: a key is needed
  }
  input.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    const key = input.value.trim();
    try {
      await busy(form.querySelector("button"), () => api("/api/ui/whoami", { key }));
      sessionStorage.setItem(KEY, key);
      location.assign(next);
    } catch (err) {
      const p = $("#api-key-err");
      p.textContent = err.status === 401 ? (key ? "This key is not valid." : "This server needs an API key.") : err.message;
      p.hidden = false;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  });
}

function runLink(run) {
  if (run.kind === "session") return `/ui/sessions/${encodeURIComponent(run.stream_id)}/${encodeURIComponent(run.session_id)}`;
  return `/ui/jobs/${encodeURIComponent(run.job_id)}`;
}

async function overviewPage() {
  const container = $("#streams");
  const groups = new Map();
  const runs = new Map();

  function runNode(run) {
    const id = run.session_id || run.job_id;
    let el = runs.get(id);
    if (!el) {
      el = h(
        "li",
        { class: "run", "data-run-id": id },
        h("div", { class: "run-head" }, h("a", { class: "run-name", href: runLink(run) }), h("span", { class: "kind" }), h("span", {})),
        h("dl", { class: "counters" }),
        h("p", { class: "health" }),
      );
      runs.set(id, el);
    }
    const [name, kind, badge] = el.firstElementChild.children;
    name.textContent = run.kind === "session" ? run.name : run.condition || run.job_type;
    kind.textContent = run.kind === "session" ? "session" : run.job_type === "live-monitor" ? "monitor job" : run.job_type;
    setBadge(badge, run.status);
    el.dataset.status = run.status;
    fillCounters(el.children[1], run);
    el.children[2].textContent = healthText(run);
    return el;
  }

  function render(snapshot) {
    const nodes = snapshot.streams.map((group) => {
      const key = group.stream_id || `url:${group.source_url}`;
      let el = groups.get(key);
      if (!el) {
        const heading = `h-${groups.size}`;
        el = h(
          "section",
          { class: "card stream", "aria-labelledby": heading },
          h("h2", { id: heading }),
          h("p", { class: "url" }),
          h("ul", { class: "runs" }),
        );
        groups.set(key, el);
      }
      const [title, url, list] = el.children;
      title.textContent = group.name || "Monitor jobs";
      url.textContent = group.source_url;
      const items = [...group.sessions, ...group.jobs].map(runNode);
      syncChildren(list, items);
      if (!items.length) list.replaceChildren(h("li", { class: "hint" }, "No sessions yet."));
      return el;
    });
    syncChildren(container, nodes);
    $("#empty").hidden = nodes.length > 0;
  }

  render(await api("/api/ui/overview"));
  const conn = $("#conn");
  follow(
    "/api/ui/overview/stream",
    (name, data) => {
      if (name === "snapshot") render(data);
    },
    {
      onState: (state) => {
        conn.textContent = state === "live" ? "Live: updates as it happens." : "Reconnecting…";
        conn.dataset.state = state;
      },
    },
  );
}

async function createPage() {
  const sessionForm = $("#session-form");
  const jobForm = $("#job-form");
  try {
    const snapshot = await api("/api/ui/overview");
    for (const group of snapshot.streams) {
      if (group.stream_id) $("#s-stream").append(h("option", { value: group.stream_id }, `${group.name} — ${group.source_url}`));
    }
  } catch {
    // the select keeps "A new stream"
  }

  sessionForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(sessionForm);
    const f = sessionForm.elements;
    const body = { source_url: f.source_url.value.trim(), name: f.name.value.trim() };
    if (f.rapid_review_query.value.trim()) body.rapid_review_query = f.rapid_review_query.value.trim();
    if (f.stream_id.value) body.stream_id = f.stream_id.value;
    try {
      const started = await busy(sessionForm.querySelector("button[type=submit]"), () =>
        api("/api/live/start-session", { method: "POST", json: body }),
      );
      location.assign(runLink({ kind: "session", ...started }));
    } catch (err) {
      showErrors(sessionForm, err);
    }
  });

  const number = (input) => (input.value.trim() === "" ? null : Number(input.value));
  function jobBody() {
    const f = jobForm.elements;
    const body = {
      stream_url: f.stream_url.value.trim(),
      condition: f.condition.value.trim(),
      input_mode: f.input_mode.value,
      monitor_duration_seconds: number(f.monitor_duration_seconds),
      max_triggers: number(f.max_triggers),
      enable_prefilter: f.enable_prefilter.checked,
    };
    for (const name of ["interval_seconds", "clip_duration_seconds", "trigger_cooldown_seconds"]) {
      if (number(f[name]) !== null) body[name] = number(f[name]);
    }
    if (f.webhook_url.value.trim()) body.webhook_url = f.webhook_url.value.trim();
    return body;
  }

  jobForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(jobForm);
    try {
      const job = await busy(jobForm.querySelector("button[type=submit]"), () =>
        api("/api/live-monitor", { method: "POST", json: jobBody() }),
      );
      location.assign(runLink({ kind: "job", ...job }));
    } catch (err) {
      showErrors(jobForm, err);
    }
  });

  const result = $("#check-result");
  $("#check-once").addEventListener("click", async (event) => {
    clearErrors(jobForm);
    const { stream_url, condition, input_mode, clip_duration_seconds } = jobBody();
    const body = { stream_url, condition, input_mode, include_frame: true };
    if (clip_duration_seconds !== undefined) body.clip_duration_seconds = clip_duration_seconds;
    result.hidden = false;
    result.replaceChildren(h("p", {}, "Checking the newest frame…"));
    try {
      const verdict = await busy(event.currentTarget, () => api("/api/check-once", { method: "POST", json: body }));
      const facts = [`confidence ${percent(verdict.confidence)}`, `${Math.round(verdict.latency_ms)} ms`];
      if (verdict.stream_time !== null && verdict.stream_time !== undefined) facts.push(`frame at ${clock(verdict.stream_time)}`);
      result.replaceChildren(
        h(
          "p",
          { class: `verdict ${verdict.triggered ? "yes" : "no"}`, id: "verdict" },
          h("strong", {}, verdict.triggered ? "Yes — the condition holds" : "No — the condition does not hold"),
        ),
        h("p", { class: "hint" }, facts.join(" · ")),
        h("p", { class: "explanation" }, verdict.explanation),
        verdict.frame_b64
          ? h("img", { id: "verdict-frame", src: `data:image/jpeg;base64,${verdict.frame_b64}`, alt: "The frame the model judged" })
          : null,
      );
    } catch (err) {
      result.replaceChildren(h("p", { class: "verdict error-text" }, "The check could not run."));
      showErrors(jobForm, err);
    }
  });
}

/** What the session and job pages share: status, counters, the event list, the timeline and the player. */
function runPage({ noun, getManifest, stopLabel }) {
  const list = $("#events");
  const timeline = $("#timeline");
  const playhead = $(".playhead", timeline);
  const video = $("#player");
  const seen = new Map();
  let duration = 0;
  let status = null;
  const player = createPlayer(video, getManifest, (text) => ($("#player-msg").textContent = text));

  function place(marker, time) {
    marker.style.left = `${duration > 0 ? Math.min(100, (time / duration) * 100) : 0}%`;
  }

  function setDuration(seconds) {
    const latest = Math.max(0, ...[...seen.values()].map((e) => e.time + 1));
    const next = Math.max(duration, Number(seconds) || 0, latest);
    if (next === duration) return;
    duration = next;
    for (const entry of seen.values()) place(entry.marker, entry.time);
    $("#timeline-end").textContent = clock(duration);
  }

  function select(entry) {
    for (const other of seen.values()) {
      other.item.removeAttribute("aria-current");
      other.marker.classList.remove("current");
    }
    entry.item.setAttribute("aria-current", "true");
    entry.marker.classList.add("current");
    player.seek(entry.time);
  }

  function addEvent(event) {
    const id = event.event_id || `w${event.window_index}`;
    if (seen.has(id)) return;
    const time = Number(event.stream_time ?? event.window_start ?? 0);
    const label = event.label || event.type || noun;
    const text = event.explanation || event.description || event.summary || "";
    const thumb = local(event.thumbnail_url || event.frame_url);
    const entry = { time };
    const open = () => select(entry);
    entry.item = h(
      "li",
      { "data-event-id": id, "data-stream-time": time },
      h(
        "button",
        { type: "button", class: "event", onclick: open },
        thumb ? h("img", { src: thumb, alt: "", width: 128, height: 72, loading: "lazy" }) : h("span", { class: "no-thumb" }),
        h(
          "span",
          { class: "event-text" },
          h("span", { class: "event-top" }, h("span", { class: "time" }, clock(time)), h("span", { class: "label" }, label), event.confidence !== undefined ? h("span", { class: "confidence" }, percent(event.confidence)) : null),
          h("span", { class: "description" }, text),
        ),
      ),
    );
    entry.marker = h("button", {
      type: "button",
      class: "marker",
      "aria-label": `${sentence(noun)} at ${clock(time)}: ${label}`,
      title: `${clock(time)} ${label}`,
      onclick: open,
    });
    seen.set(id, entry);
    const after = [...list.children].find((li) => Number(li.dataset.streamTime) > time) || null;
    list.insertBefore(entry.item, after);
    timeline.append(entry.marker);
    setDuration(0);
    place(entry.marker, time);
    $("#no-events").hidden = true;
    $("#event-count").textContent = `(${seen.size})`;
  }

  function setStatus(next) {
    if (!next) return;
    const rank = (s) => (s in RANK ? RANK[s] : 3);
    if (status !== null && rank(next) < rank(status)) return;
    if (next !== status) $("#announce").textContent = `Status: ${next}`;
    status = next;
    setBadge($("#status"), next);
    const stop = $("#stop");
    stop.hidden = !LIVE.has(next) || next === "ENDING";
  }

  function showError(err) {
    const p = $("#page-error");
    p.textContent = [err.message, err.remediation].filter(Boolean).join(" ");
    p.hidden = false;
  }

  timeline.addEventListener("click", (event) => {
    if (event.target !== timeline && !event.target.classList.contains("track")) return;
    const box = timeline.getBoundingClientRect();
    if (duration > 0) player.seek(((event.clientX - box.left) / box.width) * duration);
  });
  video.addEventListener("timeupdate", () => {
    const at = player.position();
    playhead.style.left = `${duration > 0 ? Math.min(100, Math.max(0, (at / duration) * 100)) : 0}%`;
  });
  $("#stop").textContent = stopLabel;
  return { addEvent, setDuration, setStatus, showError, player, isLive: () => LIVE.has(status) };
}

/** The run's alert above the player: failed, or its source reconnecting; hidden when all is well. */
function showProblem(problem) {
  const alert = $("#run-alert");
  if (!alert) return;
  alert.hidden = !problem;
  if (!problem) return;
  alert.textContent = problem.text;
  alert.className = `run-alert ${problem.tone}`;
}

/** Counters, source health and status of one run, live; the stream is closed once the run has ended. */
function followRun(page, query) {
  follow(`/api/ui/overview/stream?${query}`, (name, data) => {
    if (name !== "snapshot") return false;
    page.setStatus(data.run.status);
    page.setDuration(data.run.session_time);
    fillCounters($("#counters"), data.run);
    $("#latest").hidden = false;
    $("#latest").textContent = healthText(data.run);
    showProblem(runProblem(data.run));
    return !LIVE.has(data.run.status); // browsers allow few connections per server: free this one
  });
}

async function sessionPage() {
  const [streamId, sessionId] = location.pathname.split("/").slice(3, 5).map(decodeURIComponent);
  const base = `/api/live/live-sessions/${encodeURIComponent(streamId)}/${encodeURIComponent(sessionId)}`;
  const page = runPage({
    noun: "event",
    stopLabel: "End session",
    getManifest: async () =>
      local((await api(`/api/live/session/${encodeURIComponent(sessionId)}/signed-manifest`, { method: "POST" })).url),
  });
  let session;
  try {
    session = await api(base);
  } catch (err) {
    page.showError(err);
    return;
  }
  document.title = `${session.name} · LiveSight`;
  $("#title").textContent = session.name;
  $("#meta").textContent = [session.source_url, session.rapid_review_query && `“${session.rapid_review_query}”`]
    .filter(Boolean)
    .join(" · ");
  page.setStatus(session.status);
  showProblem(runProblem({ status: session.status, error: session.error }));
  page.setDuration(Math.max(0, ...session.chunks.map((c) => c.end_time)));
  for (const event of session.events) page.addEvent(event);
  page.player.start();
  $("#stop").addEventListener("click", async (event) => {
    try {
      await busy(event.currentTarget, () =>
        api("/api/live/end-session", { method: "POST", json: { stream_id: streamId, session_id: sessionId } }),
      );
    } catch (err) {
      page.showError(err);
    }
  });
  const after = Math.max(0, ...session.events.map((e) => e.seq || 0));
  follow(`${base}/events?after=${after}`, (name, data) => {
    if (name === "event") page.addEvent(data);
    else if (name === "status") page.setStatus(data.status);
    else if (name === "ended") {
      page.setStatus(data.status);
      showProblem(runProblem(data));
      return true;
    }
    return false;
  });
  followRun(page, `session_id=${encodeURIComponent(sessionId)}`);
}

async function jobPage() {
  const jobId = decodeURIComponent(location.pathname.split("/")[3]);
  const page = runPage({
    noun: "trigger",
    stopLabel: "Cancel job",
    getManifest: async () =>
      local((await api(`/api/ui/jobs/${encodeURIComponent(jobId)}/signed-manifest`, { method: "POST" })).url),
  });
  let job;
  try {
    job = await api(`/api/jobs/${encodeURIComponent(jobId)}`);
  } catch (err) {
    page.showError(err);
    return;
  }
  const title = job.condition || `${job.job_type} ${job.job_id}`;
  document.title = `${title} · LiveSight`;
  $("#title").textContent = title;
  const config = job.config || {};
  const facts = [job.stream_url];
  if (config.interval_seconds) facts.push(`every ${config.interval_seconds} s`);
  if (config.input_mode) facts.push(config.input_mode);
  if (config.max_triggers !== undefined) facts.push(`max triggers ${config.max_triggers ?? "unlimited"}`);
  $("#meta").textContent = facts.join(" · ");
  page.setStatus(job.status);
  showProblem(runProblem({ status: job.status, error: job.stats?.error, reason: job.stats?.reason }));
  for (const trigger of job.triggers) page.addEvent(trigger);
  for (const summary of job.summaries || []) page.addEvent(summary);
  page.player.start();
  $("#stop").addEventListener("click", async (event) => {
    try {
      await busy(event.currentTarget, () => api(`/api/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE" }));
    } catch (err) {
      page.showError(err);
    }
  });
  follow(`/api/jobs/${encodeURIComponent(jobId)}/events`, (name, data) => {
    if (name === "started") page.setStatus("running");
    else if (name === "triggered" || name === "summary") page.addEvent(data);
    else if (name === "progress" && data.triggered !== null) {
      const check = $("#last-check");
      check.hidden = false;
      check.textContent = `Last check at ${clock(data.stream_time)}: ${data.triggered ? "yes" : "no"} (${percent(data.confidence)}) — ${data.explanation}`;
    } else if (name === "stopped" || name === "error") {
      page.setStatus(data.status);
      if (name === "error") showProblem({ tone: "bad", text: `Failed: ${data.message || data.error || data.reason || "see the job"}` });
      return true;
    }
    return false;
  });
  followRun(page, `job_id=${encodeURIComponent(jobId)}`);
}

// -- start -----------------------------------------------------------------------------------------

async function header() {
  $("#logout")?.addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    location.assign("/ui/login");
  });
  const who = $("#who");
  if (!who) return;
  try {
    const me = await api("/api/ui/whoami");
    who.textContent = me.dev_mode ? "development mode" : `key: ${me.key_name || "?"}`;
  } catch {
    who.textContent = "";
  }
}

const PAGES = { login: loginPage, overview: overviewPage, new: createPage, session: sessionPage, job: jobPage };

const name = document.body.dataset.page;
if (name !== "login" && storedKey() === null) {
  toLogin();
} else {
  header();
  PAGES[name]().catch((err) => {
    const p = $("#page-error") || $("#conn");
    if (p) {
      p.textContent = err.message;
      p.hidden = false;
    }
  });
}
