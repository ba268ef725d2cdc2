// The recording's player: the signed HLS playlist, played natively where the browser can, else with
// hls.js (installed from the npm registry by `npm ci --prefix src/livesight/web`, served by the server).
//
// "Can" includes seeking: while a session runs its playlist is a growing EVENT playlist, and some
// native players (Chromium's) treat that as a live stream with no seekable range, so events could
// not be played back; there the page uses hls.js too.
//
// Positions are on the session timeline: chunks tile it from 0, so the recording's playback position
// is `stream_time`. hls.js maps the playlist's first segment to its own start (normally 0, also for a
// live EVENT playlist, which keeps every segment); `offset()` reads it rather than assuming it.
//
// A running session or job opens at its live edge, playing: hls.js's `liveSyncPosition` (a couple of
// segments behind the newest), natively the end of the seekable range. `goLive()` goes back there.

let hlsScript = null;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function loadHlsJs() {
  if (window.Hls) return Promise.resolve(window.Hls);
  hlsScript =
    hlsScript ||
    new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/ui/vendor/hls.min.js";
      script.onload = () => (window.Hls ? resolve(window.Hls) : reject(new Error("hls.js did not load")));
      script.onerror = () => reject(new Error("hls.js is not installed on the server"));
      document.head.append(script);
    });
  return hlsScript;
}

function once(target, name) {
  return new Promise((resolve) => target.addEventListener(name, resolve, { once: true }));
}

/** Resolves "meta" once the video knows its duration, "error" if it fails to load. */
function loaded(video) {
  return Promise.race([once(video, "loadedmetadata").then(() => "meta"), once(video, "error").then(() => "error")]);
}

