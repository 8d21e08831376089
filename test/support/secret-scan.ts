// The whole run's secret scan (issue: "a scan of every workflow history the suite created, every
// log line it produced and every response"). Test supports register each secret they hand to the
// service (API keys, webhook secrets, MCP header values) and record what the service said (log
// lines, REST responses, socket frames); after the last test, a root hook (test/hooks.ts) reads
// every workflow history on the run's Temporal server and fails the run if any secret appears in
// a history, a log line or a response.
import type { Client } from '@temporalio/client';
import { fetchAllRuns, historyText } from './histories';

/** Shorter values could occur by chance (and none of our secrets is this short). */
const MIN_SECRET_LENGTH = 12;

const secrets = new Set<string>();
const logs: string[] = [];
const responses: string[] = [];

export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

export function recordLogLine(line: string): void {
  logs.push(line);
}

export function recordResponse(text: string): void {
  responses.push(text);
}

export function registeredSecretCount(): number {
  return secrets.size;
}

/** Where each secret was found: `[]` when the run leaked nothing. */
export async function scanForSecrets(
  client: Client | undefined,
): Promise<{ findings: string[]; histories: number; logLines: number; responses: number }> {
  const findings: string[] = [];
  const check = (where: string, text: string) => {
    for (const secret of secrets) if (text.includes(secret)) findings.push(`${where} contains the secret ${secret.slice(0, 6)}…`);
  };
  let histories = 0;
  if (client) {
    const ids: string[] = [];
    for await (const execution of client.workflow.list()) ids.push(execution.workflowId);
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += 20) {
      const texts = await Promise.all(
        unique.slice(i, i + 20).map(async (id) => [id, historyText(await fetchAllRuns(client, id))] as const),
      );
      for (const [id, text] of texts) check(`history of ${id}`, text);
      histories += texts.length;
    }
  }
  check('the logs', logs.join('\n'));
  responses.forEach((text, i) => check(`response #${i}`, text));
  return { findings, histories, logLines: logs.length, responses: responses.length };
}
