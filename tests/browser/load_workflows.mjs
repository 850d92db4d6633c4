// Loads workflows in the real ComfyUI frontend (headless Chromium) and reports what it saw.
//
//   node load_workflows.mjs SERVER_URL OUT_DIR TEMPLATE_DIR NAME...
//
// Each NAME is fetched the way the template browser fetches it (/api/workflow_templates/TEMPLATE_DIR/NAME.json)
// and loaded with app.loadGraphData. Printed as one JSON object per workflow: the node types the frontend
// reported missing, console errors, the dialogs it opened, every registered node's widget values by name,
// the toasts it showed (workflow validation), its input links, the prompt the frontend would queue
// (app.graphToPrompt), the workflow as the editor would save it (app.graph.serialize) and a screenshot path.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const [serverUrl, outDir, templateDir, ...names] = process.argv.slice(2);
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const userDataDir = mkdtempSync(path.join(tmpdir(), 'rewind-chromium-'));

// The test server is offline: the frontend's requests to outside hosts fail, which says nothing about a workflow.
const OFFLINE_NOISE = /Failed to load resource: (net::ERR_NAME_NOT_RESOLVED|net::ERR_INTERNET_DISCONNECTED)/;

async function closeDialogs(page) {
  await page.keyboard.press('Escape');
  await page.evaluate(() => document.querySelectorAll('.p-dialog-close-button').forEach((b) => b.click()));
  await page.waitForTimeout(300);
}

async function openEditor(context) {
  // Mark the first-visit tutorial done so the template browser does not open over the canvas.
  await context.request.post(`${serverUrl}/settings/Comfy.TutorialCompleted`, { data: true });
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('response', (response) => { if (response.status() >= 400) consoleErrors.push(`HTTP ${response.status()} ${response.url()}`); });
  await page.goto(serverUrl, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => window.app?.graph && window.app?.canvas && window.LiteGraph, null, { timeout: 120000 });
  await closeDialogs(page);  // a first visit opens the template browser
  await page.evaluate(() => {
    window.app.registerExtension({
      name: 'rewind.browserTest',
      afterConfigureGraph(missing) { window.__rewindMissing = missing.map((m) => (typeof m === 'string' ? m : m.type)); },
    });
  });
  return { page, consoleErrors };
}

async function loadOne(page, consoleErrors, name) {
  consoleErrors.length = 0;
  const url = `/api/workflow_templates/${templateDir}/${name}.json`;
  const report = await page.evaluate(async (url) => {
    const app = window.app;
    const response = await fetch(url);
    if (!response.ok) return { fetchError: `${url}: HTTP ${response.status}` };
    const workflow = await response.json();
    window.__rewindMissing = null;
    document.querySelectorAll('.p-toast-close-button').forEach((b) => b.click());
    await app.loadGraphData(workflow, true, true, null, { showMissingModelsDialog: false });
    await new Promise((resolve) => setTimeout(resolve, 500));
    const registered = (type) => type in window.LiteGraph.registered_node_types;
    const nodes = app.graph.nodes.map((node) => ({
      id: node.id,
      type: node.type,
      registered: registered(node.type),
      widgets: Object.fromEntries((node.widgets || []).filter((w) => w.name).map((w) => [w.name, w.value])),
      links: Object.fromEntries((node.inputs || []).filter((i) => i.link != null).map((i) => {
        const link = app.graph.links.get ? app.graph.links.get(i.link) : app.graph.links[i.link];
        return [i.name, link ? [String(link.origin_id), link.origin_slot] : null];
      })),
    }));
    const dialogs = [...document.querySelectorAll('.p-dialog')].map((d) => d.innerText.trim());
    const toasts = [...document.querySelectorAll('.p-toast-message')].map((t) => t.innerText.trim());
    let prompt = null;
    let promptError = null;
    if (!(window.__rewindMissing || []).length) {
      try { prompt = (await app.graphToPrompt()).output; } catch (error) { promptError = String(error); }
    }
    const saved = app.graph.serialize();  // what "Save" would write
    return { nodeCount: workflow.nodes.length, missing: window.__rewindMissing, nodes, dialogs, toasts, prompt, promptError, saved };
  }, url);
  await closeDialogs(page);
  const screenshot = path.join(outDir, `${name}.png`);
  await page.screenshot({ path: screenshot });
  return { name, ...report, consoleErrors: consoleErrors.filter((text) => !OFFLINE_NOISE.test(text)), screenshot };
}

// A fresh --user-data-dir per run (playwright passes it through launchPersistentContext).
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1600, height: 1000 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
try {
  const { page, consoleErrors } = await openEditor(context);
  const startupErrors = [...consoleErrors];
  const reports = [];
  for (const name of names) reports.push(await loadOne(page, consoleErrors, name));
  process.stdout.write(JSON.stringify({ startupErrors, reports }));
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
