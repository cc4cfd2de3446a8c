// Alerts by severity over time as stacked SVG bars (drawn with attributes and CSS classes only:
// the CSP allows no inline style), with the same numbers in a table for screen readers.
import { SEVERITIES, type Severity } from "./api";
import { TableWrap } from "./components";

export interface Bucket {
  start: string;
  counts: Partial<Record<Severity, number>>;
}

const W = 720;
const H = 180;
const PAD = { left: 32, right: 8, top: 8, bottom: 22 };

export function SeverityChart({ buckets, stepSeconds }: { buckets: Bucket[]; stepSeconds: number }) {
  const totals = buckets.map((b) => SEVERITIES.reduce((s, sev) => s + (b.counts[sev] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const innerW = W - PAD.left - PAD.right;
  const innerH = H - PAD.top - PAD.bottom;
  const bw = innerW / Math.max(1, buckets.length);
  const y = (v: number): number => PAD.top + innerH - (v / max) * innerH;
  const hourLabel = (iso: string): string => new Date(iso).toISOString().slice(11, 16);
  const labelEvery = Math.max(1, Math.ceil(buckets.length / 8));
  const sum = totals.reduce((a, b) => a + b, 0);
  return (
    <figure class="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`New alerts by severity, ${buckets.length} steps of ${stepSeconds / 60} minutes: ${sum} in all`}>
        <line class="axis" x1={PAD.left} x2={W - PAD.right} y1={y(0)} y2={y(0)} />
        <text class="tick" x={PAD.left - 4} y={y(max) + 4} text-anchor="end">
          {max}
        </text>
        <text class="tick" x={PAD.left - 4} y={y(0)} text-anchor="end">
          0
        </text>
        {buckets.map((b, i) => {
          let base = 0;
          return (
            <g key={b.start}>
              {[...SEVERITIES].reverse().map((sev) => {
                const n = b.counts[sev] ?? 0;
                if (n === 0) return null;
                const top = y(base + n);
                const rect = <rect class={`bar bar-${sev}`} x={PAD.left + i * bw + 1} y={top} width={Math.max(1, bw - 2)} height={y(base) - top} />;
                base += n;
                return rect;
              })}
              {i % labelEvery === 0 && (
                <text class="tick" x={PAD.left + i * bw + bw / 2} y={H - 6} text-anchor="middle">
                  {hourLabel(b.start)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <ul class="legend">
          {SEVERITIES.map((s) => (
            <li key={s}>
              <span class={`swatch bar-${s}`} aria-hidden="true" /> {s}
            </li>
          ))}
        </ul>
      </figcaption>
      <details>
        <summary>The numbers</summary>
        <TableWrap label="New alerts by severity and time">
          <table>
            <thead>
              <tr>
                <th scope="col">From (UTC)</th>
                {SEVERITIES.map((s) => (
                  <th scope="col" key={s}>
                    {s}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {buckets
                .filter((_, i) => totals[i]! > 0)
                .map((b) => (
                  <tr key={b.start}>
                    <th scope="row">{b.start.slice(0, 16).replace("T", " ")}</th>
                    {SEVERITIES.map((s) => (
                      <td key={s}>{b.counts[s] ?? 0}</td>
                    ))}
                  </tr>
                ))}
            </tbody>
          </table>
        </TableWrap>
      </details>
    </figure>
  );
}
