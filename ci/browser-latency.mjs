// Glass-to-glass latency of a WHEP player of an RTMP publisher (issue 15), measured, not judged
// (it prints figures; it fails only when no frame can be read at all). This script makes the
// publisher's frames itself: 320x240 gray frames at 25 fps, each with the wall-clock time
// (Date.now(), ms, its low 32 bits) drawn as 32 black or white blocks, piped raw to ffmpeg
// (libx264 ultrafast, zerolatency, no B-frames, a keyframe a second), which publishes them
// over RTMP to live/latency. Headless Chromium plays live/latency over WHEP in the players
// page; for each frame it presents (requestVideoFrameCallback) the page reads the blocks back
// from the <video> and takes Date.now() minus the time in the frame: drawn → encoded →
// RTMP → tinysrs → WebRTC → decoded → presented, on one machine's clock. Prints the first
// frame time (WHEP request to the first decoded frame) and the latency's median, p95 and
// range over LATENCY_SECS (10) of frames.
// Env: BASE (http://host:port), RTMP (host:port), NPM_DIR, PROFILE, LATENCY_SECS.
import { launch, reporter, sleep } from "./browser-lib.mjs";
import { spawn } from "node:child_process";

const BASE = process.env.BASE;
const SECS = Number(process.env.LATENCY_SECS || 10);
const W = 320, H = 240, COLS = 8, ROWS = 4;
const { log, check } = reporter("ci/browser-latency");

// One gray frame with `t`'s low 32 bits, most significant first, row by row.
function frame(t) {
  const buf = Buffer.alloc(W * H, 0);
  const bw = W / COLS, bh = H / ROWS;
  const v = t >>> 0;
  for (let bit = 0; bit < 32; bit++) {
    if (!((v >>> (31 - bit)) & 1)) continue;
    const x0 = (bit % COLS) * bw, y0 = Math.floor(bit / COLS) * bh;
    for (let y = y0; y < y0 + bh; y++) buf.fill(255, y * W + x0, y * W + x0 + bw);
  }
  return buf;
}

const ffmpeg = spawn("ffmpeg", [
  "-nostdin", "-hide_banner", "-loglevel", "error",
  "-f", "rawvideo", "-pix_fmt", "gray", "-s", `${W}x${H}`, "-r", "25", "-i", "pipe:0",
  "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0", "-g", "25",
  "-pix_fmt", "yuv420p", "-f", "flv", `rtmp://${process.env.RTMP}/live/latency`,
], { stdio: ["pipe", "ignore", "inherit"] });
// Frames at 25 fps on the wall clock, each drawn when it is due.
let next = Date.now();
const pump = setInterval(() => {
  const now = Date.now();
  while (next <= now) {
    ffmpeg.stdin.write(frame(Date.now()));
    next += 40;
  }
}, 5);

const browser = await launch(process.env.PROFILE, ["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
try {
  await sleep(2000); // the publisher's first keyframe reaches the hub
  const page = await browser.newPage();
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  await page.goto(`${BASE}/players/?stream=live/latency&type=whep`, { waitUntil: "load" });
  const result = await page.evaluate(async (secs, W, H, COLS, ROWS) => {
    const p = window.playersPlayer;
    const video = document.getElementById("video");
    const canvas = document.createElement("canvas");
    canvas.width = W; canvas.height = H;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    let firstFrameMs = -1;
    const end = performance.now() + 15000;
    while (performance.now() < end && firstFrameMs < 0) {
      for (const s of (await p.pc.getStats()).values()) {
        if (s.type === "inbound-rtp" && s.kind === "video" && s.framesDecoded > 0) firstFrameMs = performance.now() - p.started;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const samples = [];
    let unreadable = 0;
    await new Promise((done) => {
      const stop = performance.now() + secs * 1000;
      const onFrame = () => {
        const now = Date.now();
        ctx.drawImage(video, 0, 0, W, H);
        const bw = W / COLS, bh = H / ROWS;
        let v = 0, sure = true;
        for (let bit = 0; bit < 32; bit++) {
          const x = (bit % COLS) * bw + bw / 2 - 4, y = Math.floor(bit / COLS) * bh + bh / 2 - 4;
          const d = ctx.getImageData(x, y, 8, 8).data;
          let sum = 0;
          for (let i = 0; i < d.length; i += 4) sum += d[i];
          const mean = sum / (d.length / 4);
          if (mean > 80 && mean < 176) sure = false;
          v = ((v << 1) | (mean >= 128 ? 1 : 0)) >>> 0;
        }
        const late = ((now >>> 0) - v) >>> 0;
        if (sure && late < 10000) samples.push(late); else unreadable++;
        if (performance.now() < stop) video.requestVideoFrameCallback(onFrame); else done();
      };
      video.requestVideoFrameCallback(onFrame);
    });
    return { firstFrameMs, samples, unreadable, w: video.videoWidth, h: video.videoHeight };
  }, SECS, W, H, COLS, ROWS);
  const s = result.samples.sort((a, b) => a - b);
  const at = (q) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  log(`first frame (WHEP request -> first decoded frame): ${result.firstFrameMs.toFixed(0)} ms`);
  if (s.length) {
    log(`glass-to-glass over ${SECS} s: ${s.length} frames read (${result.unreadable} not): median ${at(0.5)} ms, p95 ${at(0.95)} ms, min ${s[0]} ms, max ${s[s.length - 1]} ms (${result.w}x${result.h})`);
  }
  if (!s.length) throw new Error(`FAILED: no frame's time could be read (${result.unreadable} frames, ${result.w}x${result.h})`);
  await page.evaluate(() => window.playersPlayer.stop());
} catch (e) {
  failed = true;
  console.error(`ci/browser-latency: ${e.message}`);
} finally {
  clearInterval(pump);
  ffmpeg.stdin.end();
  ffmpeg.kill("SIGTERM");
  await browser.close();
}
process.exit(failed ? 1 : 0);
