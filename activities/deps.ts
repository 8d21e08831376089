import type { AppConfig } from '../config';
import type { Database } from '../db';
import type { Logger } from '../lib/logger';
import type { SecretBox } from '../lib/secret-box';
import type { FrameRelay } from '../relay';

/** What the activities need; the worker passes its AppContext's parts. */
export interface ActivityDeps {
  db: Database;
  secretBox: SecretBox;
  config: Pick<AppConfig, 'ROUTER_LLM_BASE_URL' | 'ROUTER_LLM_API_KEY' | 'ROUTER_LLM_MODEL' | 'egressAllow' | 'UPSTREAM_GAP_TIMEOUT'>;
  logger: Logger;
  /** Progress frames to the socket, outside history. */
  relay: FrameRelay;
}
