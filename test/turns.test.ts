import assert from 'node:assert/strict';
import { test } from './helpers/node-test.ts';
import { Turns } from '../src/inference/turns.ts';

/** Turns on a fake clock; `loop()` runs what setImmediate would run on the next turn of the event loop. */
function setup(sliceMs = 5) {
  let now = 0;
  let deferred: (() => void)[] = [];
  const turns = new Turns({ sliceMs, now: () => now, defer: (fn) => deferred.push(fn) });
  const loop = async () => {
    const run = deferred;
    deferred = [];
    for (const fn of run) fn();
    for (let i = 0; i < 20; i++) await Promise.resolve(); // the microtasks of the granted work
  };
  /** A request that takes its turn, then "works" for `ms` of main-thread time; records when it ran. */
  const ran: string[] = [];
  const request = async (name: string, ms: number) => {
    await turns.take();
    ran.push(name);
    now += ms;
  };
  return { turns, loop, ran, request, advance: (ms: number) => (now += ms), pendingTurns: () => deferred.length };
}

test('requests go on at once while the turn of the loop has time left', async () => {
  const { turns, ran, request } = setup();
  assert.equal(turns.take(), undefined, 'the first request of a turn does not wait');
  await Promise.all([request('a', 1), request('b', 1)]);
  assert.deepEqual(ran, ['a', 'b']);
  assert.equal(turns.waiting, 0);
});

test('past the slice, requests wait for a later turn of the loop and then run in arrival order', async () => {
  const { turns, loop, ran, request, advance } = setup(5);
  void request('first', 0);
  advance(6); // other I/O callbacks of this poll phase used the slice up
  const later = ['a', 'b', 'c'].map((n) => request(n, 1));
  await Promise.resolve();
  assert.deepEqual(ran, ['first'], 'nobody else runs in the turn that is spent');
  assert.equal(turns.waiting, 3);
  await loop();
  assert.deepEqual(ran, ['first', 'a', 'b', 'c'], 'the next turn grants them in order');
  await Promise.all(later);
  assert.equal(turns.waiting, 0);
});

test('a turn grants work until its slice is spent, measured in work done, and leaves the rest to the next turn', async () => {
  const { turns, loop, ran, request, advance } = setup(5);
  void request('first', 0);
  advance(6);
  const all = Array.from({ length: 10 }, (_, i) => request(`r${i}`, 2)); // 2 ms of main-thread work each
  await loop();
  assert.deepEqual(ran.slice(1), ['r0', 'r1', 'r2'], 'three requests of 2 ms fill a 5 ms slice (the third overruns it)');
  assert.equal(turns.waiting, 7);
  await loop();
  assert.deepEqual(ran.slice(1), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5']);
  while (turns.waiting) await loop();
  await Promise.all(all);
  assert.equal(ran.length, 11, 'every request ran once');
});

test('a request taking its next turn while others wait goes behind them, even when the slice has time left', async () => {
  const { turns, loop, ran, request, advance } = setup(5);
  void request('first', 0);
  advance(6);
  const twoStages = (async () => {
    await turns.take();
    ran.push('a decodes');
    await turns.take();
    ran.push('a replies');
  })();
  const b = request('b', 0);
  await loop();
  await Promise.all([twoStages, b]);
  assert.deepEqual(ran, ['first', 'a decodes', 'b', 'a replies']);
  assert.equal(turns.waiting, 0);
});

test('an idle service schedules nothing: the slice marker is one deferred call per turn in which work ran', async () => {
  const { loop, request, pendingTurns } = setup(5);
  await request('a', 1);
  await request('b', 1);
  assert.equal(pendingTurns(), 1, 'one end-of-slice marker for the turn');
  await loop();
  assert.equal(pendingTurns(), 0, 'nothing is scheduled once nobody waits');
});

test('a turn of the loop that accepted a connection grants one request, so the next connection is accepted soon', async () => {
  const { turns, loop, ran, request, advance } = setup(5);
  void request('first', 0);
  advance(6);
  const all = Array.from({ length: 6 }, (_, i) => request(`r${i}`, 0.4));
  turns.accepted(); // the poll phase of this turn accepted a connection
  await loop();
  assert.deepEqual(ran.slice(1), ['r0'], 'one request, however short');
  turns.accepted();
  await loop();
  assert.deepEqual(ran.slice(1), ['r0', 'r1'], 'connections still coming: one more, never none');
  await loop(); // no connection in this turn: the whole slice
  assert.equal(ran.length, 7, 'the rest fit in a full slice');
  await Promise.all(all);
});

test('a request that arrives in a turn of the loop that accepted a connection waits for a later turn', async () => {
  const { turns, request } = setup(5);
  await request('a', 0);
  turns.accepted();
  assert.notEqual(turns.take(), undefined, 'no work beside accepting: wait for a later turn');
});
