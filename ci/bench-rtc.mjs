// The WebRTC half of ci/bench-rtc (issue 15): PLAYERS WHEP players of STREAM in headless
// Chromium, spread over PAGES pages of one browser (one page by default), each an
// RTCPeerConnection with recvonly video and audio transceivers whose offer is POSTed to
// /rtc/v1/whep/ as application/sdp, as the players page does (no <video>: Chromium decodes the
// frames without one). Once every player has decoded a frame (getStats inbound-rtp
// framesDecoded > 0; one that has not within 60 s, or whose offer was refused, has failed),
// WARMUP s, then WINDOW s over which the server's CPU seconds (utime+stime of
// /proc/SERVER_PID/stat) and Chromium's (its processes') are read, and per player the
// packets, frames and bytes getStats counts. VmRSS of the server is read before the first
// offer and at the window's end. Then every player is closed and its resource DELETEd.
// Prints a line per phase, then one JSON line (last) for ci/bench-rtc.
// Env: BASE, STREAM (app/stream), PLAYERS, PAGES, WINDOW, WARMUP, SERVER_PID, CLK_TCK,
// NPM_DIR, PROFILE.
import { createRequire } from "node:module";
import { readFileSync, readdirSync } from "node:fs";

const require = createRequire(process.env.NPM_DIR + "/");
const puppeteer = require("puppeteer-core");
const BASE = process.env.BASE;
const STREAM = process.env.STREAM || "live/bench";
const N = Number(process.env.PLAYERS || 50);
const PAGES = Math.max(1, Math.min(N, Number(process.env.PAGES || 1)));
const WINDOW = Number(process.env.WINDOW || 20);
const WARMUP = Number(process.env.WARMUP || 3);
const SERVER = Number(process.env.SERVER_PID);
const HZ = Number(process.env.CLK_TCK || 100);
const SETUP_S = 60;
const started = Date.now();
const log = (m) => console.log(`${((Date.now() - started) / 1000).toFixed(1)} s ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// utime+stime and ppid of a process from /proc/PID/stat (the fields after the command's ")").
function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return { ppid: Number(f[1]), cpu: (Number(f[11]) + Number(f[12])) / HZ };
  } catch {
    return null;
  }
}
const serverCpu = () => procStat(SERVER).cpu;
function serverKb(key) {
  const m = readFileSync(`/proc/${SERVER}/status`, "utf8").match(new RegExp(`^${key}:\\s+(\\d+)`, "m"));
  return m ? Number(m[1]) : null;
}
// The CPU seconds of a process and all its descendants (Chromium's renderer, GPU, network...).
function treeCpu(root) {
  const procs = new Map();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const st = procStat(d);
    if (st) procs.set(Number(d), st);
  }
  let sum = 0;
  for (const [pid, st] of procs) {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = procs.get(p)?.ppid ?? 0, hops++) {
      if (p === root) {
        sum += st.cpu;
        break;
      }
    }
  }
  return sum;
}

const [app, name] = [STREAM.slice(0, STREAM.lastIndexOf("/")), STREAM.slice(STREAM.lastIndexOf("/") + 1)];
const url = `/rtc/v1/whep/?app=${encodeURIComponent(app)}&stream=${encodeURIComponent(name)}`;

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  userDataDir: process.env.PROFILE,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
  defaultViewport: { width: 640, height: 360 },
});
const browserPid = browser.process().pid;
let result = null;
try {
  const pages = [];
  for (let i = 0; i < PAGES; i++) {
    const page = await browser.newPage();
    page.on("pageerror", (e) => log(`page ${i} error: ${e.message}`));
    await page.goto(BASE + "/players/", { waitUntil: "load" });
    pages.push(page);
  }
  const rssBase = serverKb("VmRSS");
  // Players spread over the pages as evenly as they go.
  const counts = pages.map((_, i) => Math.floor(N / PAGES) + (i < N % PAGES ? 1 : 0));
  await Promise.all(pages.map((page, i) => page.evaluate((n, url) => {
    window.bench = [];
    for (let k = 0; k < n; k++) {
      const p = { t0: performance.now(), first: null, error: null, resource: null };
      window.bench.push(p);
      p.pc = new RTCPeerConnection();
      p.pc.addTransceiver("video", { direction: "recvonly" });
      p.pc.addTransceiver("audio", { direction: "recvonly" });
      (async () => {
        await p.pc.setLocalDescription(await p.pc.createOffer());
        const r = await fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: p.pc.localDescription.sdp });
        if (r.status !== 201) throw new Error(`WHEP ${r.status}: ${(await r.text()).trim()}`);
        p.resource = r.headers.get("Location");
        await p.pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
      })().catch((e) => { p.error = String(e.message || e); });
    }
  }, counts[i], url)));
  log(`${N} offers sent from ${PAGES} page(s)`);

  // Every player's counters; the first frame's time is noted here, in the page.
  const stats = () => Promise.all(pages.map((page) => page.evaluate(async () => Promise.all(window.bench.map(async (p) => {
    const o = { error: p.error, state: p.pc.connectionState, frames: 0, video: 0, lost: 0, bytes: 0, audio: 0 };
    try {
      for (const s of (await p.pc.getStats()).values()) {
        if (s.type !== "inbound-rtp") continue;
        if (s.kind === "video") {
          o.frames = s.framesDecoded || 0;
          o.video = s.packetsReceived || 0;
          o.lost = s.packetsLost || 0;
          o.bytes += s.bytesReceived || 0;
        } else if (s.kind === "audio") {
          o.audio = s.packetsReceived || 0;
          o.bytes += s.bytesReceived || 0;
        }
      }
    } catch (e) {
      o.error = o.error || String(e.message || e);
    }
    if (o.frames > 0 && p.first === null) p.first = (performance.now() - p.t0) / 1000;
    o.first = p.first;
    return o;
  }))))).then((per) => per.flat());

  let s = await stats();
  const setupEnd = Date.now() + SETUP_S * 1000;
  while (Date.now() < setupEnd && s.some((p) => !p.error && p.first === null)) {
    await sleep(250);
    s = await stats();
  }
  const decoding = s.filter((p) => p.first !== null).length;
  log(`${decoding}/${N} decoding; ${s.filter((p) => p.error).length} refused or failed`);
  const firstError = (s.find((p) => p.error) || {}).error || null;
  if (firstError) log(`first error: ${firstError}`);

  await sleep(WARMUP * 1000);
  const a = await stats();
  const c0 = serverCpu();
  const b0 = treeCpu(browserPid);
  const t0 = Date.now();
  await sleep(WINDOW * 1000);
  const c1 = serverCpu();
  const b1 = treeCpu(browserPid);
  const windowS = (Date.now() - t0) / 1000;
  const rssEnd = serverKb("VmRSS");
  const rssPeak = serverKb("VmHWM");
  const b = await stats();

  // A player fails when it never decoded, or did not decode in the window, or its connection
  // is gone.
  let failed = 0;
  const sum = { video_packets: 0, frames_decoded: 0, audio_packets: 0, video_lost: 0, bytes: 0 };
  b.forEach((p, i) => {
    const q = a[i];
    const ok = p.first !== null && p.frames > q.frames && !["failed", "closed"].includes(p.state);
    if (!ok) {
      failed++;
      return;
    }
    sum.video_packets += p.video - q.video;
    sum.frames_decoded += p.frames - q.frames;
    sum.audio_packets += p.audio - q.audio;
    sum.video_lost += p.lost - q.lost;
    sum.bytes += p.bytes - q.bytes;
  });
  const firsts = b.map((p) => p.first).filter((x) => x !== null).sort((x, y) => x - y);
  const ok = N - failed;
  log(`window ${windowS.toFixed(1)} s: server CPU ${(c1 - c0).toFixed(2)} s, RSS ${rssBase} -> ${rssEnd} KiB (peak ${rssPeak}), ` +
    `${ok}/${N} decoding, per player ${(sum.frames_decoded / Math.max(1, ok)).toFixed(0)} frames, ` +
    `${(sum.video_packets / Math.max(1, ok)).toFixed(0)} video and ${(sum.audio_packets / Math.max(1, ok)).toFixed(0)} audio packets; ` +
    `Chromium CPU ${(b1 - b0).toFixed(2)} s`);
  result = {
    mode: "webrtc", players: N, pages: PAGES, failed, window_s: windowS,
    server_cpu_s: c1 - c0, server_rss_base_kb: rssBase, server_rss_end_kb: rssEnd,
    server_rss_peak_kb: rssPeak, chromium_cpu_s: b1 - b0, ...sum,
    first_frame_s_median: firsts.length ? firsts[Math.floor(firsts.length / 2)] : null,
    first_frame_s_max: firsts.length ? firsts[firsts.length - 1] : null,
    first_error: firstError,
  };

  await Promise.all(pages.map((page) => page.evaluate(async () => Promise.all(window.bench.map((p) => {
    p.pc.close();
    return p.resource ? fetch(p.resource, { method: "DELETE" }).catch(() => {}) : null;
  })))));
} catch (e) {
  console.error(`ci/bench-rtc.mjs: ${e.message}`);
} finally {
  await browser.close();
}
if (!result) process.exit(1);
console.log(JSON.stringify(result));
