import type { AppConfig } from '../config';
import type { Database } from '../db';
import type { Logger } from '../lib/logger';
import type { SecretBox } from '../lib/secret-box';

/** What executing a stored config needs: its row, the keys to open its secrets, the egress policy. */
export interface ExecutionDeps {
  db: Database;
  secretBox: SecretBox;
  config: Pick<AppConfig, 'egressAllow' | 'UPSTREAM_GAP_TIMEOUT'>;
  logger: Logger;
}
