// Opens Rewind's example workflows in the real ComfyUI frontend (headless Chromium), once per renderer,
// and reports what a person would see: on load, and after a queued run.
//
//   node frontend_matrix.mjs SERVER_URL OUT_DIR TEMPLATE_DIR RUNS_JSON RENDERER... -- NAME...
//
// RENDERER is `classic` (LiteGraph canvas) or `vue` (Nodes 2.0, setting Comfy.VueNodes.Enabled). Each NAME
// is fetched as the template browser fetches it (/api/workflow_templates/TEMPLATE_DIR/NAME.json) and loaded
// with app.loadGraphData; a NAME `api:...` is loaded from RUNS_JSON with app.loadApiJson instead. RUNS_JSON
// maps NAME to an API prompt (the workflow with weight-free models) queued from the page after loading. Prints {frontendVersion, startupErrors, templates, reports: [...]};
// screenshots go to OUT_DIR/RENDERER/NAME-load.png and NAME-run.png, the template browser to OUT_DIR/templates.png.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const [serverUrl, outDir, templateDir, runsPath] = args;
const split = args.indexOf('--');
const renderers = args.slice(4, split);
const names = args.slice(split + 1);
const runs = JSON.parse(readFileSync(runsPath, 'utf8'));
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

// The test server is offline: the frontend's requests to outside hosts fail, which says nothing about a workflow.
const OFFLINE_NOISE = /net::ERR_NAME_NOT_RESOLVED|net::ERR_INTERNET_DISCONNECTED|net::ERR_CONNECTION_REFUSED/;

async function closeDialogs(page) {
  await page.keyboard.press('Escape');
  await page.evaluate(() => {
    document.querySelectorAll('.p-dialog-close-button, .p-toast-close-button').forEach((b) => b.click());
    // Other dialogs (the template browser): their close button, the text-less one furthest top-right.
    for (const dialog of document.querySelectorAll('[role="dialog"], .p-dialog')) {
      const score = (b) => { const r = b.getBoundingClientRect(); return r.width ? r.right - r.top : -Infinity; };
      const close = [...dialog.querySelectorAll('button')].filter((b) => !b.innerText.trim()).sort((a, b) => score(b) - score(a))[0];
      close?.click();
    }
  });
  await page.waitForTimeout(300);
}

async function openEditor(context, renderer) {
  const settings = { 'Comfy.TutorialCompleted': true, 'Comfy.VueNodes.Enabled': renderer === 'vue' };
  for (const [id, value] of Object.entries(settings)) {
    await context.request.post(`${serverUrl}/settings/${id}`, { data: value });
  }
  const page = await context.newPage();
  const consoleErrors = [];
  page.on('console', (message) => { if (message.type() === 'error') consoleErrors.push(message.text()); });
  page.on('pageerror', (error) => consoleErrors.push(String(error)));
  page.on('response', (response) => { if (response.status() >= 400) consoleErrors.push(`HTTP ${response.status()} ${response.url()}`); });
  await page.goto(serverUrl, { waitUntil: 'domcontentloaded' });
  await page.waitForFunction(() => window.app?.graph && window.app?.canvas && window.LiteGraph, null, { timeout: 180000 });
  await page.waitForTimeout(1500);
  await closeDialogs(page);  // a first visit opens the template browser
  return { page, consoleErrors };
}

