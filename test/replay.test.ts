// Determinism guard: histories recorded from real sessions (test/fixtures/histories, added to by
// `RECORD_HISTORIES=1 npx mocha test/session-workflow.test.ts`) must replay on the current
// workflow code. A change that would break running sessions fails here; such a change needs
// `patched()` or a new workflow type, never a fixture refresh: the fixtures are append-only, and
// their manifest proves it. A fixture leaves only by retirement (ARCHITECTURE.md, "Upgrades"):
// its manifest line moves to RETIRED, named with the release that deleted the path it needs.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../lib/temporal-cli';
import {
  FIXTURE_GENERATION,
  FIXTURE_MANIFEST,
  HISTORY_FIXTURES_DIR,
  readHistoryFixtures,
  readManifest,
  replayFailures,
  RETIRED_FIXTURES,
  sha256File,
} from './support/histories';

const lineOf = (m: { hash: string; file: string }) => `${m.hash}  ${m.file}`;

describe('workflow replay', function () {
  this.timeout(120_000);
  const manifest = readManifest(path.join(HISTORY_FIXTURES_DIR, FIXTURE_MANIFEST));
  const retired = readManifest(path.join(HISTORY_FIXTURES_DIR, RETIRED_FIXTURES));

  it('replays every recorded session history on the current workflow code', async () => {
    const histories = readHistoryFixtures(HISTORY_FIXTURES_DIR);
    assert.ok(histories.length >= 10, `expected recorded histories in ${HISTORY_FIXTURES_DIR}`);
    assert.deepEqual(await replayFailures(histories), []);
  });

  it('keeps the fixtures append-only: every listed fixture is present and unchanged, every fixture is listed', () => {
    for (const { hash, file } of manifest) {
      assert.equal(sha256File(path.join(HISTORY_FIXTURES_DIR, file)), hash, `${file} was changed; add a new fixture instead`);
    }
    const listed = new Set(manifest.map((m) => m.file));
    const files = readdirSync(HISTORY_FIXTURES_DIR).filter((f) => f.endsWith('.json'));
    assert.deepEqual(
      files.filter((f) => !listed.has(f)),
      [],
      'fixtures missing from the manifest',
    );
    // Every fixture that remains is of the current generation: the v1 ones were retired with the v1 path.
    assert.deepEqual(
      files.filter((f) => !f.startsWith(`${FIXTURE_GENERATION}-`)),
      [],
      `fixtures the current code cannot replay; retire them or record ${FIXTURE_GENERATION} ones`,
    );
  });

  it('retires fixtures only explicitly: a retired line names its release and is gone from the manifest and the disk', () => {
    assert.ok(retired.length > 0);
    const current = new Set(manifest.map(lineOf));
    for (const line of retired) {
      assert.match(line.hash, /^[0-9a-f]{64}$/, `${RETIRED_FIXTURES}: ${line.file}`);
      assert.ok(line.release, `${RETIRED_FIXTURES}: ${line.file} names no release`);
      assert.ok(!current.has(lineOf(line)), `${line.file} is both listed and retired`);
      // A file of that name may exist only as a newer fixture, listed with another hash.
      const file = path.join(HISTORY_FIXTURES_DIR, line.file);
      if (existsSync(file)) assert.notEqual(sha256File(file), line.hash, `${line.file} was retired but is still here`);
    }
  });

  it('loses no fixture by accident: every line the manifest ever had is still listed or retired (git history)', function () {
    let log: string;
    try {
      const manifestPath = path.relative(projectRoot, path.join(HISTORY_FIXTURES_DIR, FIXTURE_MANIFEST));
      log = execFileSync('git', ['log', '--format=', '-p', '--', manifestPath], { cwd: projectRoot, encoding: 'utf8' });
    } catch {
      return this.skip(); // not a git checkout (an exported tree): the checks above still ran
    }
    const everListed = [...log.matchAll(/^\+([0-9a-f]{64})\s+(\S+)$/gm)].map(([, hash, file]) => lineOf({ hash: hash!, file: file! }));
    assert.ok(everListed.length >= manifest.length, 'the manifest has a history');
    const kept = new Set([...manifest, ...retired].map(lineOf));
    assert.deepEqual(
      [...new Set(everListed)].filter((line) => !kept.has(line)),
      [],
      `fixtures gone from ${FIXTURE_MANIFEST} without a line in ${RETIRED_FIXTURES}`,
    );
  });
});
