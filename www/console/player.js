// Plays a live URL in a <video>: WebRTC through WHEP (RTCPeerConnection, no library),
// HTTP-FLV (and HTTP-TS) through mpegts.js, HLS through hls.js
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
  // WHEP (the WHEP draft, SRS's /rtc/v1/whep/): a receive-only offer POSTed as
  // application/sdp, the answer from the 201, DELETE on its Location to stop. No trickle ICE
  // and no wait for our candidates: the server is ICE-lite with one host candidate and learns
  // the browser's address from its connectivity checks.
  function whep(video, url, fail) {
    var pc = new RTCPeerConnection();
    var resource = null, stopped = false;
    var started = performance.now();
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    // Video and audio (G.711 or Opus, when the stream has it) in one stream for the element.
    var tracks = new MediaStream();
    pc.ontrack = function (e) {
      tracks.addTrack(e.track);
      if (video.srcObject !== tracks) video.srcObject = tracks;
      video.play().catch(function () {});
    };
    pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () {
        return fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: pc.localDescription.sdp });
      })
      .then(function (r) {
        if (r.status !== 201) return r.text().then(function (t) { throw new Error("WHEP " + r.status + ": " + t.trim()); });
        resource = r.headers.get("Location");
        return r.text();
      })
      .then(function (sdp) { if (!stopped) return pc.setRemoteDescription({ type: "answer", sdp: sdp }); })
      .catch(function (e) { fail(String(e.message || e)); });
    return {
      engine: "WebRTC (WHEP)",
      pc: pc,
      started: started,
      stop: function () {
        stopped = true;
        pc.close();
        video.srcObject = null;
        if (resource) fetch(resource, { method: "DELETE" }).catch(function () {});
      },
    };
  }

  // kind: "whep" | "flv" | "ts" | "hls" | "mp4". Returns { engine, stop() }; engine says what
  // plays it.
  function play(video, url, kind, onError) {
    var fail = onError || function () {};
    if (kind === "whep") return whep(video, url, fail);
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
