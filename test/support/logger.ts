import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../lib/logger';
import { recordLogLine } from './secret-scan';

/** Every line at debug level goes to the run's secret scan; `echo` also prints it. */
function sinkTo(lines: string[] | undefined, echo: boolean): Writable {
  return new Writable({
    write(chunk, _encoding, done) {
      const line = String(chunk);
      recordLogLine(line);
      lines?.push(line);
      if (echo) process.stdout.write(line);
      done();
    },
  });
}

/**
 * What the service logs during tests, at debug level so the secret scan sees every line; printed
 * only with TEST_LOG_LEVEL set (e.g. TEST_LOG_LEVEL=debug).
 */
export const testLogger = createLogger('debug', sinkTo(undefined, Boolean(process.env.TEST_LOG_LEVEL)));

/** A debug-level logger that keeps every line it writes, for a suite's own checks that no secret reaches a log. */
export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: createLogger('debug', sinkTo(lines, false)), lines };
}
