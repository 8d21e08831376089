// Ctrl-C in a terminal signals the whole foreground process group: under `npm start` both npm
// and we get the SIGINT, and npm forwards its own copy, so one key press arrives twice within
// milliseconds. The same signal again within ECHO_WINDOW_MS is that echo, not a second request;
// a signal after that (or a different one) is the user insisting, and forces the exit.

export const ECHO_WINDOW_MS = 1_000;

export class ShutdownSignals {
  private first: { signal: NodeJS.Signals; at: number } | undefined;

  constructor(
    private readonly windowMs = ECHO_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** `stop` for the first signal, `echo` for its repeat within the window, `force` for any later one. */
  receive(signal: NodeJS.Signals): 'stop' | 'echo' | 'force' {
    const at = this.now();
    if (!this.first) {
      this.first = { signal, at };
      return 'stop';
    }
    return signal === this.first.signal && at - this.first.at < this.windowMs ? 'echo' : 'force';
  }
}
