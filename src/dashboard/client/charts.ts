/** SVG line charts for the traffic page: no library, a few hundred bytes a chart. */

const NS = "http://www.w3.org/2000/svg";

function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export interface Series {
  label: string;
  values: number[];
  className: string;
}

/** one chart: series over the same time axis, scaled to the largest value, its latest values in the title */
export function lineChart(title: string, unit: string, series: Series[], seconds: number): HTMLElement {
  const w = 320;
  const height = 90;
  const peak = Math.max(0, ...series.flatMap((s) => s.values));
  const max = Math.max(1, peak);
  const figure = document.createElement("figure");
  figure.className = "chart";
  const caption = document.createElement("figcaption");
  const latest = series.some((s) => s.values.length)
    ? series.map((s) => `${s.label} ${format(s.values.at(-1) ?? 0)}${unit}`).join(" · ")
    : "collecting…";
  caption.textContent = `${title}: ${latest}`;
  const chart = svg("svg", { viewBox: `0 0 ${w} ${height}`, role: "img", preserveAspectRatio: "none" });
  chart.setAttribute("aria-label", `${title}, last ${Math.round(seconds / 60) || 1} min, peak ${format(peak)}${unit}`);
  chart.append(svg("line", { x1: 0, y1: height - 0.5, x2: w, y2: height - 0.5, class: "axis" }));
  for (const s of series) {
    const n = s.values.length;
    if (n === 0) continue;
    const step = n > 1 ? w / (n - 1) : w;
    const points = s.values
      .map((v, i) => `${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 6)).toFixed(1)}`)
      .join(" ");
    chart.append(svg("polyline", { points: n > 1 ? points : `0,${height - 2} ${points}`, class: s.className }));
  }
  const legend = document.createElement("small");
  legend.textContent = `peak ${format(peak)}${unit}, last ${Math.max(1, Math.round(seconds / 60))} min`;
  figure.append(caption, chart, legend);
  return figure;
}

export function format(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}
