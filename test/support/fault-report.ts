// What the fault suites (test/faults/) count and print: per client message id, whether it was sent,
// accepted and answered, and how often its result reached the client. One line per fault on
// stdout, and a JSON record appended to test-results/faults.json (git-ignored), from which the
// README's table is copied.
//
//   sent        ids the clients sent (each once, however often resent)
//   accepted    ids the gateway answered `accepted` for
//   answered    accepted ids whose result reached the client
//   duplicated  a result written again where it may not be: a second time to the same socket, or on
//               a later socket after the client's ack of it was known to be recorded
//   lost        accepted ids never answered
//   redelivered second copies that are allowed: on a new socket, a result that was sent but not
//               acked (as far as the client knows) before the break
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { projectRoot } from '../../lib/temporal-cli';

export const FAULTS_FILE = path.join(projectRoot, 'test-results', 'faults.json');

export interface FaultFigures {
  sent: number;
  accepted: number;
  answered: number;
  duplicated: number;
  lost: number;
  redelivered: number;
}

export interface FaultRecord extends FaultFigures {
  fault: string;
  seconds: number;
  at: string;
  notes?: string;
}

interface IdState {
  sent: boolean;
  accepted: boolean;
  /** Sockets (by number) the result reached, with how many copies each. */
  copies: Map<number, number>;
  /** The client's ack was recorded by the session (checked against its outbox). */
  ackRecorded: boolean;
}

export class DeliveryLedger {
  private readonly ids = new Map<string, IdState>();
  private readonly started = Date.now();
  /** Result frames with a readable status, for suites that check them. */
  readonly results = new Map<string, { status: string; error?: string; result: string }>();

  private state(id: string): IdState {
    let s = this.ids.get(id);
    if (!s) this.ids.set(id, (s = { sent: false, accepted: false, copies: new Map(), ackRecorded: false }));
    return s;
  }

  sent(id: string): void {
    this.state(id).sent = true;
  }

  accepted(id: string): void {
    this.state(id).accepted = true;
  }

  result(socket: number, frame: { id: string; status: string; error?: string; result: string }): void {
    const s = this.state(frame.id);
    s.copies.set(socket, (s.copies.get(socket) ?? 0) + 1);
    this.results.set(frame.id, { status: frame.status, result: frame.result, ...(frame.error ? { error: frame.error } : {}) });
  }

  ackRecorded(id: string): void {
    this.state(id).ackRecorded = true;
  }

  isAnswered(id: string): boolean {
    return (this.ids.get(id)?.copies.size ?? 0) > 0;
  }

  unanswered(): string[] {
    return [...this.ids].flatMap(([id, s]) => (s.accepted && s.copies.size === 0 ? [id] : []));
  }

  /** Ids with at least one result, and ids sent but not accepted yet. */
  answeredIds(): string[] {
    return [...this.ids].flatMap(([id, s]) => (s.copies.size > 0 ? [id] : []));
  }

  notAccepted(): string[] {
    return [...this.ids].flatMap(([id, s]) => (s.sent && !s.accepted ? [id] : []));
  }

  figures(): FaultFigures {
    const f: FaultFigures = { sent: 0, accepted: 0, answered: 0, duplicated: 0, lost: 0, redelivered: 0 };
    for (const s of this.ids.values()) {
      if (s.sent) f.sent += 1;
      if (s.accepted) f.accepted += 1;
      if (s.accepted && s.copies.size > 0) f.answered += 1;
      if (s.accepted && s.copies.size === 0) f.lost += 1;
      for (const copies of s.copies.values()) f.duplicated += copies - 1;
      const laterSockets = s.copies.size - 1;
      if (laterSockets > 0) {
        if (s.ackRecorded) f.duplicated += laterSockets;
        else f.redelivered += laterSockets;
      }
    }
    return f;
  }

  /** Prints the line and appends the record; returns the figures for the suite's assertions. */
  report(fault: string, notes?: string): FaultFigures {
    const figures = this.figures();
    reportFault(fault, figures, (Date.now() - this.started) / 1000, notes);
    return figures;
  }
}

export function reportFault(fault: string, figures: FaultFigures, seconds: number, notes?: string): void {
  const line =
    `fault ${fault}: sent ${figures.sent} / accepted ${figures.accepted} / answered ${figures.answered} / ` +
    `duplicated ${figures.duplicated} / lost ${figures.lost}` +
    ` (redelivered ${figures.redelivered}, ${seconds.toFixed(1)} s)` +
    (notes ? ` — ${notes}` : '');
  process.stdout.write(`      ${line}\n`);
  const record: FaultRecord = {
    fault,
    ...figures,
    seconds: Math.round(seconds * 10) / 10,
    at: new Date().toISOString(),
    ...(notes ? { notes } : {}),
  };
  mkdirSync(path.dirname(FAULTS_FILE), { recursive: true });
  let records: FaultRecord[];
  try {
    const stored: unknown = JSON.parse(readFileSync(FAULTS_FILE, 'utf8'));
    records = Array.isArray(stored) ? (stored as FaultRecord[]) : [];
  } catch {
    records = [];
  }
  records.push(record);
  writeFileSync(FAULTS_FILE, JSON.stringify(records, null, 2) + '\n');
}
