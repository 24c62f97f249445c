/**
 * Prometheus text-format metrics (exposition format 0.0.4): counters and gauges with labels.
 * One registry per node; `/metrics` renders it.
 * @module
 */

/** Label names to values of one series. */
export type Labels = Readonly<Record<string, string>>;

/** One series a collector reports at render time. */
export interface Sample {
  labels?: Labels;
  value: number;
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge";
  values: Map<string, { labels: Labels; value: number }>;
  collect?: () => number;
  /** Labeled series read at render time (store counts, queue depths). */
  samples?: () => Sample[];
}

function labelKey(labels: Labels): string {
  return Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(",");
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A set of metric families rendered together. */
export class MetricsRegistry {
  readonly #families = new Map<string, Family>();

  #family(name: string, help: string, type: Family["type"]): Family {
    if (!NAME_RE.test(name)) throw new RangeError(`invalid metric name ${name}`);
    let f = this.#families.get(name);
    if (!f) {
      f = { name, help, type, values: new Map() };
      this.#families.set(name, f);
    }
    return f;
  }

  /** Declare a counter; returns a function that adds to it (default 1) for a label set. */
  counter(name: string, help: string): (labels?: Labels, by?: number) => void {
    const f = this.#family(name, help, "counter");
    return (labels = {}, by = 1) => {
      const key = labelKey(labels);
      const cur = f.values.get(key);
      if (cur) cur.value += by;
      else f.values.set(key, { labels: { ...labels }, value: by });
    };
  }

  /** Declare a gauge; returns a setter for a label set. */
  gauge(name: string, help: string): (value: number, labels?: Labels) => void {
    const f = this.#family(name, help, "gauge");
    return (value, labels = {}) => {
      f.values.set(labelKey(labels), { labels: { ...labels }, value });
    };
  }

  /** Declare a gauge whose value is read when metrics are rendered. */
  gaugeFn(name: string, help: string, collect: () => number): void {
    this.#family(name, help, "gauge").collect = collect;
  }

  /**
   * Declare a family whose series are read when metrics are rendered (a failing read renders
   * no series rather than breaking the whole page).
   */
  collector(name: string, help: string, type: Family["type"], samples: () => Sample[]): void {
    this.#family(name, help, type).samples = samples;
  }

  /** Current value of a metric with a label set (0 when never touched). */
  value(name: string, labels: Labels = {}): number {
    const f = this.#families.get(name);
    if (f?.collect) return f.collect();
    if (f?.samples) {
      const key = labelKey(labels);
      return f.samples().find((s) => labelKey(s.labels ?? {}) === key)?.value ?? 0;
    }
    return f?.values.get(labelKey(labels))?.value ?? 0;
  }

  /** Render every family in the Prometheus text format. */
  render(): string {
    const out: string[] = [];
    for (const f of this.#families.values()) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}`);
      out.push(`# TYPE ${f.name} ${f.type}`);
      if (f.collect) {
        let v: number;
        try {
          v = f.collect();
        } catch {
          v = NaN;
        }
        out.push(`${f.name} ${formatValue(v)}`);
        continue;
      }
      let series: Iterable<Sample> = f.values.values();
      if (f.samples) {
        try {
          series = f.samples();
        } catch {
          series = [];
        }
      }
      for (const { labels = {}, value } of series) {
        const ls = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(",");
        out.push(`${f.name}${ls ? `{${ls}}` : ""} ${formatValue(value)}`);
      }
    }
    return out.join("\n") + "\n";
  }
}
