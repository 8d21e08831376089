// Provider and function-endpoint error text ends up in workflow history and logs, and endpoints like to
// echo the key back ("Incorrect API key provided: sk-..."). Every message leaving an activity goes through here.

const REDACTED = '[redacted]';

/** Patterns that look like credentials whatever their source. */
const KEY_LIKE: readonly RegExp[] = [
  /\bBearer\s+[^\s"',;]+/gi,
  /\b(?:api[_-]?key|token|secret|password|authorization)\s*[=:]\s*[^\s"',;&]+/gi,
  /\bsk-[A-Za-z0-9_*.-]{6,}/g,
  // Long opaque tokens: hex or base64/base64url runs of 32+ characters.
  /\b[0-9a-fA-F]{32,}\b/g,
  /[A-Za-z0-9+/_-]{32,}={0,2}/g,
];

/** Replace the given secrets (verbatim) and anything key-like in `text`. */
export function scrubSecrets(text: string, secrets: ReadonlyArray<string | null | undefined> = []): string {
  let out = text;
  for (const secret of secrets) {
    // Very short "secrets" (placeholders such as "none") would shred ordinary words.
    if (secret && secret.length >= 6) out = out.split(secret).join(REDACTED);
  }
  for (const pattern of KEY_LIKE) out = out.replace(pattern, REDACTED);
  return out;
}
