import { createLogger } from '../../lib/logger';

/** Quiet by default; TEST_LOG_LEVEL=debug shows what the service logs during tests. */
export const testLogger = createLogger(process.env.TEST_LOG_LEVEL ?? 'silent');
