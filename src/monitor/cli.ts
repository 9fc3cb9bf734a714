// npm run monitor -- --api URL --metrics URL [--rounds N] [--interval S] [--webhook URL] [--timeout MS]
// Exit codes: 0 every check passed, 1 a check failed, 2 bad arguments.
import { parseArgs } from 'node:util';
import { runMonitor, type MonitorOptions } from './monitor.ts';

const USAGE =
  'usage: npm run monitor -- --api URL --metrics URL [--rounds N] [--interval S] [--webhook URL] [--timeout MS]';

class UsageError extends Error {}

function httpUrl(flag: string, value: string | undefined): URL {
  if (!value) throw new UsageError(`--${flag} is required`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(`--${flag} must be a URL such as http://127.0.0.1:8080, got "${value}"`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--${flag} must be an http:// or https:// URL, got "${value}"`);
  }
  return url;
}

function number(flag: string, value: string, { integer, min }: { integer: boolean; min: number }): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    throw new UsageError(`--${flag} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got "${value}"`);
  }
  return n;
}

export function parseMonitorArgs(argv: string[]): MonitorOptions | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        api: { type: 'string' },
        metrics: { type: 'string' },
        rounds: { type: 'string', default: '1' },
        interval: { type: 'string', default: '5' },
        webhook: { type: 'string' },
        timeout: { type: 'string', default: '2000' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (values.help) return 'help';
  return {
    api: httpUrl('api', values.api),
    metrics: httpUrl('metrics', values.metrics),
    rounds: number('rounds', values.rounds, { integer: true, min: 1 }),
    intervalMs: number('interval', values.interval, { integer: false, min: 0 }) * 1000,
    timeoutMs: number('timeout', values.timeout, { integer: true, min: 1 }),
    webhook: values.webhook === undefined ? undefined : httpUrl('webhook', values.webhook),
  };
}

async function main(argv: string[]): Promise<number> {
  let options;
  try {
    options = parseMonitorArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`monitor: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const summary = await runMonitor(options, { out: process.stdout });
  return summary.ok ? 0 : 1;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`monitor: ${(err as Error)?.message ?? String(err)}\n`);
  process.exitCode = 1;
}
