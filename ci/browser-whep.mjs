// The WebRTC half of ci/browser (issue 15): Debian's headless Chromium plays live/whep, which
// ffmpeg publishes over RTMP (H.264 640x360 with a 250-frame GOP, as a real encoder, and AAC,
// which WebRTC cannot carry: video only), through the players page's WHEP player
// (/players/?type=whep). It prints the video codecs Chromium can receive, then asserts with
// getStats() that framesDecoded grows and packetsLost stays near zero for 10 s and that the
// <video> has the published size, and prints the first-frame time (WHEP request to the first
// decoded frame), and that no audio came (AAC: video only). It prints the protocol of the
// selected candidate pair's local and remote candidates (getStats()) and, with WHEP_PROTOCOL
// (udp or tcp), asserts it and that video.currentTime advances: ICE-TCP is checked by a server
// whose answers offer only the TCP candidate (rtc_server.protocol = "tcp"). Then the player
// stops and its DELETE ends the server's session. Then it plays WHEP_PCMA_STREAM (H.264 and a
// 440 Hz tone as G.711 A-law 8 kHz mono over RTMP) and asserts that the inbound audio's codec
// is audio/PCMA, that its packetsReceived, totalSamplesReceived and audioLevel show the tone
// for 5 s and that video plays alongside. A trickling client's PATCH of Chromium's gathered
// candidates is answered 204 and its session plays. Then the browser is killed (SIGKILL) with that
// player playing, no DELETE: ci/browser checks that the server ends the session by itself.
// With WHEP_CODEC (H264 or AV1: the stream's video codec), it asserts that Chromium can receive
// it and that the inbound video's codec is video/<WHEP_CODEC> (the whep-av1 step plays an AV1
// stream, passed through).
// Env: BASE, NPM_DIR, SHOTS, PROFILE, WHEP_STREAM (app/stream), WHEP_PROTOCOL, WHEP_SHOT (the
// screenshot's name), WHEP_CODEC, WHEP_PCMA_STREAM (none: that part is skipped), WHEP_OPUS_STREAM
// (a stream with Opus audio, played before the PCMA one with the same checks; none: skipped).
// Exit 1 on any failure.
import { launch, reporter, sleep } from "./browser-lib.mjs";

const BASE = process.env.BASE;
const STREAM = process.env.WHEP_STREAM || "live/whep";
const PCMA_STREAM = process.env.WHEP_PCMA_STREAM || "";
const OPUS_STREAM = process.env.WHEP_OPUS_STREAM || "";
const CODEC = process.env.WHEP_CODEC || "H264";
const { log, check } = reporter("ci/browser-whep");

