// The run pages' charts, drawn with uPlot (installed from the npm registry like hls.js, served at
// /ui/vendor/uplot.esm.js): a job's checks over time (the model's confidence, coloured by its verdict,
// triggers as vertical lines) and a session's chunks (events per chunk, review status as a strip);
// the source's gaps are shaded on both. The x axis is the run's timeline, in seconds, like the markers.

import { clock, h } from "./dom.js";

let uplot = null;

function loadUPlot() {
  if (!uplot) {
    const css = h("link", { rel: "stylesheet", href: "/ui/vendor/uplot.min.css" });
    document.head.append(css);
    uplot = import("/ui/vendor/uplot.esm.js").then((module) => module.default);
  }
  return uplot;
}

const COLOURS = {
  yes: "#a40e26",
  no: "#59636e",
  reused: "#0b5cad",
  failed: "#7a4d00",
  trigger: "rgba(164, 14, 38, 0.55)",
  gap: "rgba(240, 163, 0, 0.22)",
  analysed: "#116329",
  recorded: "#c3cad3",
  failedChunk: "#a40e26",
  events: "rgba(11, 92, 173, 0.75)",
};

function points(stroke, size = 7) {
  return { stroke, fill: stroke, size, width: 0, show: true };
}

/** Shade the gaps (`[{session_time, wall_seconds}]`): a thin band where the source delivered nothing. */
function shadeGaps(u, gaps) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.fillStyle = COLOURS.gap;
  for (const gap of gaps) {
    const x = u.valToPos(gap.session_time, "x", true);
    const width = Math.max(4 * devicePixelRatio, u.valToPos(gap.session_time + Math.max(gap.wall_seconds, 1), "x", true) - x);
    ctx.fillRect(x, bbox.top, width, bbox.height);
  }
  ctx.restore();
}

function verticals(u, times, colour) {
  const { ctx, bbox } = u;
  ctx.save();
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2 * devicePixelRatio;
  ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
  for (const t of times) {
    const x = Math.round(u.valToPos(t, "x", true));
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
  }
  ctx.restore();
}

/** A job's checks as uPlot's aligned columns: x, then the verdict yes / no (judged by the model or reused by
 * the change gate), a ring on the reused ones, and the failed checks (at 0). */
function checkColumns(checks) {
  const columns = [[], [], [], [], []];
  for (const c of checks) {
    columns[0].push(c.stream_time);
    const y = c.confidence ?? 0;
    columns[1].push(!c.failed && c.triggered === true ? y : null);
    columns[2].push(!c.failed && c.triggered === false ? y : null);
    columns[3].push(!c.failed && c.reused ? y : null);
    columns[4].push(c.failed ? 0 : null);
  }
  return columns;
}

function sized(el) {
  return { width: Math.max(200, Math.floor(el.clientWidth)), height: 180 };
}

/**
 * A chart in `el`. `kind` "job" (data: GET /api/ui/jobs/{id}/checks) or "session" (GET
 * /api/ui/sessions/{id}/chunks). Returns `{update(data, extra)}`; `extra.triggers` are a job's trigger
 * times, `extra.end` the timeline's length. The uPlot instance is `el.plot` (the tests read its data).
 */
export async function createChart(el, kind) {
  let UPlot;
  try {
    UPlot = await loadUPlot();
  } catch {
    el.replaceChildren(h("p", { class: "hint" }, "No chart: uPlot is not installed on the server (npm ci --prefix src/livesight/web)."));
    return { update() {} };
  }
  let state = { gaps: [], triggers: [], chunks: [], end: 0 };
  const xScale = { time: false, range: (_u, min, max) => [0, Math.max(max, state.end, 1)] };
  const axes = [
    { values: (_u, ticks) => ticks.map((t) => clock(t)), size: 36 },
    kind === "job"
      ? { label: "confidence", values: (_u, ticks) => ticks.map((t) => `${Math.round(t * 100)}%`), size: 50 }
      : { label: "events", size: 50, incrs: [1, 2, 5, 10, 20, 50] },
  ];
  let options;
  if (kind === "job") {
    options = {
      ...sized(el),
      scales: { x: xScale, y: { range: [0, 1.05] } },
      axes,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: "at", value: (_u, v) => (v === null ? "—" : clock(v)) },
        { label: "yes", stroke: COLOURS.yes, paths: () => null, points: points(COLOURS.yes, 8) },
        { label: "no", stroke: COLOURS.no, paths: () => null, points: points(COLOURS.no) },
        {
          label: "reused by the gate",
          stroke: COLOURS.reused,
          paths: () => null,
          points: { stroke: COLOURS.reused, fill: "rgba(0, 0, 0, 0)", size: 13, width: 1.5, show: true },
        },
        { label: "failed", stroke: COLOURS.failed, paths: () => null, points: points(COLOURS.failed, 7) },
      ],
      hooks: {
        drawClear: [(u) => shadeGaps(u, state.gaps)],
        draw: [(u) => verticals(u, state.triggers, COLOURS.trigger)],
      },
    };
  } else {
    options = {
      ...sized(el),
      scales: { x: xScale, y: { range: (_u, _min, max) => [0, Math.max(2, max + 1)] } },
      axes,
      legend: { show: true },
      cursor: { drag: { x: false, y: false } },
      series: [
        { label: "chunk at", value: (_u, v) => (v === null ? "—" : clock(v)) },
        { label: "events", stroke: COLOURS.events, fill: COLOURS.events, paths: UPlot.paths.bars({ size: [0.8, 40] }), points: { show: false } },
      ],
      hooks: {
        drawClear: [(u) => shadeGaps(u, state.gaps)],
        draw: [(u) => statusStrip(u, state.chunks)],
      },
    };
  }
  const plot = new UPlot(options, kind === "job" ? [[], [], [], [], []] : [[], []], el);
  el.plot = plot;
  new ResizeObserver(() => plot.setSize(sized(el))).observe(el);

  function update(data, extra = {}) {
    state = {
      gaps: data.gaps || [],
      triggers: extra.triggers || [],
      chunks: data.chunks || [],
      end: Math.max(extra.end || 0, ...(data.chunks || []).map((c) => c.end_time)),
    };
    if (kind === "job") {
      plot.setData(checkColumns(data.checks || []));
      el.dataset.checks = String((data.checks || []).length);
      el.dataset.yesTimes = (data.checks || []).filter((c) => c.triggered === true).map((c) => c.stream_time).join(" ");
    } else {
      const chunks = data.chunks || [];
      plot.setData([chunks.map((c) => (c.start_time + c.end_time) / 2), chunks.map((c) => c.event_count)]);
      el.dataset.chunks = String(chunks.length);
    }
  }
  return { update };
}

/** Each chunk's review status as a strip along the bottom: analysed, not reviewed, failed. */
function statusStrip(u, chunks) {
  const { ctx, bbox } = u;
  const height = 6 * devicePixelRatio;
  ctx.save();
  for (const chunk of chunks) {
    ctx.fillStyle = chunk.status === "analysed" ? COLOURS.analysed : chunk.status === "failed" ? COLOURS.failedChunk : COLOURS.recorded;
    const x = u.valToPos(chunk.start_time, "x", true);
    const width = Math.max(1, u.valToPos(chunk.end_time, "x", true) - x - devicePixelRatio);
    ctx.fillRect(x, bbox.top + bbox.height - height, width, height);
  }
  ctx.restore();
}
