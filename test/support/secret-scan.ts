// The whole run's secret scan (issue: "a scan of every workflow history the suite created, every
// log line it produced and every response"). Test supports register each secret they hand to the
// service (API keys, webhook secrets, MCP header values) and record what the service said (log
// lines, REST responses, socket frames); after the last test, a root hook (test/hooks.ts) reads
// every workflow history on the run's Temporal server and fails the run if any secret appears in
// a history, a log line or a response.
import { Client, Connection } from '@temporalio/client';
import { decodedText } from './histories';
import { hashApiKey } from '../../lib/api-keys';
import { historyEvents } from '../../lib/temporal-history';

/** A run's history as text, page by page (a page holds whole batches of events: one can pass 4 MB). */
async function historyText(client: Client, workflowId: string, runId: string): Promise<string> {
  const texts: string[] = [];
  for await (const event of historyEvents(client, workflowId, runId)) texts.push(decodedText(event));
  return texts.join('\n');
}

/** Shorter values could occur by chance (and none of our secrets is this short). */
const MIN_SECRET_LENGTH = 12;

const secrets = new Set<string>();
const logs: string[] = [];
const responses: string[] = [];

export function registerSecret(value: string | null | undefined): void {
  if (value && value.length >= MIN_SECRET_LENGTH) secrets.add(value);
}

/**
 * A user API key (`sb-…`) the service made: the key, and its stored SHA-256 hash (lib/api-keys.ts),
 * which must never leave the database either.
 */
export function registerApiKey(key: string): void {
  registerSecret(key);
  registerSecret(hashApiKey(key));
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
  address: string | undefined,
): Promise<{ findings: string[]; histories: number; logLines: number; responses: number }> {
  const findings: string[] = [];
  const check = (where: string, text: string) => {
    for (const secret of secrets) if (text.includes(secret)) findings.push(`${where} contains the secret ${secret.slice(0, 6)}…`);
  };
  let histories = 0;
  if (address) {
    // Its own connection: the bounds tests make history pages larger than gRPC's default 4 MB limit.
    const connection = await Connection.connect({ address, channelArgs: { 'grpc.max_receive_message_length': 256 * 1024 * 1024 } });
    const client = new Client({ connection });
    // Every run of every workflow (a session that continued as new lists each run).
    const runs: { workflowId: string; runId: string }[] = [];
    for await (const execution of client.workflow.list()) runs.push({ workflowId: execution.workflowId, runId: execution.runId });
    for (let i = 0; i < runs.length; i += 20) {
      const batch = runs.slice(i, i + 20);
      const texts = await Promise.all(batch.map((run) => historyText(client, run.workflowId, run.runId)));
      texts.forEach((text, j) => check(`history of ${batch[j]!.workflowId}`, text));
      histories += texts.length;
    }
    await connection.close();
  }
  check('the logs', logs.join('\n'));
  responses.forEach((text, i) => check(`response #${i}`, text));
  return { findings, histories, logLines: logs.length, responses: responses.length };
}
