// The browser half of ci/browser (issue 14): drives Debian's headless Chromium with
// puppeteer-core against a running tinysrs that ci/browser started, while ffmpeg publishes
// live/browser (H.264 640x360 + AAC, -g 50). Env: BASE (http://127.0.0.1:PORT), NPM_DIR,
// SHOTS (screenshot directory), PROFILE (a fresh --user-data-dir), FFMPEG_PLAYER (a command
// ci/browser runs when asked, printed as "spawn"); for the GB28181 camera GB_DEVICE,
// GB_CHANNEL, GB_INVITE_FILE (sipp's copy of our offer), GB_MEDIA (tinysrs-bench, whose
// gb-media mode this script starts and kills), GB_H264 (its clip) and GB_MEDIA_LOG. Every
// step has its own deadline; any
// failed check, console error or page error exits 1.
import { launch, reporter, sleep } from "./browser-lib.mjs";
import { spawn } from "node:child_process";
import fs from "node:fs";

const BASE = process.env.BASE;
const SHOTS = process.env.SHOTS;
const STREAM = "live/browser";
const errors = [];
const { log, check } = reporter("ci/browser");
async function until(what, ms, fn) {
  const end = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > end) throw new Error(`FAILED: ${what} within ${ms} ms (last: ${JSON.stringify(last)})`);
    await sleep(100);
  }
}
// The server runs with http_api.auth on, as every package does.
const USER = "admin", PASSWORD = process.env.API_PASSWORD;
const AUTH = "Basic " + Buffer.from(`${USER}:${PASSWORD}`).toString("base64");
const api = async (path) => (await fetch(BASE + path, { headers: { Authorization: AUTH } })).json();

// The <video> plays for real: frames of the published size (640x360 unless given), and
// currentTime advancing by at least 3.5 s over 5 s of wall time (real time, with slack for
// the start).
async function assertPlays(page, selector, what, width = 640, height = 360) {
  const video = () => page.$eval(selector, (v) => ({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight, rs: v.readyState }));
  const first = await until(`${what}: the video starts`, 20000, async () => {
    const v = await video();
    return v.rs >= 2 && v.t > 0 ? v : null;
  });
  await sleep(5000);
  const last = await video();
  log(`${what}: currentTime ${first.t.toFixed(2)} -> ${last.t.toFixed(2)} s over 5 s, ${last.w}x${last.h}`);
  check(last.t - first.t >= 3.5, `${what}: currentTime advances (${(last.t - first.t).toFixed(2)} s in 5 s)`);
  check(last.w === width && last.h === height, `${what}: videoWidth x videoHeight is ${width}x${height}`);
}

