// Wait for state that changes asynchronously (a signal applied by the workflow, a row its
// activity writes): `check` is retried until it holds, that is until it neither throws (an
// assertion that fails) nor returns `false`. Anything else it returns is the answer, so both
// `eventually(() => assert.equal(...))` and `eventually(async () => (await find()) ?? false)`
// work. The timeout only bounds a failing test; it then fails with the check's last error.
export async function eventually<T>(check: () => Promise<T | false> | T | false, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let failure: unknown;
    try {
      const value = await check();
      if (value !== false) return value;
      failure = new Error(`condition not met within ${timeoutMs} ms`);
    } catch (error) {
      failure = error;
    }
    if (Date.now() > deadline) throw failure;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
