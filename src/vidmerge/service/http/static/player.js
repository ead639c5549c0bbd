/* vidmerge landing-page player. No dependencies beyond the vendored hls.js (same origin).
 *
 * Apple devices play HLS natively; other browsers use hls.js on Media Source Extensions
 * (recent Chromium also answers "maybe" for native HLS, but hls.js is the player whose retries
 * are tuned below); anything else gets the MP4, which exists once the render is done.
 *
 * The playlist is complete the moment the webhook answers, but its personalized segments may
 * still be rendering: the server then holds the request until the segment exists (up to
 * VIDMERGE_SEGMENT_WAIT_SECONDS, 20 s by default) or answers 503 + Retry-After. So the loader
 * waits long for a first byte and retries 5xx a few times, one second apart.
 *
 * Playback telemetry is kept on window.vidmergeStats (read by the browser test), and sent to
 * the server as beacons (data-events): a random id per page load (no cookie, nothing about the
 * viewer), `play` once, progress milestones 25/50/75/95/100 once each (seeking past one sends
 * it), `pause`, `replay`, `error`, and the quality figures `ttff` (ms to the first frame),
 * `stall` (seconds waited, once it plays again) and `gave_up` (seconds waited by a viewer who left
 * while the player waited: see gaveUp). CTA clicks are counted by the server's /go.
 */
