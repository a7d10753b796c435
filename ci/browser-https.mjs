// The HTTPS step of ci/browser (issue 15): the HTTP server's routes over TLS
// (`[http_server.https]`) with the certificate tinysrs made for itself at start (no file
// configured). A Chromium that does not know the certificate refuses the page
// (net::ERR_CERT_AUTHORITY_INVALID); one told to trust exactly its public key (SPKI pin,
// --ignore-certificate-errors-spki-list, as a user's exception would) loads the players page
// as a secure context over https:// and plays WHEP_STREAM through it (the offer is POSTed over
// HTTPS): framesDecoded grows for 3 s.
// Env: HTTPS_BASE (https://127.0.0.1:PORT), SPKI (base64 SHA-256 of the certificate's public
// key), NPM_DIR, SHOTS, PROFILE, WHEP_STREAM. Exit 1 on any failure.
import { launch, reporter, sleep } from "./browser-lib.mjs";

const BASE = process.env.HTTPS_BASE;
const STREAM = process.env.WHEP_STREAM || "live/whep";
const { log, check } = reporter("ci/browser-https");
const autoplay = "--autoplay-policy=no-user-gesture-required";

let failed = false;
let browser = null;
try {
  // Without the pin: the made certificate is not trusted.
  browser = await launch(process.env.PROFILE + "/plain", [autoplay]);
  let page = await browser.newPage();
  let refused = "";
  try {
    await page.goto(BASE + "/players/", { waitUntil: "load", timeout: 15000 });
  } catch (e) {
    refused = e.message;
  }
  check(/ERR_CERT/.test(refused), `a browser that does not know the certificate refuses it (${refused.split("\n")[0]})`);
  await browser.close();
  // With the pin: a secure context, and WHEP through it.
  browser = await launch(process.env.PROFILE + "/pinned", [autoplay, `--ignore-certificate-errors-spki-list=${process.env.SPKI}`]);
  page = await browser.newPage();
  page.on("pageerror", (e) => log(`page error: ${e.message}`));
  await page.goto(`${BASE}/players/?stream=${encodeURIComponent(STREAM)}&type=whep`, { waitUntil: "load", timeout: 15000 });
  const secure = await page.evaluate(() => ({ secure: window.isSecureContext, protocol: location.protocol, media: !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia) }));
  check(secure.secure && secure.protocol === "https:", `the page is a secure context over https: (${JSON.stringify(secure)})`);
  check(secure.media, "getUserMedia is offered to it (a WHIP page can ask for the camera)");
  const decoded = () => page.evaluate(async () => {
    const p = window.playersPlayer;
    if (!p || !p.pc) return 0;
    for (const s of (await p.pc.getStats()).values()) {
      if (s.type === "inbound-rtp" && s.kind === "video") return s.framesDecoded || 0;
    }
    return 0;
  });
  let first = 0;
  for (let i = 0; i < 150 && first === 0; i++) {
    first = await decoded();
    if (first === 0) await sleep(100);
  }
  check(first > 0, "WHEP over the HTTPS page decodes a first frame within 15 s");
  await sleep(3000);
  const later = await decoded();
  check(later - first >= 50, `framesDecoded grows over 3 s (${first} -> ${later})`);
  if (process.env.SHOTS) await page.screenshot({ path: `${process.env.SHOTS}/https-whep.png` });
  await page.evaluate(() => window.playersPlayer.stop());
} catch (e) {
  failed = true;
  console.error(`ci/browser-https: ${e.message}`);
} finally {
  if (browser) await browser.close();
}
process.exit(failed ? 1 : 0);
