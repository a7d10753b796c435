// Plays a live URL in a <video>: HTTP-FLV (and HTTP-TS) through mpegts.js, HLS through hls.js
// where the browser has Media Source Extensions, else the browser's own HLS (iOS before
// 17.1), recordings (MP4) natively. hls.js comes first even where the browser plays HLS
// itself (Safari; Chromium since 141): its live edge and errors are the same everywhere.
// Used by the console's preview and by /players/. Needs vendor/mpegts.min.js and
// vendor/hls.light.min.js loaded first.
"use strict";
var TinyPlayer = (function () {
  if (window.mpegts) {
    // Keep the browser's console for real errors.
    mpegts.LoggingControl.enableVerbose = false;
    mpegts.LoggingControl.enableDebug = false;
    mpegts.LoggingControl.enableInfo = false;
  }
  // kind: "flv" | "ts" | "hls" | "mp4". Returns { engine, stop() }; engine says what plays it.
  function play(video, url, kind, onError) {
    var fail = onError || function () {};
    if ((kind === "flv" || kind === "ts") && window.mpegts && mpegts.getFeatureList().mseLivePlayback) {
      var p = mpegts.createPlayer(
        { type: kind === "flv" ? "flv" : "mpegts", isLive: !/^\/dvr\//.test(url), url: url },
        { enableWorker: false, liveBufferLatencyChasing: true, lazyLoad: false }
      );
      p.on(mpegts.Events.ERROR, function (type, detail) { fail(type + ": " + detail); });
      p.attachMediaElement(video);
      p.load();
      var started = p.play();
      if (started && started.catch) started.catch(function () {});
      return {
        engine: "mpegts.js " + mpegts.version,
        stop: function () { p.pause(); p.unload(); p.detachMediaElement(); p.destroy(); },
      };
    }
    if (kind === "hls" && window.Hls && Hls.isSupported()) {
      var h = new Hls({ liveSyncDurationCount: 2, debug: false });
      h.on(Hls.Events.ERROR, function (_, d) { if (d.fatal) fail(d.type + ": " + d.details); });
      h.loadSource(url);
      h.attachMedia(video);
      h.on(Hls.Events.MANIFEST_PARSED, function () { video.play().catch(function () {}); });
      return { engine: "hls.js " + Hls.version, stop: function () { h.destroy(); } };
    }
    if (kind === "flv" || kind === "ts") {
      fail("this browser has no Media Source Extensions: try HLS");
      return { engine: "none", stop: function () {} };
    }
    video.src = url;
    video.play().catch(function () {});
    return {
      engine: "native",
      stop: function () { video.pause(); video.removeAttribute("src"); video.load(); },
    };
  }
  return { play: play };
})();
