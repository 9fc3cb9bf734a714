import assert from 'node:assert/strict';
import { test } from '../helpers/node-test.ts';
import { EventQueue } from '../../bench/capacity/events.ts';
import { Rng } from '../../bench/capacity/rng.ts';

test('events run in time order, same-time events in the order they were scheduled', () => {
  const q = new EventQueue();
  const seen: string[] = [];
  q.at(2, () => seen.push('c'));
  q.at(1, () => seen.push('a'));
  q.at(1, () => seen.push('b'));
  q.at(0.5, () => q.after(0.5, () => seen.push('a2'))); // lands at 1, after a and b
  q.run();
  assert.deepEqual(seen, ['a', 'b', 'a2', 'c']);
  assert.equal(q.now, 2);
});

test('a cancelled event does not run; run(until) stops the clock at until', () => {
  const q = new EventQueue();
  let ran = 0;
  const e = q.at(1, () => ran++);
  q.at(3, () => ran++);
  q.cancel(e);
  q.run(2);
  assert.equal(ran, 0);
  assert.equal(q.now, 2);
  assert.throws(() => q.at(1, () => {}), /before now/);
  q.run();
  assert.equal(ran, 1);
});

test('10,000 random events come out sorted', () => {
  const q = new EventQueue();
  const rng = new Rng(7);
  const out: number[] = [];
  for (let i = 0; i < 10_000; i++) q.at(rng.next() * 100, () => out.push(q.now));
  q.run();
  assert.equal(out.length, 10_000);
  for (let i = 1; i < out.length; i++) assert.ok(out[i - 1]! <= out[i]!);
});

test('the seeded RNG repeats itself and has the right mean', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.next()));
  const r = new Rng(1);
  let sum = 0;
  for (let i = 0; i < 100_000; i++) sum += r.exponential(2);
  assert.ok(Math.abs(sum / 100_000 - 2) < 0.03);
});
