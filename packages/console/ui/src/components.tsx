import type { ReactNode } from "react";
import type { FieldError } from "./api";

export interface Column<T> {
  header: string;
  cell: (row: T) => ReactNode;
  numeric?: boolean;
}

/** A plain table: a caption names it for assistive tools and tests. */
export function Table<T>(props: { caption: string; columns: Column<T>[]; rows: T[]; rowKey: (row: T) => string }) {
  return (
    <table>
      <caption>{props.caption}</caption>
      <thead>
        <tr>
          {props.columns.map((c) => (
            <th key={c.header} scope="col" className={c.numeric ? "num" : undefined}>
              {c.header}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {props.rows.length === 0 ? (
          <tr>
            <td colSpan={props.columns.length}>No data.</td>
          </tr>
        ) : (
          props.rows.map((row) => (
            <tr key={props.rowKey(row)}>
              {props.columns.map((c) => (
                <td key={c.header} className={c.numeric ? "num" : undefined}>
                  {c.cell(row)}
                </td>
              ))}
            </tr>
          ))
        )}
      </tbody>
    </table>
  );
}

/** Loading and failure of a query, announced politely. */
export function QueryState(props: { loading: boolean; error: unknown }) {
  if (props.error) return <p role="alert">{(props.error as Error).message}</p>;
  if (props.loading) return <p role="status">Loading…</p>;
  return null;
}

/** The API's field errors for one field (by its path), shown next to it. */
export function fieldError(errors: FieldError[], path: string): string | undefined {
  const found = errors.filter((e) => e.path === path || e.path.startsWith(`${path}.`));
  return found.length > 0 ? found.map((e) => e.message).join("; ") : undefined;
}

export function Field(props: {
  id: string;
  label: string;
  error?: string | undefined;
  hint?: string;
  children: (aria: { id: string; "aria-invalid"?: boolean; "aria-describedby"?: string }) => ReactNode;
}) {
  const described = [props.hint ? `${props.id}-hint` : "", props.error ? `${props.id}-error` : ""]
    .filter(Boolean)
    .join(" ");
  return (
    <div className="field">
      <label htmlFor={props.id}>{props.label}</label>
      {props.children({
        id: props.id,
        ...(props.error ? { "aria-invalid": true } : {}),
        ...(described ? { "aria-describedby": described } : {}),
      })}
      {props.hint && (
        <small id={`${props.id}-hint`} className="hint">
          {props.hint}
        </small>
      )}
      {props.error && (
        <small id={`${props.id}-error`} className="error">
          {props.error}
        </small>
      )}
    </div>
  );
}

export interface Series {
  label: string;
  values: number[];
}

/**
 * A stacked bar chart in SVG (no inline style: colours are classes), with
 * its data as a table right behind it, so every figure can be read without
 * seeing the chart.
 */
export function BarChart(props: { title: string; periods: string[]; series: Series[]; format: (n: number) => string }) {
  const width = 720;
  const height = 200;
  const totals = props.periods.map((_, i) => props.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = Math.max(1, ...totals);
  const slot = width / Math.max(1, props.periods.length);
  const bar = Math.max(2, slot * 0.7);
  return (
    <figure>
      <figcaption>{props.title}</figcaption>
      <svg
        viewBox={`0 0 ${width} ${height}`}
        role="img"
        aria-label={`${props.title} (chart; the table below has its data)`}
      >
        <text x={4} y={12} className="axis">
          {props.format(max)}
        </text>
        {props.periods.map((period, i) => {
          let y = height;
          return (
            <g key={period}>
              {props.series.map((s, k) => {
                const h = ((s.values[i] ?? 0) / max) * (height - 10);
                y -= h;
                return (
                  <rect
                    key={s.label}
                    x={i * slot + (slot - bar) / 2}
                    y={y}
                    width={bar}
                    height={h}
                    className={`c${k % 8}`}
                  >
                    <title>{`${period} · ${s.label}: ${props.format(s.values[i] ?? 0)}`}</title>
                  </rect>
                );
              })}
            </g>
          );
        })}
      </svg>
      <ul className="legend" aria-label="Legend">
        {props.series.map((s, k) => (
          <li key={s.label}>
            <span className={`swatch c${k % 8}`} aria-hidden="true" /> {s.label}
          </li>
        ))}
      </ul>
      <details>
        <summary>Data table of the chart</summary>
        <table>
          <caption>{props.title} (data)</caption>
          <thead>
            <tr>
              <th scope="col">Period</th>
              {props.series.map((s) => (
                <th key={s.label} scope="col" className="num">
                  {s.label}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {props.periods.map((period, i) => (
              <tr key={period}>
                <th scope="row">{period}</th>
                {props.series.map((s) => (
                  <td key={s.label} className="num">
                    {props.format(s.values[i] ?? 0)}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </details>
    </figure>
  );
}

/**
 * A standing as a <meter>: used plus held against the limit, amber from the
 * soft limit (80 % without one), red near the limit; the percentage as text
 * beside it, so it reads without the bar.
 */
export function UsageMeter(props: {
  label: string;
  used: number;
  held: number;
  limit: number;
  softPct?: number | null;
}) {
  const max = props.limit || 1;
  const taken = props.used + props.held;
  const pct = Math.round((taken / max) * 100);
  return (
    <span className="meter">
      <meter
        min={0}
        max={max}
        value={Math.min(taken, max)}
        low={((props.softPct ?? 80) / 100) * max}
        high={0.95 * max}
        optimum={0}
        aria-label={`${props.label}: ${pct} % of limit`}
      />{" "}
      {pct} %
    </span>
  );
}
