// The tinysrs web console: polls the HTTP API (SRS's /api/v1 and ours) once a second and draws
// the tab that is open. No framework, no build step.
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var auth = sessionStorage.getItem("tinysrs-auth");
  var tab = "overview";
  var vhosts = {};        // vhost id -> name
  var streams = [];       // last /api/v1/streams
  var clients = [];       // last /api/v1/clients
  var samples = [];       // [{t, inKbps, outKbps}] for the chart
  var points = [];        // the last RATE_SPAN + 1 [{t, recv, send}] of summaries
  var RATE_SPAN = 3;
  var preview = null;     // {player, stream}
  var SAMPLES = 120;

  function api(path, method) {
    var headers = {};
    if (auth) headers.Authorization = auth;
    // credentials "omit": a 401 comes back to us instead of the browser's own password
    // prompt (Fetch: only requests that include credentials prompt), and we send ours.
    return fetch(path, { method: method || "GET", headers: headers, credentials: "omit" }).then(function (r) {
      if (r.status === 401) { $("login").hidden = false; throw new Error("the API needs its password"); }
      if (!r.ok) throw new Error(path + ": HTTP " + r.status);
      return r.json();
    });
  }

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    td.textContent = text === undefined || text === null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  // A table body with nothing in it says so.
  function empty(body, text) {
    if (body.firstChild) return;
    var tr = document.createElement("tr"), td = cell(tr, text, "hint");
    td.colSpan = 9;
    body.appendChild(tr);
  }
  function button(td, label, onclick, cls) {
    var b = document.createElement("button");
    b.textContent = label;
    b.dataset.act = label.toLowerCase();
    if (cls) b.className = cls;
    b.onclick = onclick;
    td.appendChild(b);
    return b;
  }
  function bytes(n) {
    if (n >= 1073741824) return (n / 1073741824).toFixed(2) + " GiB";
    if (n >= 1048576) return (n / 1048576).toFixed(1) + " MiB";
    if (n >= 1024) return (n / 1024).toFixed(1) + " KiB";
    return n + " B";
  }
  function duration(s) {
    s = Math.floor(s);
    var d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
    return (d ? d + "d " : "") + (d || h ? h + "h " : "") + m + "m " + (s % 60) + "s";
  }
  function status(text) { $("status").textContent = text || ""; }
  // The path part of a stream's play URLs: /app/stream, with ?vhost= off the default vhost.
  function streamPath(s) { return s.url; }
  function vhostQuery(s) {
    var v = vhosts[s.vhost];
    return v && v !== "__defaultVhost__" ? "?vhost=" + encodeURIComponent(v) : "";
  }

  // ---- overview
  function overview() {
    return api("/api/v1/summaries").then(function (j) {
      var d = j.data, self = d.self, sys = d.system, live = d.tinysrs || {};
      // The RTMP port we listen on (ours, from the API): the publish hints name it.
      if (live.rtmp_port) setRtmpHost(location.hostname + ":" + live.rtmp_port);
      $("uptime").textContent = duration(self.srs_uptime);
      $("cpu").textContent = self.cpu_percent.toFixed(2) + " %";
      // budget_bytes: what the config allows at worst (tinysrs -t), ours.
      $("rss").textContent = bytes(self.mem_kbyte * 1024) + (live.budget_bytes ? " / " + bytes(live.budget_bytes) : "");
      $("load").textContent = sys.load_1m + " / " + sys.cpus + " CPU";
      $("conns").textContent = live.connections !== undefined ? live.connections : sys.conn_srs;
      $("counts").textContent = (live.sources !== undefined ? live.sources : streams.length) + " / " + (live.players !== undefined ? live.players : "-");
      // Rates over the last few seconds (writes to players come in bursts of mw_latency).
      // The byte counts are those of the clients connected now: one leaving lowers them,
      // which counts as 0.
      var now = { t: sys.srs_sample_time, recv: sys.srs_recv_bytes, send: sys.srs_send_bytes };
      var prev = points.length > RATE_SPAN ? points[points.length - 1 - RATE_SPAN] : points[0];
      points.push(now);
      if (points.length > RATE_SPAN + 1) points.shift();
      if (prev && now.t > prev.t) {
        var ms = now.t - prev.t;
        var kin = Math.max(0, now.recv - prev.recv) * 8 / ms;
        var kout = Math.max(0, now.send - prev.send) * 8 / ms;
        samples.push({ kin: kin, kout: kout });
        if (samples.length > SAMPLES) samples.shift();
        $("kin").textContent = kin.toFixed(0);
        $("kout").textContent = kout.toFixed(0);
        draw();
      }
    });
  }
  function draw() {
    var c = $("chart"), g = c.getContext("2d"), w = c.width, h = c.height;
    g.clearRect(0, 0, w, h);
    var max = 1;
    samples.forEach(function (s) { max = Math.max(max, s.kin, s.kout); });
    g.fillStyle = "#888"; g.font = "11px sans-serif";
    g.fillText(max.toFixed(0) + " kbit/s", 4, 12);
    g.strokeStyle = "#eee"; g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
    [["kin", "#2563eb"], ["kout", "#16a34a"]].forEach(function (line) {
      g.strokeStyle = line[1]; g.lineWidth = 2; g.beginPath();
      samples.forEach(function (s, i) {
        var x = w - (samples.length - 1 - i) * (w / (SAMPLES - 1));
        var y = h - 4 - (s[line[0]] / max) * (h - 20);
        if (i) g.lineTo(x, y); else g.moveTo(x, y);
      });
      g.stroke();
    });
  }

  // ---- streams
  function players(s) {
    var n = {};
    clients.forEach(function (c) { if (c.stream === s.id && !c.publish) n[c.type] = (n[c.type] || 0) + 1; });
    var parts = Object.keys(n).sort().map(function (t) { return t.replace("-play", "") + " " + n[t]; });
    return parts.length ? parts.join(", ") : "0";
  }
  function drawStreams() {
    var body = $("stream-rows");
    body.textContent = "";
    streams.forEach(function (s) {
      var tr = document.createElement("tr");
      tr.dataset.stream = s.url.slice(1);
      tr.dataset.id = s.id;
      cell(tr, s.url.slice(1) + (vhostQuery(s) ? " @" + vhosts[s.vhost] : ""));
      var v = s.video, a = s.audio;
      cell(tr, v ? v.codec + " " + v.width + "x" + v.height + (v.profile ? " " + v.profile : "") : "-", "codec");
      cell(tr, a ? a.codec + " " + a.sample_rate + " Hz" : "-", "acodec");
      cell(tr, s.kbps.recv_30s + " / " + s.kbps.send_30s, "num");
      cell(tr, players(s));
      var pub = cell(tr, s.publish.active ? s.publish.cid + " " : "none");
      if (s.publish.active) button(pub, "Kick", function () { kick(s.publish.cid); }, "danger");
      cell(tr, s.dvr ? s.dvr.state : "-");
      cell(tr, (s.forwards || []).map(function (f) { return f.url + " " + f.state; }).join(", ") || "-");
      var acts = cell(tr, "");
      if (s.publish.active) {
        button(acts, "FLV", function () { open(s, "flv"); });
        button(acts, "HLS", function () { open(s, "hls"); });
      }
      body.appendChild(tr);
    });
    empty(body, "No stream: publish to rtmp://" + rtmpHost + "/live/STREAM");
  }
  function open(s, kind) {
    close();
    var url = streamPath(s) + (kind === "hls" ? ".m3u8" : ".flv") + vhostQuery(s);
    var video = $("preview");
    $("preview-box").hidden = false;
    $("preview-name").textContent = url;
    // Audio that MSE does not play (a camera's G.711, "Other" in SRS's API; Opus in FLV) is
    // left out of the preview, which then plays the video.
    var hasAudio = s.audio ? /^(AAC|MP3)$/.test(s.audio.codec) : undefined;
    var player = TinyPlayer.play(video, url, kind, function (e) { status("preview: " + e); }, { hasAudio: hasAudio });
    $("preview-engine").textContent = player.engine;
    preview = { player: player, kind: kind, url: url };
    window.consolePreview = preview;
  }
  function close() {
    if (preview) preview.player.stop();
    preview = null;
    window.consolePreview = null;
    $("preview-box").hidden = true;
  }
  function kick(id) {
    return api("/api/v1/clients/" + encodeURIComponent(id), "DELETE").then(refresh, function (e) { status(e.message); });
  }

  // ---- clients
  function drawClients() {
    var body = $("client-rows");
    body.textContent = "";
    clients.forEach(function (c) {
      var tr = document.createElement("tr");
      tr.dataset.client = c.id;
      cell(tr, c.id);
      cell(tr, c.type);
      cell(tr, c.ip);
      cell(tr, c.url);
      cell(tr, bytes(c.send_bytes), "num");
      cell(tr, bytes(c.recv_bytes), "num");
      cell(tr, duration(c.alive), "num");
      button(cell(tr, ""), "Kick", function () { kick(c.id); }, "danger");
      body.appendChild(tr);
    });
    empty(body, "No publisher or player.");
  }

  // ---- GB28181
  function gb28181() {
    return api("/api/v1/gb28181/devices").then(function (j) {
      var body = $("gb-rows");
      body.textContent = "";
      $("gb-none").hidden = Array.isArray(j.devices);
      (j.devices || []).forEach(function (d) {
        (d.channels.length ? d.channels : [null]).forEach(function (ch) {
          var tr = document.createElement("tr");
          cell(tr, d.id);
          cell(tr, d.ip + ":" + d.port + " " + d.transport);
          cell(tr, (d.manufacturer + " " + d.model).trim());
          cell(tr, d.online ? "online" : "offline", d.online ? "good" : "bad");
          cell(tr, ch ? ch.id + (ch.name ? " " + ch.name : "") : "-");
          cell(tr, ch ? ch.status : "");
          cell(tr, ch ? ch.state + (ch.on_demand ? " (" + ch.on_demand + ")" : "") : "");
          var acts = cell(tr, "");
          if (ch) {
            tr.dataset.channel = d.id + "/" + ch.id;
            var base = "/api/v1/gb28181/devices/" + encodeURIComponent(d.id) + "/channels/" + encodeURIComponent(ch.id);
            button(acts, "Invite", function () { api(base + "/invite", "POST").then(gb28181, function (e) { status(e.message); }); });
            button(acts, "Bye", function () { api(base + "/bye", "POST").then(gb28181, function (e) { status(e.message); }); });
          }
          body.appendChild(tr);
        });
      });
      if (Array.isArray(j.devices)) empty(body, "No device has registered.");
    });
  }

  // ---- recordings
  function dvr() {
    return api("/api/v1/dvrs").then(function (j) {
      var body = $("dvr-rows");
      body.textContent = "";
      $("dvr-none").hidden = Array.isArray(j.dvrs);
      (j.dvrs || []).slice().sort(function (a, b) { return b.start_ms - a.start_ms; }).forEach(function (r) {
        var tr = document.createElement("tr");
        cell(tr, r.stream);
        cell(tr, new Date(r.start_ms).toLocaleString());
        cell(tr, duration(r.duration), "num");
        cell(tr, bytes(r.bytes), "num");
        cell(tr, r.state + (r.error ? ": " + r.error : ""));
        var acts = cell(tr, "");
        var root = (j.roots || []).map(function (x) { return x.root.replace(/\/$/, ""); })
          .filter(function (x) { return r.path.indexOf(x + "/") === 0; })[0];
        if (root !== undefined && r.state !== "writing") {
          // Served below dvr.http_mount (default /dvr/).
          var url = "/dvr" + r.path.slice(root.length);
          button(acts, "Play", function () {
            close();
            location.hash = "#streams";
            tab = "streams"; show();
            $("preview-box").hidden = false;
            $("preview-name").textContent = url;
            // An FLV recording through mpegts.js (not live), an MP4 one natively.
            var kind = /\.flv$/.test(url) ? "flv" : "mp4";
            var player = TinyPlayer.play($("preview"), url, kind, status);
            $("preview-engine").textContent = player.engine;
            preview = { player: player, kind: kind, url: url };
          });
          var a = document.createElement("a");
          a.href = url; a.textContent = "Download"; a.download = "";
          acts.appendChild(a);
        }
        body.appendChild(tr);
      });
      if (Array.isArray(j.dvrs)) empty(body, "No recording.");
    });
  }

  function refresh() {
    var work = [overview(), api("/api/v1/streams?count=1000"), api("/api/v1/clients?count=1000")];
    return Promise.all(work).then(function (r) {
      streams = r[1].streams || [];
      clients = r[2].clients || [];
      drawStreams();
      drawClients();
      status("");
      if (tab === "gb28181") return gb28181();
      if (tab === "dvr") return dvr();
    }).catch(function (e) { status(e.message); });
  }

  function show() {
    ["overview", "streams", "clients", "gb28181", "dvr"].forEach(function (t) { $(t).hidden = t !== tab; });
    document.querySelectorAll("nav a[data-tab]").forEach(function (a) { a.className = a.dataset.tab === tab ? "on" : ""; });
    if (tab !== "streams" && preview && preview.kind) close();
  }
  window.addEventListener("hashchange", function () { tab = location.hash.slice(1) || "overview"; show(); refresh(); });
  $("preview-close").onclick = close;
  $("login").onsubmit = function (e) {
    e.preventDefault();
    auth = "Basic " + btoa(this.user.value + ":" + this.password.value);
    sessionStorage.setItem("tinysrs-auth", auth);
    this.hidden = true;
    start();
  };
  // host:port of RTMP in the publish hints: the host the console was loaded from until the
  // first summaries give the port.
  var rtmpHost = location.hostname;
  function setRtmpHost(h) {
    rtmpHost = h;
    document.querySelectorAll(".rtmphost").forEach(function (e) { e.textContent = h; });
  }
  setRtmpHost(rtmpHost);
  document.querySelectorAll(".hostport").forEach(function (e) { e.textContent = location.host; });

  var timer = null;
  function start() {
    // One request first: a wrong password costs one of the five tries a minute the API allows
    // an address, not one per request.
    api("/api/v1/versions").then(function (v) {
      $("version").textContent = v.data.version;
      return api("/api/v1/vhosts");
    }).then(function (r) {
      (r.vhosts || []).forEach(function (v) { vhosts[v.id] = v.name; });
      if (!timer) timer = setInterval(refresh, 1000);
      return refresh();
    }).catch(function (e) { status(e.message); });
  }
  tab = location.hash.slice(1) || "overview";
  show();
  start();
})();
