// The WHIP half of ci/browser (issue 15): Debian's headless Chromium publishes its fake camera
// (and fake microphone: Opus) to live/whip over WHIP (RFC 9725) with H.264 forced by
// setCodecPreferences, and a bearer token. It prints the video codecs Chromium can send, then
// asserts that the server answers 201 with a Location, that the connection comes up and frames
// are encoded, and that ffprobe reads H.264 video of the camera's size from 4 s of the HTTP-FLV
// URL (40 frames or more; Debian 12's ffprobe 5.1 does not know Enhanced RTMP's Opus, and its
// live RTMP reads with that stream in them do not end, so RTMP is not probed here). A second
// publish of the same stream is 409. A WHEP player (the players page) decodes the stream and
// receives its Opus as Opus, and HLS has segments of it. Then the DELETE of the Location ends the session (ci/browser checks the unpublish in the log).
// Then a second publish, of <stream>-pcma, with G.711 A-law first on the audio m-line
// (setCodecPreferences): the answer takes PCMA alone, and ffprobe finds pcm_alaw 8000 Hz mono
// audio with packets beside the H.264 video in 4 s of its HTTP-FLV (FLV SoundFormat 7, as a
// GB28181 camera's audio).
// Then a third publish, of <stream>-av1, with AV1 first on the video m-line
// (setCodecPreferences): the answer takes AV1 alone, Chromium sends AV1 and a keyframe, and a
// WHEP player of the same stream (the players page) gets inbound video/AV1 whose
// framesDecoded grow: the hub carries it as Enhanced RTMP av01. With WHIP_DVR (the server's
// DVR directory, MP4 segments), the recording of <stream>-av1 closed by the DELETE has an
// av1 video track that ffprobe decodes.
// Env: BASE (http://host:port), NPM_DIR, SHOTS, PROFILE, WHIP_STREAM (app/stream),
// WHIP_OFFER_OUT (where to save Chromium's offer, optional), WHIP_TMP (a directory for the
// copy ffprobe reads), WHIP_DVR (optional). Exit 1 on failure.
import { launch, reporter, sleep } from "./browser-lib.mjs";
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, writeFileSync } from "node:fs";

const BASE = process.env.BASE;
const STREAM = process.env.WHIP_STREAM || "live/whip";
const [APP, NAME] = STREAM.split("/");
const TMP = process.env.WHIP_TMP || "/tmp";
const { log, check } = reporter("ci/browser-whip");

// What an HTTP-FLV player of `url` gets in `ms`: the bytes saved to `file`, then ffprobe's
// codec, size and frame count of its video.
async function probeFlv(url, ms, file) {
  await fetchFor(url, ms, file);
  const s = ffprobe(file, "v:0", "-count_frames", "stream=codec_name,width,height,nb_read_frames");
  return { codec: s.codec_name, w: s.width, h: s.height, frames: Number(s.nb_read_frames || 0) };
}

// ffprobe's entries of the first stream `select` of `file`.
function ffprobe(file, select, count, entries) {
  const p = spawnSync("ffprobe", [
    "-v", "quiet", "-select_streams", select, count, "-show_entries", entries, "-of", "json", file,
  ], { timeout: 30000, encoding: "utf8" });
  try { return JSON.parse(p.stdout).streams?.[0] || {}; } catch { return {}; }
}

// The bytes an HTTP player of `url` gets in `ms`, saved to `file`.
async function fetchFor(url, ms, file) {
  const ctl = new AbortController();
  const chunks = [];
  const timer = setTimeout(() => ctl.abort(), ms);
  try {
    const r = await fetch(url, { signal: ctl.signal });
    for await (const c of r.body) chunks.push(c);
  } catch { /* aborted after `ms` */ }
  clearTimeout(timer);
  writeFileSync(file, Buffer.concat(chunks));
}

