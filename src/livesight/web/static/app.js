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
  span,
  syncChildren,
  wallClock,
} from "./dom.js";
import { createChart } from "./charts.js";
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

/** The API path of a run: /api/ui/sessions/{id} or /api/ui/jobs/{id}. */
function runPath(run) {
  return run.kind === "session" ? `/api/ui/sessions/${encodeURIComponent(run.session_id)}` : `/api/ui/jobs/${encodeURIComponent(run.job_id)}`;
}

/** Ask before something that cannot be undone: resolves true only when the user confirms. */
function confirmAction(title, text, okLabel) {
  const dialog = $("#confirm");
  $("#confirm-title").textContent = title;
  $("#confirm-text").textContent = text;
  $("#confirm-ok").textContent = okLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true }));
}

async function overviewPage() {
  const container = $("#streams");
  const toggle = $("#show-archived");
  const groups = new Map();
  const runs = new Map();
  let stream = null;

  function runName(run) {
    return run.kind === "session" ? run.name : run.condition || run.job_type;
  }

  async function act(button, run, action) {
    const conn = $("#conn");
    try {
      if (action === "delete") {
        const ok = await confirmAction(
          `Delete this ${run.kind}?`,
          `“${runName(run)}”, its events and its recording will be deleted. This cannot be undone.`,
          "Delete",
        );
        if (!ok) return;
        await busy(button, () => api(runPath(run), { method: "DELETE" }));
      } else {
        const method = action === "archive" ? "POST" : "DELETE";
        await busy(button, () => api(`${runPath(run)}/archive`, { method }));
      }
      render(await api(`/api/ui/overview${toggle.checked ? "?archived=true" : ""}`));
    } catch (err) {
      conn.textContent = [err.message, err.remediation].filter(Boolean).join(" ");
    }
  }

  function runNode(run) {
    const id = run.session_id || run.job_id;
    let el = runs.get(id);
    if (!el) {
      const actions = h("div", { class: "run-actions" });
      el = h(
        "li",
        { class: "run", "data-run-id": id },
        h(
          "div",
          { class: "run-head" },
          h("a", { class: "run-name", href: runLink(run) }),
          h("span", { class: "kind" }),
          h("span", {}),
          h("span", { class: "tag archived-tag", hidden: true }, "archived"),
        ),
        h("dl", { class: "counters" }),
        h("p", { class: "health" }),
        h("p", { class: "run-alert small", role: "status", hidden: true }),
        actions,
      );
      el.actions = { archive: null, unarchive: null, remove: null };
      el.actions.archive = h("button", { type: "button", class: "quiet small", "data-action": "archive", onclick: (e) => act(e.currentTarget, el.run, "archive") }, "Archive");
      el.actions.unarchive = h("button", { type: "button", class: "quiet small", "data-action": "unarchive", onclick: (e) => act(e.currentTarget, el.run, "unarchive") }, "Unarchive");
      el.actions.remove = h("button", { type: "button", class: "danger small", "data-action": "delete", onclick: (e) => act(e.currentTarget, el.run, "delete") }, "Delete");
      actions.append(el.actions.archive, el.actions.unarchive, el.actions.remove);
      runs.set(id, el);
    }
    el.run = run;
    const [head, counters, health, alert, actions] = el.children;
    const [name, kind, badge, archivedTag] = head.children;
    name.textContent = runName(run);
    kind.textContent = run.kind === "session" ? "session" : run.job_type === "live-monitor" ? "monitor job" : run.job_type;
    setBadge(badge, run.status);
    el.dataset.status = run.status;
    el.dataset.archived = run.archived_at ? "true" : "false";
    archivedTag.hidden = !run.archived_at;
    fillCounters(counters, run);
    health.textContent = healthText(run);
    const problem = runProblem(run);
    alert.hidden = !problem;
    if (problem) {
      alert.textContent = problem.text;
      alert.className = `run-alert small ${problem.tone}`;
    }
    const ended = !LIVE.has(run.status);
    actions.hidden = !ended;
    el.actions.archive.hidden = Boolean(run.archived_at);
    el.actions.unarchive.hidden = !run.archived_at;
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
          { class: "card stream", "aria-labelledby": heading, "data-stream-key": key },
          h("div", { class: "thumb" }),
          h("div", { class: "stream-body" }, h("h2", { id: heading }), h("p", { class: "url" }), h("ul", { class: "runs" })),
        );
        groups.set(key, el);
      }
      const [thumb, body] = el.children;
      const [title, url, list] = body.children;
      title.textContent = group.name || "Monitor jobs";
      url.textContent = group.source_url;
      const src = group.thumbnail ? local(group.thumbnail.url) : null;
      const img = thumb.querySelector("img");
      if (src && (!img || img.getAttribute("src") !== src)) {
        thumb.replaceChildren(h("img", { src, alt: `Latest event frame of ${group.name || group.source_url}`, width: 160, height: 90 }));
      } else if (!src && (img || !thumb.firstChild)) {
        thumb.replaceChildren(h("span", { class: "no-thumb", "aria-hidden": "true" }, "No frame yet"));
      }
      const items = [...group.sessions, ...group.jobs].map(runNode);
      syncChildren(list, items);
      if (!items.length) list.replaceChildren(h("li", { class: "hint" }, "No sessions yet."));
      return el;
    });
    syncChildren(container, nodes);
    $("#empty").hidden = nodes.length > 0;
    $("#archived-count").textContent = snapshot.archived_count ? `(${snapshot.archived_count})` : "";
  }

  function listen() {
    stream?.abort();
    stream = new AbortController();
    const conn = $("#conn");
    follow(
      `/api/ui/overview/stream${toggle.checked ? "?archived=true" : ""}`,
      (name, data) => {
        if (name === "snapshot") render(data);
      },
      {
        signal: stream.signal,
        onState: (state) => {
          conn.textContent = state === "live" ? "Live: updates as it happens." : "Reconnecting…";
          conn.dataset.state = state;
        },
      },
    );
  }

  toggle.addEventListener("change", async () => {
    render(await api(`/api/ui/overview${toggle.checked ? "?archived=true" : ""}`));
    listen();
  });
  render(await api("/api/ui/overview"));
  listen();
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

