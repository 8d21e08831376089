import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../lib/logger';

/** Quiet by default; TEST_LOG_LEVEL=debug shows what the service logs during tests. */
export const testLogger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');

/** A debug-level logger that keeps every line it writes, for checks that no secret reaches a log. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger('debug', sink), lines };
}
