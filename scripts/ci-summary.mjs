// The closing line of .ci/run: one plain `N passed, N failed` summing the mocha run and the
// Schemathesis step, so a reader of the log (and any tool that reads the last line) sees the count.
//
//   node scripts/ci-summary.mjs <mocha log> <schemathesis log> <exit status of the steps>
//
// A step whose log has no count of its own but failed counts as one failure: a crash is never
// summed as zero.
import { existsSync, readFileSync } from 'node:fs';

const ANSI = /\u001b\[[0-9;]*m/g;

function read(file) {
  return existsSync(file) ? readFileSync(file, 'utf8').replace(ANSI, '') : '';
}

/** Mocha's closing lines: `393 passing (8m)`, `2 failing`, `1 pending`. */
export function mochaCounts(log) {
  const count = (word) => Number(new RegExp(`^\\s*(\\d+) ${word}\\b`, 'm').exec(log)?.[1] ?? 0);
  return { passed: count('passing'), failed: count('failing'), skipped: count('pending'), found: /^\s*\d+ passing\b/m.test(log) };
}

/** Schemathesis's summary: `3345 generated, 3340 passed, 5 failed` (and maybe `N skipped`). */
export function schemathesisCounts(log) {
  const line = log.match(/^\s*\d+ generated, .*$/m)?.[0];
  if (!line) return { passed: 0, failed: 0, skipped: 0, found: false };
  const count = (word) => Number(new RegExp(`(\\d+) ${word}`).exec(line)?.[1] ?? 0);
  return { passed: count('passed'), failed: count('failed') + count('errored'), skipped: count('skipped'), found: true };
}

const [mochaLog, fuzzLog, statusArg] = process.argv.slice(2);
const status = Number(statusArg ?? 0);
const mocha = mochaCounts(read(mochaLog));
const fuzz = schemathesisCounts(read(fuzzLog));
const passed = mocha.passed + fuzz.passed;
let failed = mocha.failed + fuzz.failed;
if (status !== 0 && failed === 0) failed = 1;
const skipped = mocha.skipped + fuzz.skipped;
if (!mocha.found) console.log('ci-summary: the mocha run printed no summary');
if (!fuzz.found) console.log('ci-summary: the Schemathesis step printed no summary');
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
