/**
 * The UI's formatting (a browser module without DOM use, loaded here in
 * Node): times in UTC or local, durations, statuses that never rely on
 * colour alone, the chart's bars, paging and log filtering.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoRoot } from '../helpers/paths.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a plain JavaScript module
const f: any = await import(
  pathToFileURL(join(repoRoot, 'src', 'web', 'assets', 'format.js')).href
);
const DAY = 86_400_000;
const JAN_10 = Date.UTC(2020, 0, 10);

describe('UI formatting', () => {
  it('shows times in UTC by default and remembers a switch to local', () => {
    const store = new Map<string, string>();
    const storage = {
      getItem: (k: string) => store.get(k) ?? null,
      setItem: (k: string, v: string) => void store.set(k, v),
    };
    assert.equal(f.readTimeZone(storage), 'utc');
    f.writeTimeZone(storage, 'local');
    assert.equal(f.readTimeZone(storage), 'local');
    assert.equal(f.readTimeZone(undefined), 'utc');
    assert.equal(f.formatTime(JAN_10 + 3_723_000, 'utc'), '2020-01-10 01:02:03 UTC');
    // Local time names its offset, so a reader always knows the zone.
    assert.match(
      f.formatTime(JAN_10, 'local'),
      /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC[+-]\d\d:\d\d$/,
    );
    assert.equal(f.formatTime(null), '—');
  });

  it('writes whole-day intervals as dates, others as times', () => {
    assert.equal(f.formatInterval([JAN_10, JAN_10 + DAY]), '2020-01-10');
    assert.equal(f.formatInterval([JAN_10, JAN_10 + 3 * DAY]), '2020-01-10 – 2020-01-12');
    assert.equal(
      f.formatInterval([JAN_10, JAN_10 + 3_600_000]),
      '2020-01-10 00:00:00 UTC – 2020-01-10 01:00:00 UTC',
    );
  });

  it('writes durations at a readable scale', () => {
    assert.equal(f.formatDuration(850), '850 ms');
    assert.equal(f.formatDuration(4_200), '4.2 s');
    assert.equal(f.formatDuration(185_000), '3 min 5 s');
    assert.equal(f.formatDuration(7_800_000), '2 h 10 min');
    assert.equal(f.formatDuration(null), '—');
  });

  it('gives every status a symbol and a word as well as a tone', () => {
    for (const status of [
      'succeeded',
      'failed',
      'running',
      'pending',
      'cancelled',
      'behind',
      'paused',
    ]) {
      const info = f.statusInfo(status);
      assert.ok(info.symbol.length > 0 && info.label.length > 0, status);
    }
    assert.notEqual(f.statusInfo('succeeded').symbol, f.statusInfo('failed').symbol);
    assert.equal(f.statusInfo('claimed').label, 'running');
    assert.equal(f.statusInfo('something new').label, 'something new');
  });

  it('draws one bar per run or plan of the last two weeks, taller for longer', () => {
    const now = JAN_10 + 14 * DAY;
    const items = [
      { id: 'a', status: 'succeeded', startedTs: now - DAY, finishedTs: now - DAY + 1_000 },
      { id: 'b', status: 'failed', startedTs: now - 2 * DAY, finishedTs: now - 2 * DAY + 100_000 },
      { id: 'old', status: 'succeeded', startedTs: now - 20 * DAY, finishedTs: now - 20 * DAY + 5 },
      { id: 'c', status: 'running', startedTs: now - 60_000, finishedTs: null },
    ];
    const bars = f.chartBars(items, { now, width: 700, height: 140 });
    assert.deepEqual(
      bars.map((b: { item: { id: string } }) => b.item.id),
      ['b', 'a', 'c'],
    );
    const byId = Object.fromEntries(bars.map((b: { item: { id: string } }) => [b.item.id, b]));
    assert.ok(byId.b.height > byId.a.height);
    assert.equal(byId.b.tone, 'bad');
    assert.equal(byId.c.durationMs, 60_000);
    for (const b of bars) {
      assert.ok(b.x >= 0 && b.x + b.width <= 700 && b.y >= 0 && b.y + b.height <= 140.01);
    }
    assert.ok(byId.b.x < byId.a.x && byId.a.x < byId.c.x, 'bars in time order');
  });

  it('pages lists and filters logs by level', () => {
    const items = Array.from({ length: 23 }, (_, i) => i);
    assert.deepEqual(f.paginate(items, 3, 10), { items: [20, 21, 22], page: 3, pages: 3 });
    assert.equal(f.paginate(items, 9, 10).page, 3);
    assert.deepEqual(f.paginate([], 1, 10), { items: [], page: 1, pages: 1 });
    const lines = ['debug', 'info', 'warn', 'error'].map((level) => ({ level }));
    assert.deepEqual(
      f.filterLogs(lines, 'warn').map((l: { level: string }) => l.level),
      ['warn', 'error'],
    );
    assert.equal(f.filterLogs(lines, 'all').length, 4);
  });

  it('shortens canonical model names as people write them', () => {
    assert.equal(
      f.shortModelName('"db"."sqlmesh_example"."full_model"'),
      'sqlmesh_example.full_model',
    );
    assert.equal(f.shortModelName('"my-db"."a.b"."t"'), 'a.b.t');
    assert.equal(f.shortModelName('plain'), 'plain');
  });
});
