#!/usr/bin/env node
// Render screens of an EPUB with epub.js in headless Debian Chromium (playwright-core)
// and save them as PNG files: a quick look at how a reading system shows the book.
//
// Usage:
//   node tools/screenshot.mjs BOOK.epub OUTDIR [--width 600] [--height 900]
//        [--spine N ...] [--pages K] [--dark]
//
//   --spine N   spine index (0-based) to render; repeatable, default: every item
//   --pages K   screens per spine item (default 1); stops early at the item's end
//   --dark      apply a night-mode theme through epub.js rendition.themes
//
// Writes OUTDIR/NN-<name>.png for the first screen of spine item NN
// (<name> = file name of the item without extension) and OUTDIR/NN-<name>-pK.png
// for screen K >= 2; prints one line per file. epub.js and JSZip come from
// tools/node_modules and are served with the book from a throwaway HTTP server
// on 127.0.0.1; every other request is aborted (no external network).
// Exit codes: 0 ok, 1 failure, 2 usage error.

import { chromium } from 'playwright-core';
import { createServer } from 'node:http';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const NODE_MODULES = path.join(HERE, 'node_modules');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const DARK_THEME = {
  'html, body': { background: '#121212 !important', color: '#e4e4e4 !important' },
  'a, a:visited': { color: '#8ab4f8 !important' },
};

const USAGE = 'usage: node tools/screenshot.mjs BOOK.epub OUTDIR [--width 600 --height 900] [--spine N ...] [--pages K] [--dark]';

function parseArgs(argv) {
  const opts = { width: 600, height: 900, spine: [], pages: 1, dark: false, positional: [] };
  const int = (flag, value) => {
    const n = Number.parseInt(value, 10);
    if (!Number.isInteger(n) || n < 0 || String(n) !== String(value).trim()) {
      throw new Error(`${flag} needs a non-negative integer, got ${value}`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s, 2) : [a, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case '--width': opts.width = int(flag, value()); break;
      case '--height': opts.height = int(flag, value()); break;
      case '--pages': opts.pages = int(flag, value()); break;
      case '--spine': opts.spine.push(int(flag, value())); break;
      case '--dark': opts.dark = true; break;
      case '-h': case '--help': console.log(USAGE); process.exit(0);
      default:
        if (a.startsWith('-')) throw new Error(`unknown option ${a}`);
        opts.positional.push(a);
    }
  }
  if (opts.positional.length !== 2) throw new Error('need BOOK.epub and OUTDIR');
  if (opts.width < 100 || opts.height < 100 || opts.pages < 1) throw new Error('width/height >= 100, pages >= 1');
  return opts;
}

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>epub.js screenshot</title>
<style>html,body{margin:0;padding:0;background:#fff}#viewer{overflow:hidden}</style>
<script src="/jszip.min.js"></script><script src="/epub.min.js"></script>
</head><body><div id="viewer"></div>
<script>
window.shot = {
  async open(width, height, dark) {
    const viewer = document.getElementById('viewer');
    viewer.style.width = width + 'px';
    viewer.style.height = height + 'px';
    if (dark) document.body.style.background = '#121212';
    this.book = ePub('/book.epub', { openAs: 'epub' });
    await this.book.ready;
    this.rendition = this.book.renderTo('viewer', {
      width, height, flow: 'paginated', spread: 'none', manager: 'default',
    });
    if (dark) {
      this.rendition.themes.register('dark', ${JSON.stringify(DARK_THEME)});
      this.rendition.themes.select('dark');
    }
    const items = [];
    this.book.spine.each((item) => items.push({ index: item.index, href: item.href, linear: item.linear }));
    return items;
  },
  async settle() {
    for (const contents of this.rendition.getContents()) {
      const doc = contents.document;
      if (doc.fonts) await doc.fonts.ready;
      await Promise.all(Array.from(doc.images).map((img) => img.decode().catch(() => null)));
    }
    await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  },
  where() {
    const loc = this.rendition.currentLocation();
    if (!loc || !loc.start) return null;
    return { index: loc.start.index, page: loc.start.displayed.page, total: loc.start.displayed.total,
             atEnd: Boolean(loc.atEnd) };
  },
  async display(index) {
    await this.rendition.display(this.book.spine.get(index).href);
    await this.settle();
    return this.where();
  },
  async next() {
    await this.rendition.next();
    await this.settle();
    return this.where();
  },
};
</script></body></html>`;

async function startServer(epubPath) {
  const files = {
    '/': { type: 'text/html; charset=utf-8', body: Buffer.from(PAGE_HTML) },
    '/epub.min.js': { type: 'text/javascript', body: await readFile(path.join(NODE_MODULES, 'epubjs/dist/epub.min.js')) },
    '/jszip.min.js': { type: 'text/javascript', body: await readFile(path.join(NODE_MODULES, 'jszip/dist/jszip.min.js')) },
    '/book.epub': { type: 'application/epub+zip', body: await readFile(epubPath) },
  };
  const server = createServer((req, res) => {
    const file = files[new URL(req.url, 'http://x').pathname];
    if (!file) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': file.type, 'content-length': file.body.length });
    res.end(file.body);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}

function slug(href) {
  const base = path.posix.basename(href.split('#')[0]).replace(/\.[^.]*$/, '');
  return base.replace(/[^A-Za-z0-9._-]+/g, '_') || 'item';
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`screenshot: ${err.message}\n${USAGE}`);
    process.exit(2);
  }
  const [epubPath, outDir] = opts.positional;
  await mkdir(outDir, { recursive: true });
  const { server, origin } = await startServer(path.resolve(epubPath));
  const profile = await mkdtemp(path.join(tmpdir(), 'epub-shot-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: { width: opts.width + 40, height: opts.height + 40 },
      deviceScaleFactor: 1,
      offline: false,
    });
    // Only our own server; blob:/data: URLs (epub.js resources) never reach the network.
    await context.route('**/*', (route) =>
      route.request().url().startsWith(origin + '/') ? route.continue() : route.abort());
    const page = context.pages()[0] ?? (await context.newPage());
    const errors = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(origin + '/');
    const spine = await page.evaluate(([w, h, d]) => window.shot.open(w, h, d), [opts.width, opts.height, opts.dark]);
    const wanted = opts.spine.length ? opts.spine : spine.map((item) => item.index);
    const viewer = page.locator('#viewer');
    for (const index of wanted) {
      const item = spine.find((s) => s.index === index);
      if (!item) throw new Error(`spine index ${index} out of range (0..${spine.length - 1})`);
      const stem = `${String(index).padStart(2, '0')}-${slug(item.href)}`;
      let loc = await page.evaluate((i) => window.shot.display(i), index);
      for (let screen = 1; screen <= opts.pages; screen++) {
        const file = path.join(outDir, screen === 1 ? `${stem}.png` : `${stem}-p${screen}.png`);
        await viewer.screenshot({ path: file });
        console.log(file);
        if (screen === opts.pages || !loc || loc.atEnd || loc.page >= loc.total) break;
        loc = await page.evaluate(() => window.shot.next());
        if (!loc || loc.index !== index) break; // ran into the next spine item
      }
    }
    if (errors.length) console.error(`screenshot: page errors:\n  ${errors.join('\n  ')}`);
  } finally {
    if (context) await context.close();
    server.close();
    await rm(profile, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`screenshot: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