// The publish, in the page: getUserMedia, sendonly transceivers, H.264 (packetization mode 1)
// first, or the video codec `videoFirst` (a mimeType) when given, the audio codec `audioFirst`
// first when given, the offer POSTed with a bearer token; the peer connection is
// `window[pcName]`.
async function whipPublish(app, name, audioFirst, pcName, videoFirst) {
  const media = await navigator.mediaDevices.getUserMedia({
    video: { width: 640, height: 360, frameRate: 25 }, audio: true,
  });
  const pc = new RTCPeerConnection();
  window[pcName] = pc;
  let size = null;
  for (const track of media.getTracks()) {
    const t = pc.addTransceiver(track, { direction: "sendonly" });
    if (track.kind === "video") {
      const s = track.getSettings();
      size = { w: s.width, h: s.height };
      const all = RTCRtpSender.getCapabilities("video").codecs;
      const first = videoFirst
        ? all.filter((c) => c.mimeType === videoFirst)
        : all.filter((c) => c.mimeType === "video/H264" && /packetization-mode=1/.test(c.sdpFmtpLine || ""));
      t.setCodecPreferences([...first, ...all.filter((c) => /rtx|red|ulpfec/i.test(c.mimeType))]);
    } else if (audioFirst) {
      const all = RTCRtpSender.getCapabilities("audio").codecs;
      const first = all.filter((c) => c.mimeType === audioFirst);
      t.setCodecPreferences([...first, ...all.filter((c) => c.mimeType !== audioFirst)]);
    }
  }
  const offer = await pc.createOffer();
  await pc.setLocalDescription(offer);
  const r = await fetch(`/rtc/v1/whip/?app=${app}&stream=${name}`, {
    method: "POST",
    headers: { "Content-Type": "application/sdp", Authorization: "Bearer whip-secret-token" },
    body: offer.sdp,
  });
  const answer = await r.text();
  const location = r.headers.get("Location");
  if (r.status === 201) await pc.setRemoteDescription({ type: "answer", sdp: answer });
  return { status: r.status, location, answer, offer: offer.sdp, size };
}

