// Whatever was thrown, as one line of text for a log field, an audit row or an API answer: an Error's
// name (unless plain "Error") and message; anything else as JSON. Never throws itself (a thrown object
// with a `toString` key that is not a function would make String() throw).
export function errorText(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name && err.name !== 'Error' ? `${err.name}: ` : ''}${err.message}`;
    return typeof err === 'string' ? err : (JSON.stringify(err) ?? typeof err);
  } catch {
    return typeof err;
  }
}
