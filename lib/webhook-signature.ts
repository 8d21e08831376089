// Webhook signing secrets. The API makes them (shown once) and the functions layer signs with
// them; both sides of the scheme are in README.md, "Webhook signatures".
import { randomBytes } from 'node:crypto';

const SECRET_PREFIX = 'whsec_';

/** A new signing secret: 32 random bytes, base64url, with a prefix that says what it is. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
}