// Milliseconds until `window[pcName]` has sent a keyframe (the server asks with a PLI), -1
// after 15 s.
async function keyframeSent(page, pcName) {
  return page.evaluate(async (pcName) => {
    const t0 = performance.now();
    while (performance.now() - t0 < 15000) {
      for (const s of (await window[pcName].getStats()).values()) {
        if (s.type === "outbound-rtp" && s.kind === "video" && s.keyFramesEncoded > 0) return performance.now() - t0;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return -1;
  }, pcName);
}

// The outbound video of `window[pcName]`: frames and keyframes encoded, codec, encoder.
async function sentVideo(page, pcName) {
  return page.evaluate(async (pcName) => {
    const stats = await window[pcName].getStats();
    for (const s of stats.values()) {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        const codec = stats.get(s.codecId);
        return { frames: s.framesEncoded, keyframes: s.keyFramesEncoded, plis: s.pliCount, codec: codec && codec.mimeType, impl: s.encoderImplementation };
      }
    }
    return null;
  }, pcName);
}

// Milliseconds until `window[pcName]` is connected, -1 after 10 s.
async function connected(page, pcName) {
  return page.evaluate(async (pcName) => {
    const t0 = performance.now();
    while (performance.now() - t0 < 10000) {
      if (window[pcName].connectionState === "connected") return performance.now() - t0;
      await new Promise((r) => setTimeout(r, 20));
    }
    return -1;
  }, pcName);
}

const browser = await launch(process.env.PROFILE, ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]);
let failed = false;
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  await page.goto(BASE + "/players/", { waitUntil: "load" });
  const codecs = await page.evaluate(() =>
    [...new Set(RTCRtpSender.getCapabilities("video").codecs.map((c) => c.mimeType))].join(" "));
  log(`Chromium sends video codecs: ${codecs}`);
  check(/video\/H264/i.test(codecs), "Chromium can send H.264 over WebRTC");

  // The publish, in the page: H.264 (packetization mode 1) first, Chromium's audio order.
  const pub = await page.evaluate(whipPublish, APP, NAME, null, "whipPc");
  if (process.env.WHIP_OFFER_OUT) writeFileSync(process.env.WHIP_OFFER_OUT, pub.offer);
  check(pub.status === 201, `the WHIP offer is answered 201 (${pub.status} ${pub.status === 201 ? "" : pub.answer})`);
  check(/^\/rtc\/v1\/session\/\d+$/.test(pub.location || ""), `the answer has a Location (${pub.location})`);
  check(/a=rtpmap:\d+ H264\/90000/.test(pub.answer) && /a=recvonly/.test(pub.answer), "the answer is recvonly H.264");
  log(`the camera's size: ${pub.size.w}x${pub.size.h}; Opus in the answer: ${/opus\/48000/i.test(pub.answer)}`);

  const connectedMs = await connected(page, "whipPc");
  check(connectedMs >= 0, `the peer connection is connected (${connectedMs.toFixed(0)} ms after the answer)`);
  await sleep(3000);
  const sent = await sentVideo(page, "whipPc");
  log(`sender: ${JSON.stringify(sent)}`);
  check(sent && /H264/i.test(sent.codec || ""), `Chromium sends H.264 (${sent && sent.codec}, encoder ${sent && sent.impl})`);
  check(sent.frames > 25, `Chromium encodes frames (${sent.frames})`);

  const again = await page.evaluate(async (app, name, sdp) => {
    const r = await fetch(`/rtc/v1/whip/?app=${app}&stream=${name}`, {
      method: "POST", headers: { "Content-Type": "application/sdp" }, body: sdp,
    });
    return r.status;
  }, APP, NAME, pub.offer);
  check(again === 409, `a second publish of ${STREAM} is refused 409 (${again})`);

  const flv = await probeFlv(`${BASE}/${STREAM}.flv`, 4000, `${TMP}/whip-http.flv`);
  log(`ffprobe of 4 s of ${BASE}/${STREAM}.flv: ${JSON.stringify(flv)}`);
  check(flv.codec === "h264", "HTTP-FLV players get H.264");
  check(flv.frames >= 40, `HTTP-FLV players get video frames (${flv.frames} in 4 s)`);
  check(flv.w === pub.size.w && flv.h === pub.size.h, `the video has the camera's size (${flv.w}x${flv.h})`);
  // A WHEP player of the WHIP stream (the players page, in a second tab) and HLS.
  const player = await browser.newPage();
  await player.goto(`${BASE}/players/?stream=${encodeURIComponent(STREAM)}&type=whep`, { waitUntil: "load" });
  const decoded = await player.evaluate(async () => {
    const end = performance.now() + 10000;
    while (performance.now() < end) {
      const p = window.playersPlayer;
      const stats = p && p.pc ? await p.pc.getStats() : new Map();
      for (const s of stats.values()) {
        if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded > 25) return s.framesDecoded;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    return 0;
  });
  check(decoded > 25, `a WHEP player of ${STREAM} decodes its frames (${decoded})`);
  // The fake microphone's Opus goes through to the WHEP player as Opus.
  const opus = () => player.evaluate(async () => {
    const stats = await window.playersPlayer.pc.getStats();
    for (const s of stats.values()) {
      if (s.type === "inbound-rtp" && s.kind === "audio") {
        const codec = s.codecId && stats.get(s.codecId);
        return { received: s.packetsReceived || 0, samples: s.totalSamplesReceived || 0, codec: codec ? codec.mimeType : "" };
      }
    }
    return { received: 0, samples: 0, codec: "" };
  });
  const oa = await opus();
  await sleep(3000);
  const ob = await opus();
  log(`WHEP audio over 3 s: ${ob.codec} packetsReceived ${oa.received} -> ${ob.received}, totalSamplesReceived ${oa.samples} -> ${ob.samples}`);
  check(/^audio\/opus$/i.test(ob.codec), `the WHEP player's audio is Opus (${ob.codec})`);
  check(ob.received - oa.received >= 50, `its Opus packets keep coming (${ob.received - oa.received} in 3 s)`);
  if (process.env.SHOTS) await player.screenshot({ path: `${process.env.SHOTS}/whip-whep.png` });
  await player.evaluate(() => window.playersPlayer.stop());
  await player.close();
  const m3u8 = await (await fetch(`${BASE}/${STREAM}.m3u8`)).text();
  check(/#EXTINF/.test(m3u8), `HLS has segments of ${STREAM}`);
  if (process.env.SHOTS) await page.screenshot({ path: `${process.env.SHOTS}/whip.png` });

  const del = await page.evaluate(async (location) => {
    const r = await fetch(location, { method: "DELETE" });
    window.whipPc.close();
    return r.status;
  }, pub.location);
  check(del === 200, `DELETE of the Location ends the session (${del})`);

  // G.711 A-law: Chromium's audio m-line with PCMA first; the answer takes it alone.
  const g711 = await page.evaluate(whipPublish, APP, `${NAME}-pcma`, "audio/PCMA", "whipPcma");
  check(g711.status === 201, `the PCMA-first WHIP offer is answered 201 (${g711.status} ${g711.status === 201 ? "" : g711.answer})`);
  const audioAnswer = g711.answer.split("m=video")[0];
  check(/a=rtpmap:\d+ PCMA\/8000/.test(audioAnswer) && !/opus/i.test(audioAnswer), "the answer's audio is PCMA alone");
  check(await connected(page, "whipPcma") >= 0, "the PCMA publisher is connected");
  // Until Chromium has sent a keyframe (the server asks for one with a PLI): an HTTP-FLV
  // player that joins before it gets audio alone at first, as a loaded run showed.
  const keyframeMs = await keyframeSent(page, "whipPcma");
  check(keyframeMs >= 0, `the PCMA publisher sends a keyframe (${keyframeMs.toFixed(0)} ms after connecting)`);
  await sleep(1500);
  const pcmaFile = `${TMP}/whip-pcma.flv`;
  await fetchFor(`${BASE}/${STREAM}-pcma.flv`, 4000, pcmaFile);
  const av = ffprobe(pcmaFile, "v:0", "-count_frames", "stream=codec_name,nb_read_frames");
  const aa = ffprobe(pcmaFile, "a:0", "-count_packets", "stream=codec_name,sample_rate,channels,nb_read_packets");
  log(`ffprobe of 4 s of ${BASE}/${STREAM}-pcma.flv: video ${JSON.stringify(av)} audio ${JSON.stringify(aa)}`);
  check(av.codec_name === "h264" && Number(av.nb_read_frames || 0) >= 40, `its video is H.264 with frames (${av.codec_name}, ${av.nb_read_frames})`);
  check(aa.codec_name === "pcm_alaw" && Number(aa.sample_rate) === 8000 && aa.channels === 1,
    `its audio is G.711 A-law 8000 Hz mono (${aa.codec_name} ${aa.sample_rate} Hz ${aa.channels} ch)`);
  check(Number(aa.nb_read_packets || 0) >= 100, `its A-law packets keep coming (${aa.nb_read_packets} in 4 s)`);
  const del2 = await page.evaluate(async (location) => {
    const r = await fetch(location, { method: "DELETE" });
    window.whipPcma.close();
    return r.status;
  }, g711.location);
  check(del2 === 200, `DELETE of the PCMA publisher's Location (${del2})`);

  // AV1: Chromium's video m-line with AV1 first; the answer takes it alone, the hub carries
  // it as Enhanced RTMP av01 and a WHEP player of the stream decodes AV1.
  const AV1_STREAM = `${STREAM}-av1`;
  const av1 = await page.evaluate(whipPublish, APP, `${NAME}-av1`, null, "whipAv1", "video/AV1");
  check(av1.status === 201, `the AV1-first WHIP offer is answered 201 (${av1.status} ${av1.status === 201 ? "" : av1.answer})`);
  const av1Video = av1.answer.split("m=video")[1] || "";
  check(/a=rtpmap:\d+ AV1\/90000/.test(av1Video) && !/H264|VP8|VP9/.test(av1Video), "the answer's video is AV1 alone");
  check(await connected(page, "whipAv1") >= 0, "the AV1 publisher is connected");
  const av1KeyMs = await keyframeSent(page, "whipAv1");
  check(av1KeyMs >= 0, `the AV1 publisher sends a keyframe (${av1KeyMs.toFixed(0)} ms after connecting)`);
  const av1Sent = await sentVideo(page, "whipAv1");
  log(`AV1 sender: ${JSON.stringify(av1Sent)}`);
  check(av1Sent && /AV1/i.test(av1Sent.codec || ""), `Chromium sends AV1 (${av1Sent && av1Sent.codec}, encoder ${av1Sent && av1Sent.impl})`);
  const av1Player = await browser.newPage();
  await av1Player.goto(`${BASE}/players/?stream=${encodeURIComponent(AV1_STREAM)}&type=whep`, { waitUntil: "load" });
  const inbound = () => av1Player.evaluate(async () => {
    const p = window.playersPlayer;
    const stats = p && p.pc ? await p.pc.getStats() : new Map();
    for (const s of stats.values()) {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        const codec = s.codecId && stats.get(s.codecId);
        return { decoded: s.framesDecoded || 0, codec: codec ? codec.mimeType : "", w: s.frameWidth, h: s.frameHeight };
      }
    }
    return { decoded: 0, codec: "" };
  });
  let va = await inbound();
  for (let i = 0; i < 200 && va.decoded === 0; i++) {
    await sleep(50);
    va = await inbound();
  }
  await sleep(3000);
  const vb = await inbound();
  log(`WHEP player of ${AV1_STREAM} over 3 s: ${vb.codec} framesDecoded ${va.decoded} -> ${vb.decoded}, ${vb.w}x${vb.h}`);
  check(/^video\/AV1$/i.test(vb.codec), `the WHEP player's inbound video is AV1 (${vb.codec})`);
  check(va.decoded > 0 && vb.decoded - va.decoded >= 25, `its framesDecoded grow (${va.decoded} -> ${vb.decoded})`);
  if (process.env.SHOTS) await av1Player.screenshot({ path: `${process.env.SHOTS}/whip-av1-whep.png` });
  await av1Player.evaluate(() => window.playersPlayer.stop());
  await av1Player.close();
  const del3 = await page.evaluate(async (location) => {
    const r = await fetch(location, { method: "DELETE" });
    window.whipAv1.close();
    return r.status;
  }, av1.location);
  check(del3 === 200, `DELETE of the AV1 publisher's Location (${del3})`);
  // Its DVR recording (MP4 segments), closed by the unpublish: ffprobe decodes its av01.
  if (process.env.WHIP_DVR) {
    const dir = `${process.env.WHIP_DVR}/${APP}`;
    let files = [];
    for (let i = 0; i < 50 && files.length === 0; i++) {
      await sleep(100);
      try {
        files = readdirSync(dir).filter((f) => f.startsWith(`${NAME}-av1.`) && f.endsWith(".mp4"));
      } catch { /* not there yet */ }
    }
    files.sort((a, b) => statSync(`${dir}/${b}`).size - statSync(`${dir}/${a}`).size);
    check(files.length > 0, `DVR recorded ${AV1_STREAM} (${files.join(" ")})`);
    if (files.length > 0) {
      const mp4 = ffprobe(`${dir}/${files[0]}`, "v:0", "-count_frames", "stream=codec_name,width,height,nb_read_frames");
      log(`ffprobe of ${files[0]}: ${JSON.stringify(mp4)}`);
      check(mp4.codec_name === "av1" && Number(mp4.nb_read_frames || 0) >= 10,
        `its video is AV1 that ffprobe decodes (${mp4.codec_name}, ${mp4.nb_read_frames} frames, ${mp4.width}x${mp4.height})`);
    }
  }
} catch (e) {
  failed = true;
  console.error(`ci/browser-whip: ${e.message}`);
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