(function () {
  "use strict";

  var HLS_TYPE = "application/vnd.apple.mpegurl";
  var video = document.getElementById("v");
  if (!video) return;

  var MILESTONES = [25, 50, 75, 95, 100];
  var MAX_WAIT = 3600; // seconds: the server takes no longer wait
  var session = randomId();
  var outbox = [];
  var sent = {}; // milestones and "play" already sent in this page session
  var stallFrom = null;
  var startFrom = null; // play was asked for (autoplay or the viewer) and nothing has played yet
  var ended = false; // while the last milestone is taken
  var finished = false; // played to the end: the next play is a replay

  var stats = (window.vidmergeStats = {
    engine: null, // "native" | "hls.js" | "mp4"
    playing: false,
    started_at: null, // performance.now() of the first "playing"
    start_time: null,
    buffered_from: null,
    first_frame_at: null, // performance.now() of the first presented frame
    waiting: 0, // "waiting" events after playback started (stalls)
    waiting_before_start: 0,
    waits: [], // [{at: performance.now(), time: currentTime}] after start
    fragments: 0, // hls.js fragments loaded
    heights: [], // the height of each fragment hls.js loaded, in order: the renditions of the ladder played
    subtitles: [], // the languages of the master playlist's subtitles tracks (hls.js)
    errors: [], // hls.js errors, fatal or not (a 503 retry is a non-fatal one)
    fatal: null,
    session: session,
    beacons: [], // every event sent, in order (for the browser test)
  });

  function now() {
    return Math.round(performance.now());
  }

  function randomId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // -- events -------------------------------------------------------------------------------

  function send(type, extra) {
    var event = { type: type };
    for (var key in extra || {}) event[key] = extra[key];
    outbox.push(event);
    stats.beacons.push(event);
    if (outbox.length >= 8 || type !== "progress") flush();
  }

  function once(key, type, extra) {
    if (sent[key]) return;
    sent[key] = true;
    send(type, extra);
  }

  function flush() {
    var url = video.getAttribute("data-events");
    if (!url || !outbox.length) return;
    var body = JSON.stringify({ session: session, events: outbox.splice(0, 32) });
    var blob = new Blob([body], { type: "text/plain" }); // a simple request: no preflight
    if (!(navigator.sendBeacon && navigator.sendBeacon(url, blob))) {
      fetch(url, { method: "POST", body: body, keepalive: true, credentials: "omit" }).catch(function () {});
    }
  }

  function progress() {
    var d = video.duration;
    if (!d || !isFinite(d)) return;
    var reached = ended ? 100 : (video.currentTime / d) * 100;
    MILESTONES.forEach(function (m) {
      if (reached >= m - (m === 100 ? 0.5 : 0)) once("p" + m, "progress", { milestone: m });
    });
  }

  function track() {
    video.addEventListener("playing", function () {
      if (stallFrom !== null) {
        send("stall", { value: Math.round(performance.now() - stallFrom) / 1000 });
        stallFrom = null;
      }
      once("play", "play");
    });
    video.addEventListener("waiting", function () {
      // a stall: playback waits for data it should have had (not a seek's wait)
      if (stats.started_at !== null && stallFrom === null && !video.seeking) stallFrom = performance.now();
    });
    video.addEventListener("play", function () {
      if (stats.started_at === null && startFrom === null) startFrom = performance.now();
      if (!finished) return;
      finished = false;
      document.getElementById("end").hidden = true;
      send("replay");
    });
    video.addEventListener("timeupdate", progress);
    video.addEventListener("seeked", progress);
    video.addEventListener("pause", function () {
      if (stats.started_at === null) startFrom = null; // the viewer stopped before it started: no wait
      if (!video.ended) send("pause");
    });
    video.addEventListener("ended", function () {
      ended = true;
      progress();
      ended = false;
      finished = true;
      document.getElementById("end").hidden = false;
      flush();
    });
    video.addEventListener("error", function () {
      send("error", { detail: "media-" + (video.error ? video.error.code : "unknown") });
    });
    var replay = document.getElementById("replay");
    if (replay) {
      replay.addEventListener("click", function () {
        video.currentTime = 0;
        video.play(); // the "play" listener sends `replay`
      });
    }
    Array.prototype.forEach.call(document.querySelectorAll("a.cta"), function (a) {
      a.href = a.getAttribute("href") + "?s=" + session; // the click is counted by /go, in this session
      a.addEventListener("click", flush);
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") leave();
    });
    window.addEventListener("pagehide", leave);
  }

  function leave() {
    gaveUp();
    flush();
  }

  // A wait the viewer leaves never ends, so it is never a `stall`: say so as the page goes. Hidden
  // counts as gone: a phone may discard a hidden page without `pagehide`, so this is the last sure
  // moment (a viewer who comes back and watches on has still been counted, once).
  function gaveUp() {
    if (video.paused || video.ended || video.error) return; // not waiting on us
    var from = stallFrom !== null ? stallFrom : stats.started_at === null ? startFrom : null;
    if (from === null) return;
    var waited = Math.min(MAX_WAIT, Math.round(performance.now() - from) / 1000);
    once("gave_up", "gave_up", { value: waited, detail: stallFrom !== null ? "stall" : "start" });
  }

  function watch() {
    video.addEventListener("playing", function () {
      stats.playing = true;
      if (stats.started_at !== null) return;
      stats.started_at = now();
      stats.start_time = video.currentTime; // where playback began (hls.js skips a hole at 0)
      stats.buffered_from = video.buffered.length ? video.buffered.start(0) : null;
    });
    video.addEventListener("pause", function () {
      stats.playing = false;
    });
    video.addEventListener("waiting", function () {
      if (stats.started_at === null) {
        stats.waiting_before_start += 1;
        return;
      }
      stats.waiting += 1;
      stats.waits.push({ at: now(), time: video.currentTime });
    });
    function firstFrame() {
      stats.first_frame_at = now();
      once("ttff", "ttff", { value: stats.first_frame_at });
    }
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(firstFrame);
    else video.addEventListener("loadeddata", firstFrame, { once: true });
  }

  function play() {
    video.muted = true; // browsers only autoplay muted video
    var started = video.play();
    if (started && started.catch) started.catch(function () { /* the controls remain */ });
  }

  function useFile(url, engine) {
    stats.engine = engine;
    video.src = url;
    play();
  }

  function useHlsJs(url, fallback) {
    stats.engine = "hls.js";
    var patience = {
      maxTimeToFirstByteMs: 25000, // longer than the server's segment wait
      maxLoadTimeMs: 40000,
      timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
      errorRetry: { maxNumRetry: 8, retryDelayMs: 1000, maxRetryDelayMs: 4000 }, // 503 + Retry-After: 1
    };
    var hls = new window.Hls({
      startLevel: 0, // the ladder's lowest rendition: rendered and sent soonest; ABR climbs from there
      capLevelToPlayerSize: true,
      lowLatencyMode: false,
      startFragPrefetch: true,
      maxBufferLength: 30,
      maxMaxBufferLength: 60,
      backBufferLength: 30,
      fragLoadPolicy: { default: patience },
      errorPenaltyExpireMs: 8000, // a rendition refused (429: not ready in time) may be climbed to again
    });
    var recovered = false;
    hls.on(window.Hls.Events.FRAG_LOADED, function (_, data) {
      stats.fragments += 1;
      var level = hls.levels[data.frag.level];
      if (level && stats.heights.length < 200) stats.heights.push(level.height);
    });
    // The template's captions (the master playlist's subtitles group): shown from the start, as
    // the video starts muted; the controls' menu turns them off.
    hls.subtitleDisplay = true;
    hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, function (_, data) {
      stats.subtitles = data.subtitleTracks.map(function (t) { return t.lang; });
      if (data.subtitleTracks.length && hls.subtitleTrack < 0) hls.subtitleTrack = 0;
    });
    hls.on(window.Hls.Events.ERROR, function (_, data) {
      var code = data.response ? data.response.code : null;
      if (stats.errors.length < 50) stats.errors.push({ details: data.details, fatal: data.fatal, code: code });
      if (!data.fatal) return;
      if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR && !recovered) {
        recovered = true;
        hls.recoverMediaError();
        return;
      }
      stats.fatal = data.details;
      send("error", { detail: String(data.details).slice(0, 60) });
      hls.destroy();
      fallback();
    });
    hls.loadSource(url);
    hls.attachMedia(video);
    play();
  }

  // "Tap for sound" on a touch screen, where a video plays by itself only muted; a desktop's
  // controls have their own volume button (and nothing there is tapped)
  function unmuteButton() {
    var button = document.getElementById("unmute");
    var touch = navigator.maxTouchPoints > 0 || window.matchMedia("(any-pointer: coarse)").matches;
    if (!button || !touch) return;
    function sync() {
      button.hidden = !video.muted || video.paused;
    }
    button.addEventListener("click", function () {
      video.muted = false;
      video.volume = 1;
      if (video.paused) video.play();
      sync();
    });
    video.addEventListener("volumechange", sync);
    video.addEventListener("playing", sync);
    video.addEventListener("pause", sync);
  }

  var hlsUrl = video.getAttribute("data-hls");
  var mp4Url = video.getAttribute("data-mp4");
  var native = video.canPlayType(HLS_TYPE) !== "";
  var apple = /Apple/.test(navigator.vendor || "");
  var mse = !!(window.Hls && window.Hls.isSupported());

  watch();
  track();
  unmuteButton();
  if (native && (apple || !mse)) useFile(hlsUrl, "native");
  else if (mse) useHlsJs(hlsUrl, function () { useFile(mp4Url, "mp4"); });
  else useFile(mp4Url, "mp4");
})();
