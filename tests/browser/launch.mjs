// The one way the browser scripts start headless Chromium: a throwaway profile, no sandbox
// (CI runs as root), nothing that reaches the network on Chromium's own account.
//
//   const { context, close } = await launch(executablePath, { width, height }, "faultline-x-");

import { chromium } from "playwright-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function launch(executablePath, viewport, prefix = "faultline-chromium-") {
  const profile = mkdtempSync(join(tmpdir(), prefix));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
    viewport,
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, profile, close };
}
