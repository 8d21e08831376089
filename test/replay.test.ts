// Determinism guard: histories recorded from real sessions (test/fixtures/histories, added to by
// `RECORD_HISTORIES=1 npx mocha test/session-workflow.test.ts`) must replay on the current
// workflow code. A change that would break running sessions fails here; such a change needs
// `patched()` or a new workflow type, never a fixture refresh: the fixtures are append-only, and
// their manifest proves it.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  FIXTURE_GENERATION,
  FIXTURE_MANIFEST,
  HISTORY_FIXTURES_DIR,
  readHistoryFixtures,
  replayFailures,
  sha256File,
} from './support/histories';

describe('workflow replay', function () {
  this.timeout(120_000);

  it('replays every recorded session history on the current workflow code', async () => {
    const histories = readHistoryFixtures(HISTORY_FIXTURES_DIR);
    assert.ok(histories.length >= 10, `expected recorded histories in ${HISTORY_FIXTURES_DIR}`);
    assert.deepEqual(await replayFailures(histories), []);
  });

  it('keeps the fixtures append-only: every listed fixture is present and unchanged, every fixture is listed', () => {
    const manifest = readFileSync(path.join(HISTORY_FIXTURES_DIR, FIXTURE_MANIFEST), 'utf8')
      .trim()
      .split('\n')
      .map((line) => {
        const [hash, file] = line.split(/\s+/);
        return { hash: hash!, file: file! };
      });
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
    // Both generations are kept: sessions of the v1 message path and of the current one.
    assert.ok(
      files.some((f) => !f.startsWith(`${FIXTURE_GENERATION}-`)),
      'the v1 fixtures must stay',
    );
    assert.ok(
      files.some((f) => f.startsWith(`${FIXTURE_GENERATION}-`)),
      `record the ${FIXTURE_GENERATION} fixtures`,
    );
  });
});
