import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from './helpers/node-test.ts';
import { checkModelRepository, ConfigError, parseConfig } from '../src/config.ts';

test('an empty environment gives the documented defaults, frozen', () => {
  const config = parseConfig({});
  assert.deepEqual(
    { ...config },
    {
      PORT: 8080,
      METRICS_PORT: 9090,
      GRPC_PORT: 8081,
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
      BATCH_TIMEOUT_MS: 60000,
      WORKER_MAX_RESTARTS: 5,
      MODEL_CONTROL_MODE: 'none',
      MODEL_POLL_SECONDS: 15,
      REPOSITORY_API: true,
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

test('model control: the mode, the poll period and the repository API switch are read', () => {
  const config = parseConfig({ MODEL_CONTROL_MODE: 'poll', MODEL_POLL_SECONDS: '30', REPOSITORY_API: 'off' });
  assert.equal(config.MODEL_CONTROL_MODE, 'poll');
  assert.equal(config.MODEL_POLL_SECONDS, 30);
  assert.equal(config.REPOSITORY_API, false);
  assert.equal(parseConfig({ MODEL_CONTROL_MODE: 'explicit' }).MODEL_CONTROL_MODE, 'explicit');
  assert.equal(parseConfig({ REPOSITORY_API: 'on' }).REPOSITORY_API, true);
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
  { env: { HOST: 'http://0.0.0.0' }, says: /invalid HOST="http:\/\/0.0.0.0": expected an IP address/ },
  { env: { HOST: '0.0.0.0:8080' }, says: /invalid HOST="0.0.0.0:8080": expected an IP address/ },
  { env: { HOST: '999.1.1.1' }, says: /invalid HOST="999.1.1.1"/ },
  { env: { HOST: 'my host' }, says: /invalid HOST="my host"/ },
  { env: { MODEL_CONTROL_MODE: 'watch' }, says: /^invalid MODEL_CONTROL_MODE="watch": expected one of none, poll, explicit$/ },
  { env: { MODEL_POLL_SECONDS: '0' }, says: /^invalid MODEL_POLL_SECONDS="0": expected an integer from 1 to 86400$/ },
  { env: { MODEL_POLL_SECONDS: '2.5' }, says: /^invalid MODEL_POLL_SECONDS="2.5": expected an integer from 1 to 86400$/ },
  { env: { REPOSITORY_API: 'yes' }, says: /^invalid REPOSITORY_API="yes": expected on or off$/ },
  { env: { PORT: '9090' }, says: /^invalid METRICS_PORT="9090": expected a port other than PORT \(both are 9090/ },
  { env: { PORT: '7000', METRICS_PORT: '7000' }, says: /^invalid METRICS_PORT="7000": expected a port other than PORT/ },
  { env: { GRPC_PORT: '8080' }, says: /^invalid GRPC_PORT="8080": expected a port other than PORT \(both are 8080; 0 turns gRPC off\)/ },
  { env: { GRPC_PORT: '9090' }, says: /^invalid GRPC_PORT="9090": expected a port other than METRICS_PORT/ },
  { env: { GRPC_PORT: '70000' }, says: /^invalid GRPC_PORT="70000": expected an integer from 0 to 65535/ },
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

test('HOST takes IP addresses and host names', () => {
  for (const host of ['0.0.0.0', '::', '::1', '127.0.0.1', 'localhost', 'meshserve.production.svc.cluster.local']) {
    assert.equal(parseConfig({ HOST: host }).HOST, host);
  }
  // Port 0 (a free port) may be given to both.
  assert.equal(parseConfig({ PORT: '0', METRICS_PORT: '0' }).PORT, 0);
  // GRPC_PORT=0 turns gRPC off, whatever the other ports are.
  assert.equal(parseConfig({ PORT: '0', METRICS_PORT: '0', GRPC_PORT: '0' }).GRPC_PORT, 0);
});

describe('checkModelRepository: the checks that need the filesystem', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'meshserve-config-'));
    await mkdir(path.join(dir, 'iris', '1'), { recursive: true });
    await writeFile(path.join(dir, 'notes.txt'), 'not a model');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  test('an existing repository and a default model that is one of its directories pass', async () => {
    await checkModelRepository({ MODEL_REPOSITORY: dir, DEFAULT_MODEL: 'iris' });
    await checkModelRepository({ MODEL_REPOSITORY: dir, DEFAULT_MODEL: undefined });
  });

  test('a repository that does not exist, or is a file, names MODEL_REPOSITORY', async () => {
    const missing = path.join(dir, 'nope');
    await assert.rejects(checkModelRepository({ MODEL_REPOSITORY: missing, DEFAULT_MODEL: undefined }), (e: Error) =>
      e instanceof ConfigError && e.message === `invalid MODEL_REPOSITORY=${JSON.stringify(missing)}: expected a model repository directory (no such directory)`);
    await assert.rejects(checkModelRepository({ MODEL_REPOSITORY: path.join(dir, 'notes.txt'), DEFAULT_MODEL: undefined }), /invalid MODEL_REPOSITORY=.*not a directory/);
  });

  test('a default model that is not a model directory names DEFAULT_MODEL and lists the models', async () => {
    for (const name of ['mlp', 'notes.txt', '../iris', 'iris/1']) {
      await assert.rejects(checkModelRepository({ MODEL_REPOSITORY: dir, DEFAULT_MODEL: name }), (e: Error) =>
        e instanceof ConfigError && e.message === `invalid DEFAULT_MODEL=${JSON.stringify(name)}: expected the name of a model directory in MODEL_REPOSITORY (iris)`);
    }
  });

  test('the service exits 1 with one line naming the variable, before it listens', () => {
    for (const [env, says] of [
      [{ MODEL_REPOSITORY: path.join(dir, 'nope') }, /^meshserve: configuration error: invalid MODEL_REPOSITORY=/],
      [{ MODEL_REPOSITORY: dir, DEFAULT_MODEL: 'mlp' }, /^meshserve: configuration error: invalid DEFAULT_MODEL="mlp"/],
      [{ HOST: 'not a host' }, /^meshserve: configuration error: invalid HOST="not a host"/],
      [{ PORT: '9100', METRICS_PORT: '9100' }, /^meshserve: configuration error: invalid METRICS_PORT="9100"/],
    ] as const) {
      const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { ...process.env, PORT: '0', METRICS_PORT: '0', GRPC_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
        encoding: 'utf8',
        timeout: 20_000,
      });
      assert.equal(run.status, 1, run.stderr);
      const lines = run.stderr.trim().split('\n');
      assert.equal(lines.length, 1, run.stderr);
      assert.match(lines[0]!, says);
      assert.doesNotMatch(run.stdout, /listening/, 'nothing may be bound before the configuration is checked');
    }
  });

  test('a port that cannot be bound exits 1 with one line naming HOST and the ports', async (t) => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    t.after(() => holder.close());
    const taken = (holder.address() as net.AddressInfo).port;
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: String(taken), METRICS_PORT: '0', GRPC_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(run.status, 1, run.stderr);
    assert.equal(run.stderr.trim(), `meshserve: cannot listen on HOST=127.0.0.1 PORT=${taken} METRICS_PORT=0 GRPC_PORT=0: EADDRINUSE`);
    const grpcTaken = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, PORT: '0', METRICS_PORT: '0', GRPC_PORT: String(taken), HOST: '127.0.0.1', LOG_LEVEL: 'silent' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    assert.equal(grpcTaken.status, 1, grpcTaken.stderr);
    assert.match(grpcTaken.stderr.trim(), new RegExp(`^meshserve: cannot listen on HOST=127.0.0.1 PORT=0 METRICS_PORT=0 GRPC_PORT=${taken}: `));
  });
});
