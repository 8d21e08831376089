// What this process started, stopped in reverse order on shutdown: roles first, then the
// Temporal connection and server, then the database and PostgreSQL. A failing step is logged
// and the rest still run, so one stuck part never leaves the others behind.
import type { Logger } from '../lib/logger';

export class Lifecycle {
  private readonly steps: { name: string; close: () => Promise<void> }[] = [];

  constructor(private readonly logger: Logger) {}

  /** Register how to undo something that has just started. */
  add(name: string, close: () => Promise<void>): void {
    this.steps.push({ name, close });
  }

  /** Runs every close step, last added first; resolves false if any of them failed. */
  async closeAll(): Promise<boolean> {
    let clean = true;
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      try {
        await step.close();
        this.logger.info({ part: step.name }, `${step.name} stopped`);
      } catch (error) {
        clean = false;
        this.logger.error({ err: error, part: step.name }, 'failed to stop cleanly');
      }
    }
    return clean;
  }
}
