// Queues an API-format workflow from the real ComfyUI frontend (headless Chromium) and reports what
// the frontend shows on the RewindVideoCombine node afterwards: its media preview element and a
// screenshot centred on it.
//
//   node run_and_preview.mjs SERVER_URL API_JSON SCREENSHOT
import { chromium } from 'playwright-core';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [serverUrl, apiPath, screenshot] = process.argv.slice(2);
const userDataDir = mkdtempSync(path.join(tmpdir(), 'rewind-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  viewport: { width: 1600, height: 1000 },
});
try {
  await context.request.post(`${serverUrl}/settings/Comfy.TutorialCompleted`, { data: true });
  const page = await context.newPage();
  await page.goto(serverUrl, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => window.app?.graph && window.app?.canvas, null, { timeout: 120000 });
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.querySelectorAll('.p-dialog-close-button').forEach((b) => b.click()));
  const api = JSON.parse(readFileSync(apiPath, 'utf8'));
  await page.evaluate(async (api) => { await window.app.loadApiJson(api, 'preview_check'); }, api);
  await page.evaluate(async () => { await window.app.queuePrompt(0, 1); });
  await page.waitForFunction(() => {
    const node = window.app.graph._nodes.find((n) => n.type === 'RewindVideoCombine');
    return node && window.app.nodeOutputs?.[node.id];
  }, null, { timeout: 240000 });
  await page.evaluate(() => {
    const node = window.app.graph._nodes.find((n) => n.type === 'RewindVideoCombine');
    window.app.canvas.centerOnNode(node);
    window.app.canvas.setDirty(true, true);
  });
  // The preview widget appears some frames after the output arrives; a loaded machine needs longer.
  const written = await page.evaluate(() => {
    const node = window.app.graph._nodes.find((n) => n.type === 'RewindVideoCombine');
    return window.app.nodeOutputs[node.id].images?.[0]?.filename ?? '';
  });
  await page
    .waitForFunction((name) => [...document.querySelectorAll('video')].some((v) => (v.currentSrc || v.src).includes(name)),
      written, { timeout: 60000 })
    .catch(() => {}); // the report below then shows which videos there were
  const report = await page.evaluate(() => {
    const node = window.app.graph._nodes.find((n) => n.type === 'RewindVideoCombine');
    const videos = [...document.querySelectorAll('video')].map((v) => v.currentSrc || v.src);
    return { outputs: window.app.nodeOutputs[node.id], videos };
  });
  await page.screenshot({ path: screenshot });
  console.log(JSON.stringify(report));
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
