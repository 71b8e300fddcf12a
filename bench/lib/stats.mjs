// Small statistics helpers. Medians (not means) because a shared 2-core machine produces the occasional
// outlier run; min-max is reported next to every median so the spread stays visible.

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function spread(values) {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return null;
  return { min: Math.min(...v), max: Math.max(...v) };
}

/** Nearest-rank percentile of an array of numbers (sorted here). */
export function percentile(values, p) {
  if (values.length === 0) return null;
  const v = Float64Array.from(values).sort();
  const rank = Math.ceil((p / 100) * v.length);
  return v[Math.min(v.length - 1, Math.max(0, rank - 1))];
}

export function ratio(value, reference) {
  if (!Number.isFinite(value) || !Number.isFinite(reference) || reference === 0) return null;
  return value / reference;
}

/** Median, spread and count of one field over a list of runs. */
export function summarize(runs, field) {
  const values = runs.map((r) => r[field]).filter((x) => Number.isFinite(x));
  return { median: median(values), ...(spread(values) ?? { min: null, max: null }), n: values.length };
}
