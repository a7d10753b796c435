// The WebRTC half of ci/browser (issue 15): Debian's headless Chromium plays live/whep, which
// ffmpeg publishes over RTMP (H.264 640x360 with a 250-frame GOP, as a real encoder, and AAC,
// which WebRTC cannot carry: video only), through the players page's WHEP player
// (/players/?type=whep). It prints the video codecs Chromium can receive, then asserts with
// getStats() that framesDecoded grows and packetsLost stays near zero for 10 s and that the
// <video> has the published size, and prints the first-frame time (WHEP request to the first
// decoded frame). It prints the protocol of the selected candidate pair's local and remote
// candidates (getStats()) and, with WHEP_PROTOCOL (udp or tcp), asserts it and that
// video.currentTime advances: ICE-TCP is checked by a server whose answers offer only the TCP
// candidate (rtc_server.protocol = "tcp"). Then the player stops and its DELETE ends the
// server's session.
// Env: BASE, NPM_DIR, SHOTS, PROFILE, WHEP_STREAM (app/stream), WHEP_PROTOCOL, WHEP_SHOT (the
// screenshot's name). Exit 1 on any failure.
import { createRequire } from "node:module";

const require = createRequire(process.env.NPM_DIR + "/");
const puppeteer = require("puppeteer-core");
const BASE = process.env.BASE;
const STREAM = process.env.WHEP_STREAM || "live/whep";
const started = Date.now();
const log = (m) => console.log(`ci/browser-whep: ${((Date.now() - started) / 1000).toFixed(1)} s ${m}`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function check(ok, what) {
  if (!ok) throw new Error(`FAILED: ${what}`);
  log(`ok: ${what}`);
}

const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  userDataDir: process.env.PROFILE,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
  ],
  defaultViewport: { width: 1280, height: 720 },
});
let failed = false;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  await page.goto(BASE + "/players/", { waitUntil: "load" });
  const codecs = await page.evaluate(() =>
    [...new Set(RTCRtpReceiver.getCapabilities("video").codecs.map((c) => c.mimeType))].join(" "));
  log(`Chromium receives video codecs: ${codecs}`);
  check(/video\/H264/i.test(codecs), "Chromium can receive H.264 over WebRTC");
  await page.goto(`${BASE}/players/?stream=${encodeURIComponent(STREAM)}&type=whep`, { waitUntil: "load" });
  // The first decoded frame, timed in the page from the player's start (before the offer).
  const firstFrameMs = await page.evaluate(async () => {
    const p = window.playersPlayer;
    const end = performance.now() + 15000;
    while (performance.now() < end) {
      const stats = await p.pc.getStats();
      for (const s of stats.values()) {
        if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded > 0) return performance.now() - p.started;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return -1;
  });
  if (firstFrameMs < 0) log(`the page says: ${await page.$eval("#status", (e) => e.textContent)}`);
  check(firstFrameMs >= 0, "a first frame is decoded within 15 s");
  log(`first-frame time (WHEP request -> first decoded frame): ${firstFrameMs.toFixed(0)} ms`);
  const sample = () => page.evaluate(async () => {
    const stats = await window.playersPlayer.pc.getStats();
    const v = document.getElementById("video");
    for (const s of stats.values()) {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        return { decoded: s.framesDecoded, lost: s.packetsLost, received: s.packetsReceived, nacks: s.nackCount, w: v.videoWidth, h: v.videoHeight };
      }
    }
    return null;
  });
  const a = await sample();
  await sleep(10000);
  const b = await sample();
  log(`over 10 s: framesDecoded ${a.decoded} -> ${b.decoded}, packetsReceived ${a.received} -> ${b.received}, packetsLost ${a.lost} -> ${b.lost}, NACKs sent ${b.nacks}, ${b.w}x${b.h}`);
  check(b.decoded - a.decoded >= 200, `framesDecoded grows by 200 or more in 10 s at 25 fps (${b.decoded - a.decoded})`);
  check(b.lost - a.lost <= 5, `packetsLost stays near zero (${b.lost - a.lost} in 10 s)`);
  check(b.w === 640 && b.h === 360, `videoWidth x videoHeight is 640x360 (${b.w}x${b.h})`);
  const path = await page.evaluate(async () => {
    const stats = await window.playersPlayer.pc.getStats();
    let pairId = null;
    for (const s of stats.values()) {
      if (s.type === "transport" && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId;
    }
    const pair = pairId && stats.get(pairId);
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    const t0 = document.getElementById("video").currentTime;
    await new Promise((r) => setTimeout(r, 2000));
    const t1 = document.getElementById("video").currentTime;
    return {
      local: local ? `${local.protocol} ${local.candidateType} ${local.tcpType || ""}`.trim() : "none",
      remote: remote ? `${remote.protocol} ${remote.candidateType} ${remote.tcpType || ""}`.trim() : "none",
      localProtocol: local && local.protocol, remoteProtocol: remote && remote.protocol, t0, t1,
    };
  });
  log(`selected candidate pair: local ${path.local}, remote ${path.remote}; video.currentTime ${path.t0.toFixed(2)} -> ${path.t1.toFixed(2)}`);
  const want = process.env.WHEP_PROTOCOL;
  if (want) {
    check(path.localProtocol === want && path.remoteProtocol === want,
      `the selected candidate pair is ${want} on both ends (local ${path.local}, remote ${path.remote})`);
    check(path.t1 - path.t0 >= 1.5, `video.currentTime advances over 2 s (${path.t0.toFixed(2)} -> ${path.t1.toFixed(2)})`);
  }
  if (process.env.SHOTS) await page.screenshot({ path: `${process.env.SHOTS}/${process.env.WHEP_SHOT || "whep"}.png` });
  await page.evaluate(() => window.playersPlayer.stop());
  await sleep(500);
  const del = await page.evaluate(async (stream) => {
    const r = await fetch(`/rtc/v1/whep/?app=nope&stream=${encodeURIComponent(stream)}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: "v=0" });
    return r.status;
  }, STREAM);
  check(del === 400 || del === 404, `a bad offer is refused (${del})`);
} catch (e) {
  failed = true;
  console.error(`ci/browser-whep: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
