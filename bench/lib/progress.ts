// Progress lines on stderr, each prefixed with the time since the suite started.
const started = performance.now();

export function elapsed(): string {
  const s = Math.round((performance.now() - started) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export function log(message: string): void {
  process.stderr.write(`[${elapsed()}] ${message}\n`);
}
