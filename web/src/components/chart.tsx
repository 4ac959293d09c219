import { formatUSD } from "../lib/money";

export type Bar = { label: string; value: number; title: string };

/**
 * BarChart draws one bar per day in SVG. Heights only scale bars; amounts are
 * shown from the API's decimal strings (in each bar's tooltip and the tables
 * beside the chart), never computed from floats.
 */
export function BarChart({ bars, label }: { bars: Bar[]; label: string }) {
  const w = 720;
  const h = 180;
  const pad = { top: 10, bottom: 24, left: 4, right: 4 };
  const max = Math.max(0, ...bars.map((b) => b.value));
  const slot = (w - pad.left - pad.right) / Math.max(1, bars.length);
  const bw = Math.max(2, Math.min(28, slot * 0.7));
  const every = Math.ceil(bars.length / 10);
  if (max === 0) return <p className="empty chart-empty">No usage in this range.</p>;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${w} ${h}`} role="img" aria-label={label} preserveAspectRatio="none">
        <line x1={pad.left} x2={w - pad.right} y1={h - pad.bottom} y2={h - pad.bottom} className="chart-axis" />
        {bars.map((b, i) => {
          const bh = max > 0 ? ((h - pad.top - pad.bottom) * b.value) / max : 0;
          const x = pad.left + i * slot + (slot - bw) / 2;
          return (
            <g key={b.label}>
              <rect x={x} y={h - pad.bottom - bh} width={bw} height={Math.max(bh, b.value > 0 ? 1 : 0)} rx={2} className="chart-bar">
                <title>{b.title}</title>
              </rect>
              {i % every === 0 && (
                <text x={x + bw / 2} y={h - 6} textAnchor="middle" className="chart-label">
                  {b.label.slice(5)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

/** dayBars turns UsageDay rows into bars of cost. */
export function dayBars(days: { day: string; cost: string; requests: number }[]): Bar[] {
  return days.map((d) => ({
    label: d.day,
    value: Number(d.cost),
    title: `${d.day}: ${formatUSD(d.cost)}, ${d.requests} request${d.requests === 1 ? "" : "s"}`,
  }));
}
