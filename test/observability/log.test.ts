// The logger factory (src/observability/log.ts): readable lines on a terminal, JSON lines otherwise,
// WAGATE_LOG_FORMAT to choose, and in either format the secrets redacted and phone numbers masked.
import { describe, expect, it } from 'vitest';
import { createLogger, logFormat, maskPhone } from '../../src/observability/log.ts';

/** A destination that records what the logger writes; `isTTY` makes it a terminal. */
function sink(isTTY: boolean) {
  const lines: string[] = [];
  return { lines, stream: { isTTY, write: (s: string) => void lines.push(s) } };
}

const ANSI = /\x1b\[[0-9;]*m/;
const TOKEN = 'EAAGm0PX4ZCpsBAKZCZBx9secret';

/** One line of each kind of secret the redaction covers, plus a masked phone number. */
function logSecrets(log: ReturnType<typeof createLogger>): void {
  log.child({ component: 'delivery' }).info(
    {
      to: maskPhone('+44 7700 900123'),
      access_token: TOKEN,
      headers: { authorization: `Bearer ${TOKEN}` },
      sender: { token: TOKEN, app_secret: 's3cr3t-app' },
      smtp: { pass: 'hunter2' },
    },
    'message sent',
  );
}

describe('logFormat', () => {
  it('pretty on a terminal, JSON otherwise, unless WAGATE_LOG_FORMAT says', () => {
    expect(logFormat({}, true)).toBe('pretty');
    expect(logFormat({}, false)).toBe('json');
    expect(logFormat({ WAGATE_LOG_FORMAT: 'auto' }, true)).toBe('pretty');
    expect(logFormat({ WAGATE_LOG_FORMAT: 'auto' }, false)).toBe('json');
    expect(logFormat({ WAGATE_LOG_FORMAT: 'json' }, true)).toBe('json');
    expect(logFormat({ WAGATE_LOG_FORMAT: ' Pretty ' }, false)).toBe('pretty');
    expect(logFormat({ WAGATE_LOG_FORMAT: 'yaml' }, false)).toBe('json');
  });
});

describe('createLogger', () => {
  it('writes readable, coloured lines to a terminal, with secrets redacted and phones masked', () => {
    const { lines, stream } = sink(true);
    logSecrets(createLogger('info', { stream, env: {} }));
    expect(lines).toHaveLength(1);
    const line = lines[0].replace(/\x1b\[[0-9;]*m/g, '');
    expect(lines[0]).toMatch(ANSI);
    expect(line).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: delivery: message sent \{/);
    expect(() => JSON.parse(line)).toThrow(); // not a JSON line
    expect(line).toContain('"to":"4477•••0123"');
    expect(line).not.toContain('900123"'); // no whole number anywhere
    expect(line).not.toMatch(/EAAG|s3cr3t|hunter2/);
    expect(line.match(/\[redacted\]/g)).toHaveLength(5);
  });

  it('writes one JSON object per line when not a terminal, redacted the same way', () => {
    const { lines, stream } = sink(false);
    logSecrets(createLogger('info', { stream, env: {} }));
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(ANSI);
    const o = JSON.parse(lines[0]) as Record<string, any>;
    expect(o).toMatchObject({
      level: 30,
      app: 'wagate',
      component: 'delivery',
      msg: 'message sent',
      to: '4477•••0123',
      access_token: '[redacted]',
    });
    expect(o.headers.authorization).toBe('[redacted]');
    expect(o.sender).toEqual({ token: '[redacted]', app_secret: '[redacted]' });
    expect(o.smtp.pass).toBe('[redacted]');
    expect(lines[0]).not.toMatch(/EAAG|s3cr3t|hunter2/);
  });

  it('WAGATE_LOG_FORMAT overrides the terminal check; NO_COLOR and a pipe mean no colours', () => {
    const a = sink(true);
    createLogger('info', { stream: a.stream, env: { WAGATE_LOG_FORMAT: 'json' } }).info('x');
    expect(JSON.parse(a.lines[0])).toMatchObject({ msg: 'x' });
    const b = sink(false);
    createLogger('info', { stream: b.stream, env: { WAGATE_LOG_FORMAT: 'pretty' } }).info({ access_token: TOKEN }, 'y');
    expect(b.lines[0]).toMatch(/INFO: y \{"access_token":"\[redacted\]"\}/);
    expect(b.lines[0]).not.toMatch(ANSI);
    const c = sink(true);
    createLogger('info', { stream: c.stream, env: { NO_COLOR: '1' } }).info('z');
    expect(c.lines[0]).toMatch(/INFO: z/);
    expect(c.lines[0]).not.toMatch(ANSI);
  });

  it('keeps the level, and says so when WAGATE_LOG_FORMAT is not a format it knows', () => {
    const { lines, stream } = sink(false);
    const log = createLogger('warn', { stream, env: { WAGATE_LOG_FORMAT: 'yaml' } });
    log.info('dropped');
    log.warn('kept');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['WAGATE_LOG_FORMAT is not json, pretty or auto; using json', 'kept']);
  });
});