/** What the session and job pages share: status, counters, the event list, the timeline, the chart and the player. */
function runPage({ noun, getManifest, stopLabel, chartKind, chartPath, counted = () => true, countNoun }) {
  const list = $("#events");
  const timeline = $("#timeline");
  const playhead = $(".playhead", timeline);
  const video = $("#player");
  const goLive = $("#go-live");
  const seen = new Map();
  let duration = 0;
  let status = null;
  let origin = null;
  let lastRun = null;
  const player = createPlayer(video, getManifest, (text) => ($("#player-msg").textContent = text));
  const chart = createChart($("#chart"), chartKind);

  // Markers sit on [0, 1] of the track, which is inset by half a marker on each side: the first and the
  // last marker stay inside the timeline's box.
  const fraction = (time) => (duration > 0 ? Math.min(1, Math.max(0, time / duration)) : 0);
  function place(marker, time) {
    marker.style.setProperty("--at", fraction(time));
  }

  function timeText(entry) {
    const wall = wallClock(origin, entry.time);
    return wall ? `${span(entry.time, entry.end)} · ${wall}` : span(entry.time, entry.end);
  }

  function label(entry) {
    entry.timeEl.textContent = timeText(entry);
    const at = wallClock(origin, entry.time);
    entry.marker.title = `${clock(entry.time)}${at ? ` · ${at}` : ""} ${entry.label}`;
    entry.marker.setAttribute("aria-label", `${sentence(noun)} at ${clock(entry.time)}${at ? ` (${at})` : ""}: ${entry.label}`);
  }

  function setOrigin(iso) {
    if (!iso || iso === origin) return;
    origin = iso;
    for (const entry of seen.values()) label(entry);
  }

  function setEnds(ends) {
    for (const [id, end] of Object.entries(ends || {})) {
      const entry = seen.get(id);
      if (entry && entry.end !== end) {
        entry.end = end;
        label(entry);
      }
    }
  }

  function setDuration(seconds) {
    const latest = Math.max(0, ...[...seen.values()].map((e) => Math.max(e.time, e.end || 0) + 1));
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

  function listed() {
    return [...seen.values()].filter((e) => e.counted).length;
  }

  function fill(run) {
    if (run) lastRun = run;
    const named = typeof countNoun === "function" ? countNoun() : countNoun;
    if (lastRun) fillCounters($("#counters"), lastRun, { listed: listed(), noun: named });
  }

  function addEvent(event) {
    const id = event.event_id || `w${event.window_index}`;
    if (seen.has(id)) return;
    const time = Number(event.stream_time ?? event.window_start ?? 0);
    const end = event.end_time ?? event.window_end ?? null;
    const text = event.explanation || event.description || event.summary || "";
    const thumb = local(event.thumbnail_url || event.frame_url);
    const entry = { time, end, label: event.label || event.type || noun, counted: counted(event) };
    const open = () => select(entry);
    entry.timeEl = h("span", { class: "time" });
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
          h("span", { class: "event-top" }, entry.timeEl, h("span", { class: "label" }, entry.label), event.confidence !== undefined ? h("span", { class: "confidence" }, percent(event.confidence)) : null),
          h("span", { class: "description" }, text),
        ),
      ),
    );
    entry.marker = h("button", { type: "button", class: "marker", "data-event-id": id, onclick: open });
    label(entry);
    seen.set(id, entry);
    const after = [...list.children].find((li) => Number(li.dataset.streamTime) > time) || null;
    list.insertBefore(entry.item, after);
    timeline.append(entry.marker);
    setDuration(0);
    place(entry.marker, time);
    $("#no-events").hidden = true;
    $("#event-count").textContent = `(${seen.size})`;
    fill();
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
    if (!LIVE.has(next)) {
      player.ended();
      goLive.hidden = true;
    }
  }

  function showError(err) {
    const p = $("#page-error");
    p.textContent = [err.message, err.remediation].filter(Boolean).join(" ");
    p.hidden = false;
  }

  /** The chart's data now, then every few seconds while the run is live (and once more after it ends). */
  async function followChart(extra = () => ({})) {
    for (;;) {
      const wasLive = LIVE.has(status);
      try {
        const data = await api(chartPath);
        setOrigin(data.started_at);
        setEnds(data.event_ends);
        (await chart).update(data, { end: duration, ...extra() });
      } catch {
        // the next round tries again
      }
      if (!wasLive && status !== null) return;
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }

  timeline.addEventListener("click", (event) => {
    if (event.target !== timeline && !event.target.classList.contains("track")) return;
    const track = $(".track", timeline).getBoundingClientRect();
    const at = Math.min(1, Math.max(0, (event.clientX - track.left) / track.width));
    if (duration > 0) player.seek(at * duration);
  });
  video.addEventListener("timeupdate", () => {
    playhead.style.setProperty("--at", fraction(player.position()));
    const live = player.isLive() && LIVE.has(status);
    goLive.hidden = !live;
    if (live) {
      const atEdge = player.behind() < 4;
      goLive.dataset.atEdge = String(atEdge);
      goLive.textContent = atEdge ? "● Live" : "Go live";
    }
  });
  goLive.addEventListener("click", () => player.goLive());
  $("#stop").textContent = stopLabel;
  return {
    addEvent,
    setDuration,
    setStatus,
    setOrigin,
    showError,
    fill,
    followChart,
    player,
    triggerTimes: () => [...seen.values()].filter((e) => e.counted).map((e) => e.time),
    isLive: () => LIVE.has(status),
  };
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
    page.setOrigin(data.run.started_at);
    page.setDuration(data.run.session_time);
    page.fill(data.run);
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
    chartKind: "session",
    chartPath: `/api/ui/sessions/${encodeURIComponent(sessionId)}/chunks`,
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
  page.followChart();
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
  let digest = false;
  const page = runPage({
    noun: "trigger",
    stopLabel: "Cancel job",
    chartKind: "job",
    chartPath: `/api/ui/jobs/${encodeURIComponent(jobId)}/checks`,
    // the counter beside the list counts what the list shows: triggers, or a digest's summaries
    counted: (event) => (digest ? event.window_index !== undefined : event.window_index === undefined),
    countNoun: () => (digest ? "summaries" : "triggers"),
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
  digest = job.job_type === "live-digest";
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
  page.setOrigin(job.started_at || job.created_at);
  showProblem(runProblem({ status: job.status, error: job.stats?.error, reason: job.stats?.reason }));
  for (const trigger of job.triggers) page.addEvent(trigger);
  for (const summary of job.summaries || []) page.addEvent(summary);
  page.player.start();
  page.followChart(() => ({ triggers: digest ? [] : page.triggerTimes() }));
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
