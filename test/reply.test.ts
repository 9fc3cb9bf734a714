// Refused uploads are read and dropped a few at a time per server, so a burst of them cannot hold the main
// thread, and one server's drains never wait for another's.
import assert from 'node:assert/strict';
import { Drains } from '../src/http/reply.ts';
import { test } from './helpers/node-test.ts';

function started(drains: Drains, n: number) {
  const log: number[] = [];
  const done: (() => void)[] = [];
  for (let i = 0; i < n; i++) drains.run((finish) => (log.push(i), done.push(finish)));
  return { log, done };
}

test('two refused uploads drain at once per server; the third starts when one ends, and ending twice starts no extra one', () => {
  const { log, done } = started(new Drains(), 4);
  assert.deepEqual(log, [0, 1]);
  done[0]!();
  done[0]!();
  assert.deepEqual(log, [0, 1, 2], 'one ended: the next one starts, and only one');
  done[1]!();
  assert.deepEqual(log, [0, 1, 2, 3]);
});

test('drains of another server do not wait behind this one', () => {
  const busy = started(new Drains(), 3);
  const other = started(new Drains(), 1);
  assert.deepEqual([busy.log, other.log], [[0, 1], [0]]);
});
