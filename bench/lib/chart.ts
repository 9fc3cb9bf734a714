import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ceilingOf } from './report.ts';
import type { SuiteResult } from './suite.ts';

/** Renders a vega-lite spec to SVG in node (no canvas needed for SVG). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Throughput and p99 against concurrency for the MLP series, with the in-process ceiling as a rule. */
export function suiteChart(r: SuiteResult): Promise<string> {
  const rows = r.scenarios
    .filter((s) => s.id.startsWith('mlp-') && !s.id.includes('2threads'))
    .map((s) => ({ series: s.series, connections: s.connections, rps: Math.round(s.summary.reqPerSec), p99: s.summary.p99 }));
  const ceiling = ceilingOf(r);
  const x = {
    field: 'connections',
    type: 'quantitative' as const,
    scale: { type: 'log' as const, base: 2 },
    axis: { values: [1, 8, 64, 256], title: 'concurrent connections' },
  };
  const color = { field: 'series', type: 'nominal' as const, title: null, legend: { orient: 'bottom' as const, columns: 2, labelLimit: 400 } };
  const spec: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `meshserve, MLP 1024-2048-2048-1000, one row per request (${r.machine.cores} cores, ${r.date.slice(0, 10)})`,
    data: { values: rows },
    hconcat: [
      {
        title: 'throughput (2xx req/s = rows/s)',
        width: 320,
        height: 240,
        layer: [
          { mark: { type: 'line', point: true }, encoding: { x, y: { field: 'rps', type: 'quantitative', title: 'requests/s' }, color } },
          {
            data: { values: [{ y: ceiling.bestRowsPerSec, label: `in-process ceiling ${Math.round(ceiling.bestRowsPerSec)} rows/s` }] },
            layer: [
              { mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' }, encoding: { y: { field: 'y', type: 'quantitative' } } },
              { mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: 'gray' }, encoding: { y: { field: 'y', type: 'quantitative' }, x: { datum: 1, type: 'quantitative' }, text: { field: 'label' } } },
            ],
          },
        ],
      },
      {
        title: 'p99 latency (ms, log scale)',
        width: 320,
        height: 240,
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'p99', type: 'quantitative', scale: { type: 'log' }, title: 'p99 ms' }, color },
      },
    ],
  };
  return renderSvg(spec);
}