/** `getManifest()` returns a fresh signed playlist URL; `say(text)` shows a message under the player. */
export function createPlayer(video, getManifest, say) {
  const wanted = new URLSearchParams(location.search).get("player"); // "hls.js" or "native": to test either
  const hasNative = video.canPlayType("application/vnd.apple.mpegurl") !== "";
  let hls = null;
  let started = null;
  let refreshing = false;
  let live = false;

  /** A signed playlist URL that lists at least one chunk (an empty playlist is an error to players). */
  async function firstPlaylist() {
    let url = await getManifest();
    for (let waited = 0; ; waited++) {
      const response = await fetch(url, { cache: "no-store" });
      if (response.status === 403) url = await getManifest();
      else if (response.ok) {
        const text = await response.text();
        if (text.includes("#EXTINF")) return { url, live: !text.includes("#EXT-X-ENDLIST") };
        if (text.includes("#EXT-X-ENDLIST")) return { url: null, live: false };
      }
      if (waited === 0) say("Waiting for the first chunk to be recorded…");
      await sleep(2000);
    }
  }

  async function refresh() {
    // Signed links expire (LIVESIGHT_MANIFEST_TTL_SECONDS): get a new one and carry on where we were.
    if (refreshing) return;
    refreshing = true;
    try {
      const at = video.currentTime;
      const url = await getManifest();
      if (hls) {
        hls.loadSource(url);
        hls.startLoad(at);
      } else {
        video.src = url;
        if ((await loaded(video)) === "meta") video.currentTime = at;
      }
    } catch {
      say("The recording cannot be loaded right now.");
    } finally {
      refreshing = false;
    }
  }

  async function tryNative(url, live, force) {
    video.src = url;
    const result = await loaded(video);
    if (force || (result === "meta" && (!live || video.seekable.length > 0))) {
      video.dataset.engine = "native";
      video.addEventListener("error", () => setTimeout(refresh, 1000));
      if (result === "error") setTimeout(refresh, 1000);
      return true;
    }
    video.removeAttribute("src");
    video.load();
    return false;
  }

  async function startHlsJs(url) {
    const Hls = await loadHlsJs();
    if (!Hls.isSupported()) throw new Error("this browser cannot play HLS");
    video.dataset.engine = "hls.js";
    hls = new Hls({ enableWorker: true, lowLatencyMode: false, liveSyncDurationCount: 2 });
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
        if (data.response && data.response.code === 403) refresh();
        else setTimeout(() => hls.startLoad(), 2000);
      } else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) {
        hls.recoverMediaError();
      } else {
        say(`Playback failed: ${data.details}`);
      }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    await once(video, "loadedmetadata");
  }

  async function run() {
    const first = await firstPlaylist();
    const url = first.url;
    live = first.live;
    if (url === null) {
      say("Nothing was recorded.");
      return;
    }
    say("");
    if (wanted !== "hls.js" && (hasNative || wanted === "native")) {
      if (await tryNative(url, live, wanted === "native")) return atLiveEdge();
    }
    try {
      await startHlsJs(url);
      await atLiveEdge();
    } catch (err) {
      if (hasNative && (await tryNative(url, live, true))) {
        say("Playing natively; seeking in a live recording needs hls.js (npm ci --prefix src/livesight/web).");
      } else {
        say(`The recording cannot be played: ${err.message} (run: npm ci --prefix src/livesight/web).`);
      }
    }
  }

  /** Where the live edge is on the video element's clock (null: not live, or not known yet). */
  function liveEdge() {
    if (!live) return null;
    if (hls) {
      const sync = hls.liveSyncPosition;
      if (Number.isFinite(sync) && sync > 0) return sync;
      const known = details();
      const target = known ? known.targetduration || 0 : 0;
      return Math.max(0, knownEnd() - 2 * target);
    }
    return video.seekable.length ? Math.max(0, video.seekable.end(video.seekable.length - 1) - 1) : null;
  }

  async function atLiveEdge() {
    if (!live) return;
    const edge = liveEdge();
    if (edge !== null && edge > video.currentTime + 0.5) video.currentTime = edge;
    try {
      await video.play();
    } catch {
      say("Press play to start the recording.");
    }
  }

  /** Jump back to the live edge (after seeking into the past), playing. */
  async function goLive() {
    await start();
    if (video.readyState < HTMLMediaElement.HAVE_METADATA) await once(video, "loadedmetadata");
    const edge = liveEdge();
    if (edge !== null) video.currentTime = edge;
    try {
      await video.play();
    } catch {
      say("Press play to start the recording.");
    }
  }

  /** Seconds the playback is behind the live edge (0 at the edge or when not live). */
  function behind() {
    const edge = liveEdge();
    return edge === null ? 0 : Math.max(0, edge - video.currentTime);
  }

  /** The recording has ended: no live edge any more (the playlist got #EXT-X-ENDLIST). */
  function ended() {
    live = false;
  }

  function start() {
    started = started || run().catch(() => say("The recording cannot be loaded."));
    return started;
  }

  function details() {
    const level = hls && hls.levels ? hls.levels[Math.max(0, hls.currentLevel)] : null;
    return level && level.details ? level.details : null;
  }

  /** Where `stream_time` 0 is on the video element's clock. */
  function offset() {
    const known = details();
    return known && known.fragments.length ? known.fragments[0].start : 0;
  }

  /** The end of the recording as the player knows it (a live playlist is reloaded only now and then). */
  function knownEnd() {
    const known = details();
    if (known) {
      const last = known.fragments[known.fragments.length - 1];
      return last ? last.start + last.duration : 0;
    }
    if (video.seekable.length) return video.seekable.end(video.seekable.length - 1);
    return Number.isFinite(video.duration) ? video.duration : 0;
  }

  /** Load the playlist afresh and start at `position`: an event can be newer than the player's copy. */
  async function reloadAt(position) {
    const url = await getManifest();
    if (hls) {
      hls.config.startPosition = position;
      hls.loadSource(url);
    } else {
      video.src = url;
    }
    await loaded(video);
  }

  /** Play from `seconds` on the session timeline. */
  async function seek(seconds) {
    await start();
    if (video.readyState < HTMLMediaElement.HAVE_METADATA) await once(video, "loadedmetadata");
    const target = Math.max(0, seconds);
    if (offset() + target > knownEnd() - 0.1) await reloadAt(offset() + target);
    video.currentTime = offset() + target;
    try {
      await video.play();
    } catch {
      say("Press play to start the recording.");
    }
  }

  return {
    start,
    seek,
    goLive,
    behind,
    ended,
    isLive: () => live,
    position: () => video.currentTime - offset(),
  };
}