// Candidates with real addresses, not mDNS names (which the server skips), so that the trickle
// check's candidates go through the server's ICE agent.
const browser = await launch(process.env.PROFILE, ["--autoplay-policy=no-user-gesture-required", "--disable-features=WebRtcHideLocalIpsWithMdns"]);
let failed = false;
// The last player is left playing and the browser killed (a peer that vanishes).
let vanish = false;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  await page.goto(BASE + "/players/", { waitUntil: "load" });
  const codecs = await page.evaluate(() =>
    [...new Set(RTCRtpReceiver.getCapabilities("video").codecs.map((c) => c.mimeType))].join(" "));
  log(`Chromium receives video codecs: ${codecs}`);
  check(codecs.split(" ").some((c) => c.toLowerCase() === `video/${CODEC}`.toLowerCase()),
    `Chromium can receive ${CODEC} over WebRTC`);
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
        const codec = s.codecId && stats.get(s.codecId);
        return {
          decoded: s.framesDecoded, lost: s.packetsLost, received: s.packetsReceived, nacks: s.nackCount,
          w: v.videoWidth, h: v.videoHeight, codec: codec ? codec.mimeType : "",
        };
      }
    }
    return null;
  });
  const a = await sample();
  await sleep(10000);
  const b = await sample();
  log(`over 10 s: ${b.codec} framesDecoded ${a.decoded} -> ${b.decoded}, packetsReceived ${a.received} -> ${b.received}, packetsLost ${a.lost} -> ${b.lost}, NACKs sent ${b.nacks}, ${b.w}x${b.h}`);
  check(b.codec.toLowerCase() === `video/${CODEC}`.toLowerCase(), `the inbound video's codec is video/${CODEC} (${b.codec})`);
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
  const aac = await audioStats(page);
  check(!aac || !aac.received, `no audio packets for AAC, which WebRTC does not carry (${aac ? aac.received : "no inbound audio"})`);
  if (process.env.SHOTS) await page.screenshot({ path: `${process.env.SHOTS}/${process.env.WHEP_SHOT || "whep"}.png` });
  await page.evaluate(() => window.playersPlayer.stop());
  await sleep(500);
  const del = await page.evaluate(async (stream) => {
    const r = await fetch(`/rtc/v1/whep/?app=nope&stream=${encodeURIComponent(stream)}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: "v=0" });
    return r.status;
  }, STREAM);
  check(del === 400 || del === 404, `a bad offer is refused (${del})`);
  await trickles(page);
  if (OPUS_STREAM) await playsAudio(page, OPUS_STREAM, "opus", false);
  if (PCMA_STREAM) await playsAudio(page, PCMA_STREAM, "PCMA", true);
} catch (e) {
  failed = true;
  console.error(`ci/browser-whep: ${e.message}`);
} finally {
  if (vanish) browser.process().kill("SIGKILL");
  else await browser.close();
}
process.exit(failed ? 1 : 0);

// Trickle ICE as a trickling WHEP client does it (RFC 9725 §4.3.1): the offer is POSTed as
// soon as it is made, before Chromium has gathered, and the candidates Chromium gathers go in
// one PATCH of the session's Location (application/trickle-ice-sdpfrag, the offer's
// ice-ufrag/ice-pwd, a=end-of-candidates). Asserts 204 and that the video plays; then DELETE.
async function trickles(page) {
  const t = await page.evaluate(async (stream) => {
    const [app, name] = stream.split("/");
    const pc = new RTCPeerConnection();
    pc.addTransceiver("video", { direction: "recvonly" });
    const lines = [];
    const gathered = new Promise((resolve) => {
      pc.onicecandidate = (e) => (e.candidate ? lines.push("a=" + e.candidate.candidate) : resolve());
    });
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const r = await fetch(`/rtc/v1/whep/?app=${app}&stream=${name}`, { method: "POST", headers: { "Content-Type": "application/sdp" }, body: offer.sdp });
    const location = r.headers.get("Location");
    await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
    await Promise.race([gathered, new Promise((ok) => setTimeout(ok, 5000))]);
    const cred = (n) => (offer.sdp.match(new RegExp(`a=${n}:(\\S+)`)) || [])[1];
    const frag = ["a=ice-options:trickle", "m=video 9 UDP/TLS/RTP/SAVPF 0", "a=mid:0",
      `a=ice-ufrag:${cred("ice-ufrag")}`, `a=ice-pwd:${cred("ice-pwd")}`, ...lines, "a=end-of-candidates", ""].join("\r\n");
    const p = await fetch(location, { method: "PATCH", headers: { "Content-Type": "application/trickle-ice-sdpfrag", "If-Match": "*" }, body: frag });
    const patchBody = await p.text();
    let decoded = 0;
    const end = performance.now() + 10000;
    while (performance.now() < end && decoded < 25) {
      for (const s of (await pc.getStats()).values()) if (s.type === "inbound-rtp" && s.kind === "video") decoded = s.framesDecoded;
      await new Promise((ok) => setTimeout(ok, 100));
    }
    // DELETE first: a closed peer connection's DTLS close_notify would end the session itself.
    const d = await fetch(location, { method: "DELETE" });
    pc.close();
    return { post: r.status, patch: p.status, patchBody, candidates: lines, decoded, del: d.status };
  }, STREAM);
  log(`trickled ${t.candidates.length} candidates: ${t.candidates.map((c) => c.split(" ").slice(2, 8).join(" ")).join("; ")}`);
  check(t.post === 201 && t.patch === 204, `a trickle PATCH of Chromium's candidates is answered 204 (POST ${t.post}, PATCH ${t.patch} ${t.patchBody.trim()})`);
  check(t.candidates.length > 0, "Chromium gathered candidates to trickle");
  check(t.decoded >= 25 && t.del === 200, `the trickling session plays (${t.decoded} frames) and DELETE ends it (${t.del})`);
}

// The inbound audio's stats with its codec's mimeType, or null before there is one.
async function audioStats(page) {
  return page.evaluate(async () => {
    const stats = await window.playersPlayer.pc.getStats();
    for (const s of stats.values()) {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        const codec = s.codecId && stats.get(s.codecId);
        return {
          received: s.packetsReceived || 0, lost: s.packetsLost || 0, samples: s.totalSamplesReceived || 0,
          level: s.audioLevel || 0, energy: s.totalAudioEnergy || 0, codec: codec ? codec.mimeType : "",
        };
      }
    }
    return null;
  });
}

// `stream`'s audio plays as `codec` (PCMA: WHEP_PCMA_STREAM, G.711 A-law from RTMP; opus:
// WHEP_OPUS_STREAM, a GStreamer RTSP camera's Opus) beside the video, a 440 Hz tone that is
// heard. `last`: the player is left playing (the browser is killed next).
async function playsAudio(page, stream, codec, last) {
  await page.goto(`${BASE}/players/?stream=${encodeURIComponent(stream)}&type=whep`, { waitUntil: "load" });
  const firstMs = await page.evaluate(async () => {
    const p = window.playersPlayer;
    const end = performance.now() + 15000;
    while (performance.now() < end) {
      const stats = await p.pc.getStats();
      for (const s of stats.values()) {
        if (s.type === "inbound-rtp" && s.kind === "audio" && s.packetsReceived > 0) return performance.now() - p.started;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    return -1;
  });
  check(firstMs >= 0, `the first ${codec} packets of ${stream} come within 15 s`);
  log(`first audio packet after ${firstMs.toFixed(0)} ms`);
  // The page's <video> starts muted (autoplay rules); Chromium measures audioLevel after the
  // element's volume, so it is unmuted as a listener would.
  await page.evaluate(() => { document.getElementById("video").muted = false; });
  const video = () => page.evaluate(async () => {
    const stats = await window.playersPlayer.pc.getStats();
    for (const s of stats.values()) if (s.type === "inbound-rtp" && s.kind === "video") return s.framesDecoded || 0;
    return 0;
  });
  const a = await audioStats(page);
  const va = await video();
  await sleep(5000);
  const b = await audioStats(page);
  const vb = await video();
  log(`over 5 s: audio ${b.codec} packetsReceived ${a.received} -> ${b.received}, packetsLost ${a.lost} -> ${b.lost}, totalSamplesReceived ${a.samples} -> ${b.samples}, audioLevel ${b.level.toFixed(3)}, totalAudioEnergy ${a.energy.toFixed(3)} -> ${b.energy.toFixed(3)}, framesDecoded ${va} -> ${vb}`);
  check(b.codec.toLowerCase() === `audio/${codec.toLowerCase()}`, `the audio codec is ${codec} (${b.codec})`);
  check(b.received - a.received >= 100, `audio packetsReceived grows (${b.received - a.received} in 5 s)`);
  check(b.lost - a.lost <= 5, `audio packetsLost stays near zero (${b.lost - a.lost})`);
  check(b.samples - a.samples >= 20000, `totalSamplesReceived grows by about 5 s of audio (${b.samples - a.samples})`);
  check(b.level > 0 && b.energy > a.energy, `the tone is heard: audioLevel ${b.level.toFixed(3)} > 0`);
  check(vb - va >= 100, `video plays alongside (${vb - va} frames in 5 s)`);
  // No stop, no DELETE: the browser is killed with this session playing (ci/browser then
  // waits for the server to end it when the peer stops answering).
  if (last) vanish = true;
  else await page.evaluate(() => window.playersPlayer.stop());
}
