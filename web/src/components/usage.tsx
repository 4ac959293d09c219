import { useMemo, type ReactNode } from "react";
import { BarChart, dayBars } from "./chart";
import { Stat } from "./ui";
import { formatUSD, fromNano, toNano } from "../lib/money";
import { parseRange, rangeOptions, usageRange, type RangeKey } from "../lib/range";
import { navigate, useLocation, withQuery } from "../lib/router";
import { graphql } from "../gql";
import type { UsageDayFieldsFragment } from "../gql/graphql";

// The usage rows the pages' queries select for UsageSummary and UsageTable.
graphql(`
  fragment UsageDayFields on UsageDay {
    day
    requests
    promptTokens
    completionTokens
    cost
  }
`);

graphql(`
  fragment ModelUsageFields on ModelUsage {
    modelId
    model {
      id
      displayName
    }
    requests
    promptTokens
    completionTokens
    cost
  }
`);

type Row = { requests: number; promptTokens: number; completionTokens: number; cost: string };

const int = new Intl.NumberFormat("en-US");

/** UsageSummary shows totals over a range and the cost per day as bars. */
export function UsageSummary({ days, label }: { days: UsageDayFieldsFragment[]; label: string }) {
  let cost = 0n;
  let requests = 0;
  let tokens = 0;
  for (const d of days) {
    cost += toNano(d.cost);
    requests += d.requests;
    tokens += d.promptTokens + d.completionTokens;
  }
  return (
    <>
      <div className="stats">
        <Stat label="Cost" value={<span data-testid="usage-cost">{formatUSD(fromNano(cost))}</span>} />
        <Stat label="Requests" value={<span data-testid="usage-requests">{int.format(requests)}</span>} />
        <Stat label="Tokens" value={int.format(tokens)} />
      </div>
      <BarChart bars={dayBars(days)} label={label} />
    </>
  );
}

/** UsageTable lists usage rows (by model, user or app) with a first column of the caller's choice. */
export function UsageTable<T extends Row>({ caption, head, rows, cell, rowKey, empty }: { caption: string; head: string; rows: T[]; cell: (r: T) => ReactNode; rowKey: (r: T) => string; empty: string }) {
  if (rows.length === 0) return <p className="empty">{empty}</p>;
  return (
    <div className="table-wrap">
      <table className="data-table">
        <caption>{caption}</caption>
        <thead>
          <tr>
            <th scope="col">{head}</th>
            <th scope="col" className="num">Requests</th>
            <th scope="col" className="num">Tokens (in / out)</th>
            <th scope="col" className="num">Cost</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={rowKey(r)}>
              <td>{cell(r)}</td>
              <td className="num">{int.format(r.requests)}</td>
              <td className="num">{int.format(r.promptTokens)} / {int.format(r.completionTokens)}</td>
              <td className="num">{formatUSD(r.cost)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** useUsageRange is the range in the address (?range=, the last 30 days when absent) and its bounds. */
export function useUsageRange() {
  const { query } = useLocation();
  const range = parseRange(query.get("range"));
  const bounds = useMemo(() => usageRange(range), [range]);
  return { range, bounds };
}

/** RangeSelect changes ?range= in place; the default range leaves it out of the address. */
export function RangeSelect({ value }: { value: RangeKey }) {
  return (
    <label className="range-select">
      <span className="sr-only">Time range</span>
      <select className="select" value={value} onChange={(e) => {
          const r = e.target.value as RangeKey;
          navigate(withQuery({ range: r === "30d" ? null : r }), { replace: true });
        }} aria-label="Time range">
        {rangeOptions.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </label>
  );
}
