// Retry an assertion until it holds: for state that changes asynchronously (a signal applied by
// the workflow, a row its activity writes). The timeout only bounds a failing test.
export async function eventually<T>(check: () => Promise<T> | T, ms = 20_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  }
}