const browser = await launch(process.env.PROFILE, ["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
try {
  const page = await browser.newPage();
  // Until the login, the API's 401s are expected (Chromium logs each as an error).
  let loggedIn = false;
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (!loggedIn && /status of 401/.test(m.text())) return;
    errors.push(`console: ${m.text()} (${m.location().url || ""})`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));

  // What Debian's Chromium decodes through MSE.
  await page.goto(BASE + "/", { waitUntil: "load" });
  check(new URL(page.url()).pathname === "/console/", `/ redirects to /console/ (at ${page.url()})`);
  const codecs = await page.evaluate(() => Object.fromEntries([
    ['H.264 + AAC', 'video/mp4; codecs="avc1.64001f, mp4a.40.2"'],
    ['H.265', 'video/mp4; codecs="hvc1.1.6.L93.B0"'],
  ].map(([k, t]) => [k, window.MediaSource ? MediaSource.isTypeSupported(t) : false])));
  log(`MSE support: ${JSON.stringify(codecs)}`);
  check(codecs["H.264 + AAC"], "Chromium plays H.264 + AAC through MSE");

  // The API wants its password: headless Chromium has no prompt of its own, so the 401
  // reaches the console, which shows its login form; a wrong password keeps it there.
  await until("the login form shows", 3000, () => page.$eval("#login", (f) => !f.hidden));
  await page.screenshot({ path: `${SHOTS}/login.png` });
  await page.type("#login input[name=password]", "wrong");
  await page.click("#login button");
  await until("a wrong password brings the form back", 3000, () => page.$eval("#login", (f) => !f.hidden));
  await page.$eval("#login input[name=password]", (i) => { i.value = ""; });
  await page.type("#login input[name=password]", PASSWORD);
  loggedIn = true;
  await page.click("#login button");
  await until("the right password hides the form", 3000, () => page.$eval("#login", (f) => f.hidden));
  log("ok: the login form asks for the API's password, refuses a wrong one, takes the right one");

  // Overview: version, uptime and the bandwidth chart fill in.
  await until("the overview shows the version and uptime", 5000, () =>
    page.evaluate(() => document.getElementById("version").textContent && document.getElementById("uptime").textContent !== "-"));
  await until("the bandwidth chart has a rate", 6000, () =>
    page.evaluate(() => Number(document.getElementById("kin").textContent) > 0));
  await page.screenshot({ path: `${SHOTS}/overview.png` });

  // Table rows are drawn anew every second: a button is found and clicked in one step in the
  // page (a handle taken before a redraw would point at a detached node).
  const press = (selector) => until(`press ${selector}`, 3000, () =>
    page.evaluate((sel) => { const b = document.querySelector(sel); if (b) b.click(); return !!b; }, selector));

  // Tabs switch by the address's #fragment, as a click on the menu does: the page stays, and
  // so does its bandwidth chart.
  const tab = async (name) => {
    await page.click(`nav a[data-tab="${name}"]`);
    await until(`the ${name} tab shows`, 2000, () => page.$eval(`#${name}`, (s) => !s.hidden));
  };

  // Streams: the stream appears within 2 s of opening the tab, with its codec and size.
  await tab("streams");
  const row = `tr[data-stream="${STREAM}"]`;
  const codec = await until("the stream is listed within 2 s", 2000, () =>
    page.$eval(`${row} td.codec`, (td) => td.textContent).catch(() => null));
  check(/^H264 640x360/.test(codec), `the stream's video is "H264 640x360 ..." (${codec})`);
  const acodec = await page.$eval(`${row} td.acodec`, (td) => td.textContent);
  check(/^AAC /.test(acodec), `the stream's audio is AAC (${acodec})`);

  // Preview over HTTP-FLV (mpegts.js), then HLS (hls.js).
  for (const [button, engine] of [["flv", "mpegts.js"], ["hls", "hls.js"]]) {
    await press(`${row} button[data-act="${button}"]`);
    const used = await page.$eval("#preview-engine", (e) => e.textContent);
    check(used.startsWith(engine), `the ${button} preview plays through ${engine} (${used})`);
    await assertPlays(page, "#preview", `console preview ${button} (${used})`);
    await page.screenshot({ path: `${SHOTS}/streams-${button}.png` });
    await page.click("#preview-close");
  }

  // Clients: an ffmpeg player of HTTP-FLV is listed; kicking it from the page removes it
  // from the API.
  const player = spawn("ffmpeg", ["-nostdin", "-hide_banner", "-loglevel", "error", "-t", "60",
    "-i", `${BASE}/${STREAM}.flv`, "-f", "null", "-"], { stdio: "ignore" });
  try {
    const id = await until("the ffmpeg HTTP-FLV player is in /api/v1/clients", 10000, async () => {
      const c = (await api("/api/v1/clients")).clients.find((c) => c.type === "flv-play");
      return c && c.id;
    });
    await tab("clients");
    await until("the player's row is shown", 3000, () => page.$(`tr[data-client="${id}"] button[data-act="kick"]`));
    await page.screenshot({ path: `${SHOTS}/clients.png` });
    await press(`tr[data-client="${id}"] button[data-act="kick"]`);
    await until(`client ${id} is gone from /api/v1/clients after the kick`, 5000, async () =>
      !(await api("/api/v1/clients")).clients.some((c) => c.id === id));
    log(`ok: kicked ${id} from the page`);
    await until("the kicked row leaves the page", 3000, async () => !(await page.$(`tr[data-client="${id}"]`)));
  } finally {
    player.kill();
  }

  // GB28181: the camera (sipp) is listed with its channel; Invite from the page sends the
  // INVITE the camera answers, and the channel plays. Then the camera's media (tinysrs-bench
  // gb-media: H.264 320x240 as PS over RTP, to the offered port with the offered SSRC) makes
  // the channel's stream, which must show in the Streams tab as H264 320x240 and play in the
  // preview; Bye on the page ends the call.
  await tab("gb28181");
  if (process.env.GB_DEVICE) {
    const channel = `tr[data-channel="${process.env.GB_DEVICE}/${process.env.GB_CHANNEL}"]`;
    const gbState = async () => {
      const d = (await api("/api/v1/gb28181/devices")).devices.find((d) => d.id === process.env.GB_DEVICE);
      return d && d.channels.length ? d.channels[0].state : null;
    };
    await until("the GB28181 camera and its channel are listed", 15000, () => page.$(`${channel} button[data-act="invite"]`));
    check((await gbState()) === "idle", "the channel is idle before the Invite (auto_invite off)");
    await press(`${channel} button[data-act="invite"]`);
    await until("the camera receives our INVITE", 5000, () => fs.existsSync(process.env.GB_INVITE_FILE));
    await until("the channel is playing after the camera's answer", 5000, async () => (await gbState()) === "playing");
    await until("the page shows it playing", 3000, () => page.$eval(channel, (tr) => /playing/.test(tr.textContent)));
    log("ok: Invite from the page: the camera got the INVITE, the channel is playing");
    await page.screenshot({ path: `${SHOTS}/gb28181-invited.png` });

    // The offer, as sipp wrote it: Call-ID, address, port, transport, SSRC, setup.
    const [, ip, port, proto, ssrc] = fs.readFileSync(process.env.GB_INVITE_FILE, "utf8").trim().split(/\s+/);
    const args = ["gb-media", "--to", `${ip}:${port}`, "--ssrc", ssrc, "--h264", process.env.GB_H264, "--alaw", "--secs", "60"];
    if (/TCP/.test(proto)) args.push("--tcp");
    log(`camera media: ${process.env.GB_MEDIA} ${args.join(" ")}`);
    const mediaLog = fs.openSync(process.env.GB_MEDIA_LOG, "w");
    const media = spawn(process.env.GB_MEDIA, args, { stdio: ["ignore", mediaLog, mediaLog] });
    try {
      await tab("streams");
      const gbRow = `tr[data-stream$="/${process.env.GB_CHANNEL}"]`;
      const gbCodec = await until("the camera's stream is listed", 10000, () =>
        page.$eval(`${gbRow} td.codec`, (td) => td.textContent).catch(() => null)
          .then((c) => (c && /^H264 320x240/.test(c) ? c : null)));
      const gbName = await page.$eval(gbRow, (tr) => tr.dataset.stream);
      check(/^H264 320x240/.test(gbCodec), `the camera's stream ${gbName} is "H264 320x240 ..." (${gbCodec})`);
      await press(`${gbRow} button[data-act="flv"]`);
      const used = await page.$eval("#preview-engine", (e) => e.textContent);
      await assertPlays(page, "#preview", `GB28181 camera preview (${gbName}, ${used})`, 320, 240);
      await page.screenshot({ path: `${SHOTS}/gb28181-preview.png` });
      await page.click("#preview-close");
      // The camera's G.711 A-law in a WebRTC player, passed through as PCMA (no transcoding).
      const whep = await browser.newPage();
      try {
        await whep.goto(`${BASE}/players/?stream=${encodeURIComponent(gbName)}&type=whep`, { waitUntil: "load" });
        const audio = () => whep.evaluate(async () => {
          const p = window.playersPlayer;
          if (!p || !p.pc) return null;
          const stats = await p.pc.getStats();
          for (const s of stats.values()) {
            if (s.type === "inbound-rtp" && s.kind === "audio") {
              const codec = s.codecId && stats.get(s.codecId);
              return { codec: codec ? codec.mimeType : "", samples: s.totalSamplesReceived || 0, packets: s.packetsReceived || 0 };
            }
          }
          return null;
        });
        const a = await until("the camera's audio reaches a WHEP player", 15000, async () => {
          const x = await audio();
          return x && x.packets > 0 ? x : null;
        });
        await sleep(3000);
        const b = await audio();
        check(/^audio\/PCMA$/i.test(b.codec) && b.samples - a.samples >= 12000,
          `the camera's G.711 A-law plays over WHEP as ${b.codec}: totalSamplesReceived ${a.samples} -> ${b.samples} in 3 s`);
      } finally {
        await whep.close();
      }

      await tab("gb28181");
      await press(`${channel} button[data-act="bye"]`);
      // The API's state is "idle" until the camera, once its call is over, unregisters (as
      // its scenario does); then the device is offline without channels.
      await until("the channel leaves playing after Bye", 5000, async () => (await gbState()) !== "playing");
      await until("the page shows it idle", 3000, () => page.$eval(channel, (tr) => /idle/.test(tr.textContent)));
      await until(`the camera's stream ${gbName} leaves /api/v1/streams`, 10000, async () =>
        !(await api("/api/v1/streams")).streams.some((st) => st.url === "/" + gbName && st.publish && st.publish.active));
      log(`ok: Bye from the page: the channel is idle, ${gbName} is unpublished`);
    } finally {
      media.kill();
      fs.closeSync(mediaLog);
    }
  }
  await page.screenshot({ path: `${SHOTS}/gb28181.png` });
  // Recordings: a closed 8 s segment is listed and plays in the page (fragmented MP4, which
  // the browser plays itself), from /dvr/.
  await tab("dvr");
  // The camera's stream is recorded too: the row pressed is live/browser's (the newest).
  const pressRecording = () => page.evaluate((stream) => {
    const tr = [...document.querySelectorAll("#dvr-rows tr")].find((tr) =>
      tr.cells.length && tr.cells[0].textContent.endsWith(stream) && tr.querySelector('button[data-act="play"]'));
    if (tr) tr.querySelector('button[data-act="play"]').click();
    return !!tr;
  }, STREAM);
  await until("a closed recording of the stream is listed with Play", 10000, () =>
    page.evaluate((stream) => [...document.querySelectorAll("#dvr-rows tr")].some((tr) =>
      tr.cells.length && tr.cells[0].textContent.endsWith(stream) && tr.querySelector('button[data-act="play"]')), STREAM));
  await page.screenshot({ path: `${SHOTS}/dvr.png` });
  await until("press Play on the stream's recording", 3000, pressRecording);
  const recording = await page.$eval("#preview-name", (e) => e.textContent);
  check(/^\/dvr\/live\/browser\.\d+\.mp4$/.test(recording), `the recording plays from ${recording}`);
  await assertPlays(page, "#preview", "a recording");
  await page.click("#preview-close");
  check((await page.$eval("#status", (e) => e.textContent)) === "", "the GB28181 and Recordings tabs load without an error");

  // The players page, in a second tab, plays the stream by name over HTTP-FLV and HLS.
  const players = await browser.newPage();
  players.on("console", (m) => {
    if (m.type() === "error") errors.push(`players console: ${m.text()} (${m.location().url || ""})`);
  });
  players.on("pageerror", (e) => errors.push(`players pageerror: ${e.message}`));
  for (const type of ["flv", "hls"]) {
    await players.goto(`${BASE}/players/?stream=${STREAM}&type=${type}`, { waitUntil: "load" });
    await assertPlays(players, "#video", `players page ${type}`);
    await players.screenshot({ path: `${SHOTS}/players-${type}.png` });
  }
  await players.close();

  // The overview after the run (the README's picture), then the publisher is kicked from the
  // Streams tab: its stream stops publishing.
  await tab("overview");
  await sleep(1500);
  const rss = await page.$eval("#rss", (e) => e.textContent);
  check(/ \/ \d/.test(rss), `the overview shows the RSS and the worst case (${rss})`);
  await page.screenshot({ path: `${SHOTS}/console.png` });
  await tab("streams");
  await until("the publisher's kick button", 3000, () => page.$(`${row} button[data-act="kick"]`));
  await press(`${row} button[data-act="kick"]`);
  await until("the publisher is gone after the kick", 5000, async () =>
    !(await api("/api/v1/streams")).streams.some((s) => s.url === "/" + STREAM && s.publish.active));
  log("ok: kicked the publisher from the Streams tab");
} catch (e) {
  failed = true;
  console.error(`ci/browser: ${e.message}`);
} finally {
  await browser.close();
}
for (const e of errors) console.error(`ci/browser: browser ${e}`);
if (errors.length) failed = true;
log(failed ? "FAILED" : "all checks passed");
process.exit(failed ? 1 : 0);