// In the page: what a reviewer checks by eye, measured. Rectangles are in screen pixels (Nodes 2.0:
// the DOM node; classic: the canvas bounds), so they include whatever the renderer grew.
function inspectGraph() {
  const app = window.app;
  const vue = !!document.querySelector('[data-node-id]');
  const registered = (type) => type in window.LiteGraph.registered_node_types;
  const ds = app.canvas.ds;
  const canvasRect = app.canvas.canvas.getBoundingClientRect();
  const element = (node) => document.querySelector(`[data-node-id="${node.id}"]`);
  const rectOf = (node) => {
    if (vue && element(node)) {
      const r = element(node).getBoundingClientRect();
      return [r.left, r.top, r.width, r.height];
    }
    const [x, y, w, h] = node.getBounding ? node.getBounding() : node.boundingRect;
    return [(x + ds.offset[0]) * ds.scale + canvasRect.left, (y + ds.offset[1]) * ds.scale + canvasRect.top, w * ds.scale, h * ds.scale];
  };
  const overlaps = (a, b) => a[0] < b[0] + b[2] - 1 && b[0] < a[0] + a[2] - 1 && a[1] < b[1] + b[3] - 1 && b[1] < a[1] + a[3] - 1;
  const probe = document.createElement('canvas').getContext('2d');
  const rgb = (css) => {
    probe.fillStyle = '#000'; probe.fillStyle = css; probe.fillRect(0, 0, 1, 1);
    const [r, g, b, a] = probe.getImageData(0, 0, 1, 1, { colorSpace: 'srgb' }).data;
    probe.clearRect(0, 0, 1, 1);
    return a < 128 ? null : [r, g, b];
  };
  const luminance = ([r, g, b]) => {
    const c = [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  };
  const contrast = (a, b) => { const [l1, l2] = [luminance(a), luminance(b)].sort((x, y) => y - x); return (l1 + 0.05) / (l2 + 0.05); };
  const background = (el, node) => {
    for (let e = el; e && e !== document.body; e = e.parentElement) {
      const color = rgb(getComputedStyle(e).backgroundColor);
      if (color) return color;
    }
    return rgb(node.bgcolor || window.LiteGraph.NODE_DEFAULT_BGCOLOR);
  };
  const nodes = app.graph.nodes.map((node) => ({
    id: node.id,
    type: node.type,
    title: node.title,
    registered: registered(node.type),
    rect: rectOf(node),
    widgets: Object.fromEntries((node.widgets || []).filter((w) => w.name).map((w) => [w.name, w.value])),
    hiddenWidgets: (node.widgets || []).filter((w) => w.hidden).map((w) => w.name),
    outputNames: (node.outputs || []).map((o) => o.label || o.localized_name || o.name),
    links: Object.fromEntries((node.inputs || []).filter((i) => i.link != null).map((i) => {
      const link = app.graph.links.get ? app.graph.links.get(i.link) : app.graph.links[i.link];
      return [i.name, link ? [String(link.origin_id), link.origin_slot] : null];
    })),
    text: vue && element(node) ? element(node).innerText : '',
  }));
  // The Note's text against what it is drawn on: every text element, the worst ratio wins.
  const note = app.graph.nodes.find((node) => node.type === 'MarkdownNote' || node.type === 'Note');
  let noteContrast = null;
  let noteWorst = null;
  if (note) {
    const root = vue ? element(note) : note.widgets?.find((w) => w.element)?.element;
    for (const el of root ? root.querySelectorAll('p, li, code, strong, h1, h2, h3, a') : []) {
      const [color, behind] = [rgb(getComputedStyle(el).color) || [0, 0, 0], background(el, note)];
      const ratio = contrast(color, behind);
      if (noteContrast === null || ratio < noteContrast) [noteContrast, noteWorst] = [ratio, { tag: el.tagName, text: el.innerText.slice(0, 40), color, behind }];
    }
  }
  const overlapping = nodes.flatMap((a, i) => nodes.slice(i + 1).filter((b) => overlaps(a.rect, b.rect)).map((b) => [a.id, b.id]));
  const groups = (app.graph.groups || app.graph._groups || []).map((g) => ({ title: g.title, bounding: [...g._bounding || g.bounding] }));
  return { vue, nodes, noteId: note?.id ?? null, noteContrast, noteWorst, overlapping, groups };
}

async function loadOne(page, consoleErrors, renderer, name) {
  consoleErrors.length = 0;
  const url = `/api/workflow_templates/${templateDir}/${name}.json`;
  const loaded = await page.evaluate(async ({ url, name, apiOnly }) => {
    const app = window.app;
    if (apiOnly) {  // no template: the API prompt itself, as a script user pastes it
      await app.loadApiJson(apiOnly, name);
      return { nodeCount: Object.keys(apiOnly).length };
    }
    const response = await fetch(url);
    if (!response.ok) return { fetchError: `${url}: HTTP ${response.status}` };
    const workflow = await response.json();
    await app.loadGraphData(workflow, true, true, null, { showMissingModelsDialog: false, showMissingNodesDialog: false });
    return { nodeCount: workflow.nodes.length };
  }, { url, name, apiOnly: name.startsWith('api:') ? runs[name] : null });
  if (loaded.fetchError) return { name, renderer, ...loaded };
  await page.waitForTimeout(2500);  // previews load, Nodes 2.0 lays out its DOM
  await page.waitForFunction(() => {  // and the Note has rendered its markdown (slow on a busy machine)
    const note = window.app.graph.nodes.find((node) => node.type === 'MarkdownNote' || node.type === 'Note');
    const root = document.querySelector(`[data-node-id="${note?.id}"]`) ?? note?.widgets?.find((w) => w.element)?.element;
    return !note || root?.querySelector('p, h2');
  }, null, { timeout: 20000 }).catch(() => {});
  const seen = await page.evaluate(inspectGraph);
  const dialogs = await page.evaluate(() => [...document.querySelectorAll('.p-dialog')].map((d) => d.innerText.trim()));
  const toasts = await page.evaluate(() => [...document.querySelectorAll('.p-toast-message')].map((t) => t.innerText.trim()));
  const queued = await page.evaluate(async () => {
    try { return { prompt: (await window.app.graphToPrompt()).output }; } catch (error) { return { promptError: String(error) }; }
  });
  const saved = await page.evaluate(() => window.app.graph.serialize());
  await closeDialogs(page);
  const dir = path.join(outDir, renderer);
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name.replace(':', '_')}-load.png`) });
  return { name, renderer, ...loaded, ...seen, dialogs, toasts, ...queued, saved, loadErrors: [...consoleErrors] };
}

// Queues the weight-free twin from this page (its client id), so the result lands on the loaded graph's
// Video Combine node (same node ids), then reports the preview element the renderer made for it.
async function runOne(page, consoleErrors, renderer, name) {
  consoleErrors.length = 0;
  const outcome = await page.evaluate(async (prompt) => {
    const app = window.app;
    const api = app.api;
    const combine = Object.entries(prompt).find(([, node]) => node.class_type === 'RewindVideoCombine')[0];
    const done = new Promise((resolve) => {
      api.addEventListener('executed', (event) => { if (String(event.detail.node) === combine) resolve({ output: event.detail.output }); });
      api.addEventListener('execution_error', (event) => resolve({ error: event.detail.exception_message || 'execution_error' }));
      setTimeout(() => resolve({ error: 'no result within 300 s' }), 300000);
    });
    const response = await fetch('/api/prompt', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt, client_id: api.clientId, extra_data: { extra_pnginfo: { workflow: app.graph.serialize() } } }),
    });
    if (!response.ok) return { combine, error: `HTTP ${response.status}: ${await response.text()}` };
    return { combine, ...(await done) };
  }, runs[name]);
  if (outcome.error) return { name, renderer, ...outcome, runErrors: [...consoleErrors] };
  await page.evaluate((id) => {
    const node = window.app.graph.getNodeById(Number(id));
    window.app.canvas.centerOnNode?.(node);
    window.app.canvas.setDirty(true, true);
  }, outcome.combine);
  // The preview element appears asynchronously; give it a moment to load and (with the extension) start playing.
  let preview = null;
  for (let attempt = 0; attempt < 40 && !(preview?.playing); attempt += 1) {
    await page.waitForTimeout(250);
    preview = await page.evaluate((id) => {
      const node = window.app.graph.getNodeById(Number(id));
      const scope = document.querySelector(`[data-node-id="${id}"]`);
      const videos = [...(scope?.querySelectorAll('video') || []), ...(node.videoContainer?.querySelectorAll('video') || [])];
      const video = videos[0];
      const broken = scope ? /failed to load|error loading/i.test(scope.innerText) : false;
      if (!video) return { video: null, broken, images: [...(scope?.querySelectorAll('img') || [])].map((i) => i.src) };
      return { video: video.currentSrc || video.src, playing: !video.paused && video.readyState >= 2 && video.currentTime > 0,
               muted: video.muted, loop: video.loop, readyState: video.readyState, broken };
    }, outcome.combine);
  }
  // What a Roundtrip Report node shows: its text widget (classic) or its DOM (Nodes 2.0).
  const reportText = await page.evaluate(() => window.app.graph.nodes.filter((n) => n.type === 'RewindRoundtripReport').map((n) => {
    const scope = document.querySelector(`[data-node-id="${n.id}"]`);
    const widget = n.widgets?.find((w) => w.name === 'report');
    return { widget: widget?.value ?? null, shown: scope ? [...scope.querySelectorAll('textarea')].map((t) => t.value).join('\n') : (widget?.element?.value ?? null) };
  }));
  await page.screenshot({ path: path.join(outDir, renderer, `${name.replace(':', '_')}-run.png`) });
  return { name, renderer, ...outcome, preview, reportText, runErrors: [...consoleErrors] };
}

// Opens the template browser on the pack's category and reports its cards: the text shown and every
// thumbnail of the pack's templates (loaded or not). Screenshot: OUT_DIR/templates.png.
async function browseTemplates(page, consoleErrors) {
  consoleErrors.length = 0;
  const thumbnails = [];  // what the browser fetched for the pack's cards (the cards' DOM differs by version)
  const record = (response) => {
    if (response.url().includes(`/workflow_templates/${templateDir}/`) && /\.(jpg|webp|png)(\?|$)/.test(response.url())) {
      thumbnails.push({ src: response.url(), loaded: response.ok() && (response.headers()['content-type'] || '').startsWith('image/') });
    }
  };
  page.on('response', record);
  await page.evaluate(() => window.app.extensionManager.command.execute('Comfy.BrowseTemplates'));
  await page.waitForTimeout(3000);
  // The pack's category in the dialog's navigation (newer frontends fold it under "Extensions").
  const clickLabel = (label) => page.evaluate((label) => {
    const dialog = [...document.querySelectorAll('.p-dialog, [role="dialog"]')].pop();
    const match = [...(dialog?.querySelectorAll('*') || [])].reverse()
      .find((el) => el.innerText?.trim().toLowerCase() === label.toLowerCase() && el.getBoundingClientRect().width > 0);
    match?.click();
    return match?.innerText.trim() ?? null;
  }, label);
  let category = await clickLabel(templateDir);
  if (!category) {
    await clickLabel('Extensions');
    await page.waitForTimeout(1000);
    category = await clickLabel(templateDir);
  }
  await page.waitForTimeout(3000);
  const text = await page.evaluate(() => [...document.querySelectorAll('.p-dialog, [role="dialog"]')].pop()?.innerText ?? '');
  await page.screenshot({ path: path.join(outDir, 'templates.png') });
  page.off('response', record);
  await closeDialogs(page);
  return { category, text, thumbnails, errors: [...consoleErrors] };
}

const userDataDir = mkdtempSync(path.join(tmpdir(), 'rewind-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  viewport: { width: 1600, height: 1000 },
  // Chromium's default autoplay policy, as users have it: only muted videos may start on their own.
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
});
// Switches the open graph's Video Combine to gif as a user would (the widget's value and callback) and
// reports the widgets hidden then, and in Nodes 2.0 the widget labels the node still shows.
async function switchToGif(page) {
  await page.evaluate(() => {
    const node = window.app.graph.nodes.find((n) => n.type === 'RewindVideoCombine');
    const format = node.widgets.find((w) => w.name === 'format');
    format.value = 'image/gif';
    format.callback?.(format.value, window.app.canvas, node);
  });
  await page.waitForTimeout(1000);
  return page.evaluate(() => {
    const node = window.app.graph.nodes.find((n) => n.type === 'RewindVideoCombine');
    const scope = document.querySelector(`[data-node-id="${node.id}"]`);
    return { hidden: node.widgets.filter((w) => w.hidden).map((w) => w.name), shown: scope ? scope.innerText : null };
  });
}

const noise = (errors) => errors.filter((text) => !OFFLINE_NOISE.test(text));
try {
  const result = { startupErrors: {}, reports: [] };
  for (const renderer of renderers) {
    const { page, consoleErrors } = await openEditor(context, renderer);
    result.frontendVersion = await page.evaluate(() => window.__COMFYUI_FRONTEND_VERSION__ ?? null);
    result.startupErrors[renderer] = noise(consoleErrors);
    if (!result.templates) result.templates = await browseTemplates(page, consoleErrors);
    for (const name of names) {
      const load = await loadOne(page, consoleErrors, renderer, name);
      const run = runs[name] ? await runOne(page, consoleErrors, renderer, name) : {};
      result.reports.push({ ...load, loadErrors: noise(load.loadErrors || []), run: { ...run, runErrors: noise(run.runErrors || []) } });
    }
    (result.gif ??= {})[renderer] = await switchToGif(page);
    await page.close();
  }
  process.stdout.write(JSON.stringify(result));
} finally {
  await context.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
