// The log format: readable lines on a terminal, pino's JSON otherwise or when LOG_FORMAT=json.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../lib/logger';
import { formatLogLine, logDestination } from '../lib/log-pretty';

/** A stdout stand-in that records what is written, a terminal or not. */
function fakeStdout(isTTY: boolean): { out: NodeJS.WriteStream; written: string[] } {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      written.push(chunk.toString());
      done();
    },
  });
  // Only `isTTY` and `write` are read; the rest of WriteStream's surface is not used.
  return { out: Object.assign(stream, { isTTY }) as unknown as NodeJS.WriteStream, written };
}

describe('log format', function () {
  it('on a terminal writes one readable line per record, with its fields and without the JSON', function () {
    const { out, written } = fakeStdout(true);
    const logger = createLogger('info', logDestination(undefined, out));
    logger.info({ role: 'worker', taskQueue: 'ai-sessions', url: 'ws://127.0.0.1:8081/ws' }, 'worker started');
    logger.debug('below the level');
    assert.equal(written.length, 1);
    // eslint-disable-next-line no-control-regex -- colours are on for a terminal; compare the text
    const text = written[0]!.replace(/\x1b\[\d+m/g, '');
    assert.match(
      text,
      /^\d\d:\d\d:\d\d\.\d{3} INFO {2}worker started {2}role=worker taskQueue=ai-sessions url=ws:\/\/127\.0\.0\.1:8081\/ws\n$/,
    );
    assert.doesNotMatch(text, /[{}]|service=/);
  });

  it('keeps redaction, quotes values with spaces and shows an error with its stack', function () {
    const { out, written } = fakeStdout(true);
    const logger = createLogger('info', logDestination('pretty', out));
    logger.error({ err: new Error('boom'), api_key: 'sk-live-123', part: 'api role' }, 'failed to stop cleanly');
    const text = written.join('');
    assert.doesNotMatch(text, /sk-live-123/);
    assert.match(text, /ERROR.*failed to stop cleanly.*api_key=\[redacted\] part="api role"/);
    assert.match(text, /\n {4}Error: boom\n {8}at /);
  });

  it('writes JSON when stdout is not a terminal, or on a terminal with LOG_FORMAT=json', function () {
    assert.equal(logDestination(undefined, fakeStdout(false).out), undefined, 'pino writes its JSON to stdout');
    assert.equal(logDestination('json', fakeStdout(true).out), undefined);
    const { out, written } = fakeStdout(false);
    createLogger('info', logDestination('pretty', out)).info('forced');
    assert.match(written.join(''), /INFO {2}forced\n$/, 'LOG_FORMAT=pretty also into a pipe');
  });

  it('passes lines that are not records through unchanged', function () {
    assert.equal(formatLogLine('plain text', false), 'plain text\n');
    assert.equal(formatLogLine('[1,2]', false), '[1,2]\n');
  });
});
