/**
 * Headless Chromium for the browser tests: Debian's `chromium`, driven by
 * playwright-core (no browser is ever downloaded). Tests skip, saying so,
 * where it is missing (`.ci/run` installs it).
 * @module
 */
import { existsSync } from "node:fs";
import type { BrowserContext } from "playwright-core";

/** Where Debian's package puts it. */
export const CHROMIUM = "/usr/bin/chromium";
/** Whether it is installed. */
export const hasChromium = existsSync(CHROMIUM);

/** Launches it headless with a fresh profile in `profile` (a temp dir), quiet, plus `extraArgs`. */
export async function launchChromium(profile: string, extraArgs: string[] = []): Promise<BrowserContext> {
  const { chromium } = await import("playwright-core");
  return chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: 10000,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--no-first-run",
      "--disable-sync",
      ...extraArgs,
    ],
  });
}
