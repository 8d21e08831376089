// Builds the web console (console/src, Preact + TypeScript) into console/dist with esbuild:
// content-hashed assets under dist/assets (served with a year-long immutable cache) and an
// index.html that loads them (served with no-cache), with no inline script or style so the
// strict Content-Security-Policy holds. A stamp of the inputs makes a rebuild happen only when
// something changed. `node scripts/build-console.mjs [--force]`; scripts/setup.mjs calls
// `ensureConsole()` before `npm start` and `npm test`.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const consoleDir = path.join(root, 'console');
const srcDir = path.join(consoleDir, 'src');
/** Files served as they are at the site's root (the favicon), copied into dist unchanged. */
const publicDir = path.join(consoleDir, 'public');
const distDir = path.join(consoleDir, 'dist');
const stampFile = path.join(distDir, '.build-stamp');

/** Every file the bundle depends on: the sources, this script and the locked package versions. */
function inputFiles() {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push(full);
    }
  };
  walk(srcDir);
  walk(publicDir);
  files.push(path.join(consoleDir, 'index.html'), path.join(consoleDir, 'tsconfig.json'), fileURLToPath(import.meta.url));
  const lock = path.join(root, 'package-lock.json');
  if (existsSync(lock)) files.push(lock);
  return files.sort();
}

function inputsHash() {
  const hash = createHash('sha256');
  for (const file of inputFiles()) {
    hash.update(path.relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

/** True when console/dist was built from the current sources. */
export function consoleIsFresh() {
  try {
    return readFileSync(stampFile, 'utf8').trim() === inputsHash() && statSync(path.join(distDir, 'index.html')).isFile();
  } catch {
    return false;
  }
}

export async function buildConsole() {
  const { build } = await import('esbuild');
  rmSync(distDir, { recursive: true, force: true });
  mkdirSync(distDir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    entryPoints: [path.join(srcDir, 'main.tsx')],
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    target: ['es2020', 'chrome100', 'firefox100', 'safari15'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: path.join(consoleDir, 'tsconfig.json'),
    outdir: path.join(distDir, 'assets'),
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true,
    legalComments: 'none',
    logLevel: 'warning',
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) =>
    path.relative(distDir, path.resolve(root, file)).split(path.sep).join('/'),
  );
  const script = outputs.find((file) => file.endsWith('.js'));
  const style = outputs.find((file) => file.endsWith('.css'));
  if (!script || !style) throw new Error(`console build produced ${outputs.join(', ')}; expected one .js and one .css`);
  const html = readFileSync(path.join(consoleDir, 'index.html'), 'utf8')
    .replace('<!-- style -->', `<link rel="stylesheet" href="/${style}">`)
    .replace('<!-- script -->', `<script type="module" src="/${script}"></script>`);
  writeFileSync(path.join(distDir, 'index.html'), html);
  const publicFiles = readdirSync(publicDir);
  for (const name of publicFiles) copyFileSync(path.join(publicDir, name), path.join(distDir, name));
  const bytes = Object.fromEntries(outputs.map((file) => [file, statSync(path.join(distDir, file)).size]));
  writeFileSync(stampFile, inputsHash() + '\n');
  return { files: ['index.html', ...publicFiles, ...outputs], bytes };
}

/** Builds the console when it is missing or stale; returns what happened, for setup's summary line. */
export async function ensureConsole() {
  if (consoleIsFresh()) return 'console up to date';
  const { bytes } = await buildConsole();
  const total = Object.values(bytes).reduce((sum, size) => sum + size, 0);
  return `console built (${(total / 1024).toFixed(1)} KiB)`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const force = process.argv.includes('--force');
  const outcome = force ? await buildConsole().then(({ bytes }) => JSON.stringify(bytes)) : await ensureConsole();
  process.stdout.write(`build-console: ${outcome}\n`);
}
