import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '../src/config.ts';

test('an empty environment gives the documented defaults, frozen', () => {
  const config = parseConfig({});
  assert.deepEqual(
    { ...config },
    {
      PORT: 8080,
      METRICS_PORT: 9090,
      HOST: '0.0.0.0',
      MODEL_REPOSITORY: './models',
      LOG_LEVEL: 'info',
      LOG_PRETTY: false,
      MAX_BATCH_SIZE: 32,
      BATCH_DELAY_MS: 2,
      MAX_QUEUE_SIZE: 1024,
      REQUEST_TIMEOUT_MS: 10000,
      BODY_LIMIT: 16 * 1024 * 1024,
      SHUTDOWN_DELAY_MS: 5000,
      SHUTDOWN_TIMEOUT_MS: 25000,
      ORT_INTRA_OP_THREADS: 1,
    },
  );
  assert.ok(Object.isFrozen(config));
});

test('every variable is read and converted', () => {
  const config = parseConfig({
    PORT: '3000',
    METRICS_PORT: '3001',
    HOST: '127.0.0.1',
    MODEL_REPOSITORY: '/srv/models',
    DEFAULT_MODEL: 'iris',
    LOG_LEVEL: 'debug',
    MAX_BATCH_SIZE: '64',
    BATCH_DELAY_MS: '0',
    MAX_QUEUE_SIZE: '10',
    REQUEST_TIMEOUT_MS: '500',
    BODY_LIMIT: '512kb',
    SHUTDOWN_DELAY_MS: '0',
    SHUTDOWN_TIMEOUT_MS: '1000',
    ORT_INTRA_OP_THREADS: '2',
  });
  assert.equal(config.PORT, 3000);
  assert.equal(config.DEFAULT_MODEL, 'iris');
  assert.equal(config.BODY_LIMIT, 512 * 1024);
  assert.equal(config.BATCH_DELAY_MS, 0);
  assert.equal(config.ORT_INTRA_OP_THREADS, 2);
});

test('an empty variable counts as unset', () => {
  assert.equal(parseConfig({ PORT: '' }).PORT, 8080);
});

const rejects = [
  { env: { PORT: 'eighty' }, says: /invalid PORT="eighty": expected an integer from 0 to 65535/ },
  { env: { PORT: '70000' }, says: /invalid PORT="70000": expected an integer from 0 to 65535/ },
  { env: { MAX_BATCH_SIZE: '0' }, says: /invalid MAX_BATCH_SIZE="0": expected an integer from 1/ },
  { env: { BATCH_DELAY_MS: '-1' }, says: /invalid BATCH_DELAY_MS="-1"/ },
  { env: { LOG_LEVEL: 'loud' }, says: /invalid LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent/ },
  { env: { BODY_LIMIT: 'huge' }, says: /invalid BODY_LIMIT="huge": expected a size such as 16mb/ },
  { env: { REQUEST_TIMEOUT_MS: '1.5' }, says: /invalid REQUEST_TIMEOUT_MS="1.5"/ },
];
for (const { env, says } of rejects) {
  test(`a bad value is refused with the variable, the value and what is accepted: ${JSON.stringify(env)}`, () => {
    assert.throws(() => parseConfig(env), (e: Error) => e instanceof ConfigError && says.test(e.message));
  });
}

test('several bad variables are all named', () => {
  assert.throws(() => parseConfig({ PORT: 'x', MAX_QUEUE_SIZE: 'y' }), (e: Error) => /PORT/.test(e.message) && /MAX_QUEUE_SIZE/.test(e.message));
});

test('the service exits 1 with one clear line on a bad variable', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, PORT: 'abc', LOG_LEVEL: 'silent' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  assert.equal(run.status, 1);
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^meshserve: configuration error: invalid PORT="abc": expected an integer from 0 to 65535$/);
});
