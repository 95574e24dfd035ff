// Signed-but-poison webhook bodies of issue 17 (defect 3), shared by poison.test.ts and startup.test.ts.
import { messagesValue, statusBody, st, WABA } from './helpers.ts';

/** `{"a":{"a":…}}` nested `depth` levels, built as text (JSON.parse is iterative; a recursive builder is not). */
export function deepJson(depth: number): string {
  return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
}

/** A Meta envelope whose `object` is an object with a `toString` key (String() of it throws). */
export function toStringBody(): Record<string, unknown> {
  return {
    object: { toString: 'x' },
    entry: [{ id: WABA, time: 1, changes: [{ field: 'messages', value: messagesValue({ statuses: [] }) }] }],
  };
}

/** A messages change whose value nests `depth` levels below a status: as raw text. */
export function deepBodyText(depth = 50_000): string {
  const head = JSON.stringify(statusBody([{ ...st('wamid.DEEP', 'delivered', Date.UTC(2026, 5, 1, 11)), pricing: '__DEEP__' }]));
  return head.replace('"__DEEP__"', deepJson(depth));
}
