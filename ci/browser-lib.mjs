// What every ci/browser step shares: Debian's Chromium started headless by puppeteer-core
// (installed by ci/browser into NPM_DIR) with the flags this machine needs (no sandbox as
// root, no GPU, no background networking: the network is closed), a log with the seconds
// since the step started, and checks that throw on failure.
import { createRequire } from "node:module";

const require = createRequire(process.env.NPM_DIR + "/");
const puppeteer = require("puppeteer-core");

/// A headless Chromium with its profile in `profile` and `extra` flags besides the common ones
/// (autoplay without a gesture unless `extra` says otherwise about media).
export function launch(profile, extra = ["--autoplay-policy=no-user-gesture-required"]) {
  return puppeteer.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    userDataDir: profile,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ...extra,
    ],
    defaultViewport: { width: 1280, height: 720 },
  });
}

/// `log(message)` prefixed with `name` and the seconds since now, and `check(ok, what)`,
/// which logs "ok: what" or throws "FAILED: what".
export function reporter(name) {
  const started = Date.now();
  const log = (m) => console.log(`${name}: ${((Date.now() - started) / 1000).toFixed(1)} s ${m}`);
  const check = (ok, what) => {
    if (!ok) throw new Error(`FAILED: ${what}`);
    log(`ok: ${what}`);
  };
  return { log, check };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
