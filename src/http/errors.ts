/** The hint added to an error when the interface guess may be wrong. */
export function interfaceHint(err: unknown, current: 'fetch' | 'node'): string | undefined {
  const message = err instanceof Error ? err.message : '';
  if (current === 'fetch' && /is not a function|Cannot read properties of undefined/.test(message)) {
    return 'if the app is a (req, res) handler, start unicorn-ts with --interface node';
  }
  return undefined;
}
