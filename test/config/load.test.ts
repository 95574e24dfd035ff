import { describe, it, expect } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { loadConfig, ConfigError, resolveSenders, needsSandbox } from '../../src/config/load.ts';

function problems(fn: () => unknown) {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('config loading', () => {
  it('an empty config is valid and runs the sandbox', () => {
    const { config } = loadConfig({ text: '', env: {} });
    expect(config.port).toBe(8080);
    expect(config.senders).toEqual([]);
    expect(needsSandbox(config, resolveSenders(config, {}))).toBe(true);
  });

  it('names the key, the file:line:col, the problem and the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wagate-cfg-'));
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'port: 80\nsenders:\n  - id: main\n    phone_number_id: "12x"\n    waba_id: "1022903"\n');
    const p = problems(() => loadConfig({ file, env: {} }));
    expect(p).toHaveLength(1);
    expect(p[0].key).toBe('senders.0.phone_number_id');
    expect(p[0].where).toBe(`${file}:4:22`);
    expect(p[0].problem).toMatch(/digits only/);
    expect(p[0].fix).toMatch(/senders\.0\.phone_number_id/);
  });

  it('reports YAML syntax errors with a position', () => {
    const p = problems(() => loadConfig({ text: 'port: [1,\n  senders: x: y\n', env: {} }));
    expect(p[0].key).toBe('(yaml)');
    expect(p[0].where).toMatch(/<config>:\d+:\d+/);
  });

  it('applies ${VAR} interpolation and environment overrides', () => {
    const { config } = loadConfig({
      text: 'senders:\n  - id: main\n    phone_number_id: 106540352242922\n    waba_id: "102290129340398"\n    access_token: ${TOK}\n',
      env: { TOK: 'EAAsecret', WAGATE_PORT: '9090', WAGATE_REDIS_URL: 'redis://127.0.0.1:6379' },
    });
    expect(config.port).toBe(9090);
    expect(config.redis_url).toBe('redis://127.0.0.1:6379');
    expect(config.senders[0].phone_number_id).toBe('106540352242922');
    const senders = resolveSenders(config, {});
    expect(senders[0].access_token).toBe('EAAsecret');
    expect(needsSandbox(config, senders)).toBe(false);
  });

  it('rejects a non-numeric WAGATE_PORT and duplicate senders', () => {
    expect(problems(() => loadConfig({ text: '', env: { WAGATE_PORT: 'abc' } }))[0].key).toBe('WAGATE_PORT');
    const dup =
      'senders:\n  - {id: a, phone_number_id: "11111", waba_id: "22222"}\n  - {id: a, phone_number_id: "33333", waba_id: "22222"}\n';
    expect(problems(() => loadConfig({ text: dup, env: {} }))[0].problem).toMatch(/used by two senders/);
  });
});
