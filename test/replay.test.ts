// Determinism guard: histories recorded from real sessions (test/fixtures/histories, refreshed by
// `RECORD_HISTORIES=1 npx mocha test/session-workflow.test.ts`) must replay on the current
// workflow code. A change that would break running sessions fails here; such a change needs
// `patched()` or a new workflow type, not a fixture refresh.
import assert from 'node:assert/strict';
import { HISTORY_FIXTURES_DIR, readHistoryFixtures, replayFailures } from './support/histories';

describe('workflow replay', function () {
  this.timeout(120_000);

  it('replays every recorded session history on the current workflow code', async () => {
    const histories = readHistoryFixtures(HISTORY_FIXTURES_DIR);
    assert.ok(histories.length >= 10, `expected recorded histories in ${HISTORY_FIXTURES_DIR}`);
    assert.deepEqual(await replayFailures(histories), []);
  });
});
