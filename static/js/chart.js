/**
 * The progress chart (autoresearch's progress.png, live): val_bpb of every experiment of one
 * research class and GPU class from `/api/progress`, drawn with uPlot (vendored in
 * static/vendor). Keeps are green circles, discards amber squares, crashes red crosses along
 * the top edge (a crash has no val_bpb), this node's own runs ringed in blue, and the running
 * best is a gold step line. Hover shows the description and the change from the parent; a click
 * opens the experiment.
 * @module
 */
import { api } from "./api.js";
import { bpb, clip, dateText, h, isId, setChildren, shortId } from "./dom.js";

const uPlot = globalThis.uPlot;

/** What the server accepts as a `class` filter (records with other cids are not offered). */
const CLASS_RE = /^[A-Za-z0-9._-]{1,160}\/[A-Za-z0-9._-]{1,160}$/;

const COLORS = {
  keep: "#3fb950",
  discard: "#d29922",
  crash: "#f85149",
  own: "#58a6ff",
  best: "#e3b341",
  grid: "rgba(139, 148, 158, .15)",
  axis: "#8b949e",
};

/** A uPlot points path builder drawing `shape` at every non-null value of the series. */
function shapes(shape, sizeCss) {
  return (u, seriesIdx, idx0, idx1) => {
    const size = sizeCss * devicePixelRatio;
    const r = size / 2;
    const path = new Path2D();
    const xs = u.data[0];
    const ys = u.data[seriesIdx];
    for (let i = idx0; i <= idx1; i++) {
      const y = ys[i];
      if (y === null || y === undefined) continue;
      const cx = u.valToPos(xs[i], "x", true);
      const cy = u.valToPos(y, "y", true);
      if (shape === "circle" || shape === "ring") {
        path.moveTo(cx + r, cy);
        path.arc(cx, cy, r, 0, 2 * Math.PI);
      } else if (shape === "square") {
        path.rect(cx - r * 0.85, cy - r * 0.85, r * 1.7, r * 1.7);
      } else {
        path.moveTo(cx - r, cy - r);
        path.lineTo(cx + r, cy + r);
        path.moveTo(cx + r, cy - r);
        path.lineTo(cx - r, cy + r);
      }
    }
    const filled = shape === "circle" || shape === "square";
    return { stroke: path, fill: filled ? path : null };
  };
}

function pointSeries(label, color, shape, size, width = 1.5) {
  return {
    label,
    stroke: color,
    fill: color,
    width: 0,
    paths: () => null,
    points: {
      show: true,
      space: 0,
      size,
      width,
      stroke: color,
      fill: shape === "ring" || shape === "cross" ? "transparent" : color,
      paths: shapes(shape, size),
    },
  };
}

/** The chart panel: filters, x-axis toggle, canvas, hover card, counts. */
export class ProgressChart {
  /** `ownNodeId` rings this node's points. */
  constructor(ownNodeId) {
    this.own = ownNodeId;
    this.xMode = "time";
    this.filter = { gpu: "", cls: "" };
    this.points = [];
    this.plot = undefined;
    this.timer = undefined;
    this.box = h("div", { class: "chart-box", "data-chart": "progress", "data-points": "0" });
    this.tip = h("div", { class: "chart-tip", hidden: true });
    this.note = h("span", { class: "muted chart-note", "data-testid": "chart-note" });
    this.gpuSelect = h("select", { "aria-label": "GPU class", "data-testid": "chart-gpu" });
    this.classSelect = h("select", {
      "aria-label": "Research class",
      "data-testid": "chart-class",
    });
    this.xButtons = ["time", "number"].map((mode) =>
      h("button", {
        type: "button",
        class: mode === this.xMode ? "on" : "",
        dataset: { x: mode },
        onclick: () => this.setX(mode),
      }, mode === "time" ? "time" : "experiment #")
    );
    this.gpuSelect.addEventListener("change", () => {
      this.filter.gpu = this.gpuSelect.value;
      this.refresh();
    });
    this.classSelect.addEventListener("change", () => {
      this.filter.cls = this.classSelect.value;
      this.refresh();
    });
    this.resize = () => this.plot?.setSize(this.size());
    globalThis.addEventListener("resize", this.resize);
  }

  /** The panel element. */
  element() {
    return h(
      "div",
      { class: "panel chart-panel" },
      h(
        "div",
        { class: "panel-head" },
        h("h2", {}, "Progress"),
        h(
          "div",
          { class: "legend" },
          h("span", {}, h("i", { class: "l-keep" }), "keep"),
          h("span", {}, h("i", { class: "l-discard sq" }), "discard"),
          h("span", {}, h("i", { class: "l-crash x" }, "×"), "crash"),
          h("span", {}, h("i", { class: "l-own" }), "this node"),
          h("span", {}, h("i", { class: "l-best" }), "best so far"),
        ),
        h("span", { class: "spacer" }),
        h("div", { class: "toggle", role: "group", "aria-label": "x axis" }, this.xButtons),
      ),
      h("div", { class: "chart-wrap" }, this.box, this.tip),
      h(
        "div",
        { class: "chart-foot" },
        this.note,
        h("span", { class: "spacer" }),
        this.gpuSelect,
        this.classSelect,
      ),
    );
  }

  /**
   * Fill the filters from frontier records (each class once) and pick the default: the class
   * of this node's latest record, else of the best frontier record.
   */
  setChoices(frontier, ownLatest) {
    const gpus = [...new Set(frontier.map((r) => r.gpu_class))].sort();
    const classes = new Map();
    for (const r of frontier) if (CLASS_RE.test(classKey(r))) classes.set(classKey(r), r);
    if (ownLatest) {
      if (!gpus.includes(ownLatest.gpu_class)) gpus.push(ownLatest.gpu_class);
      if (CLASS_RE.test(classKey(ownLatest))) classes.set(classKey(ownLatest), ownLatest);
    }
    const pick = ownLatest ?? frontier[0];
    if (!this.defaulted && pick) {
      // Once: later refreshes keep whatever the user chose, "all" included.
      this.defaulted = true;
      this.filter.gpu = pick.gpu_class;
      if (classes.has(classKey(pick))) this.filter.cls = classKey(pick);
    }
    setChildren(
      this.gpuSelect,
      h("option", { value: "" }, "all GPUs"),
      gpus.map((g) => h("option", { value: g }, g)),
    );
    setChildren(
      this.classSelect,
      h("option", { value: "" }, "all research classes"),
      [...classes.entries()].map(([key, r]) =>
        h("option", { value: key }, classLabel(r.dataset_cid, r.prepare_cid))
      ),
    );
    this.gpuSelect.value = this.filter.gpu;
    this.classSelect.value = this.filter.cls;
  }

  setX(mode) {
    this.xMode = mode;
    for (const b of this.xButtons) b.className = b.dataset.x === mode ? "on" : "";
    this.draw();
  }

  /** Fetch the points for the current filter and redraw. */
  async refresh() {
    const q = new URLSearchParams();
    if (this.filter.gpu) q.set("gpu", this.filter.gpu);
    if (this.filter.cls) q.set("class", this.filter.cls);
    const body = await api(`/api/progress?${q}`);
    this.points = body.points;
    this.body = body;
    this.draw();
    // A big graph is read into the server's series over several requests.
    if (!body.complete) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.refresh().catch(() => {}), 200);
    }
  }

  /** A record arrived live: refetch shortly (bursts of sync coalesce into one request). */
  onRecord() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh().catch(() => {}), 400);
  }

  size() {
    const w = Math.max(320, this.box.clientWidth || 800);
    return { width: w, height: 300 };
  }

  draw() {
    const pts = this.points;
    const b = this.body ?? { total: 0, counts: { keep: 0, discard: 0, crash: 0 } };
    const xs = pts.map((p, i) =>
      this.xMode === "time" ? p.timestamp : (b.downsampled ? p.n : i + 1)
    );
    const vals = pts.filter((p) => p.val_bpb !== null).map((p) => p.val_bpb);
    const hi = vals.length ? Math.max(...vals) : 1;
    const lo = vals.length ? Math.min(...vals) : 0;
    const pad = Math.max((hi - lo) * 0.08, 0.002);
    // Crashes have no val_bpb: they sit on the top edge, where the eye still finds them.
    const crashY = hi + pad * 0.6;
    const pick = (test, y = (p) => p.val_bpb) => pts.map((p) => (test(p) ? y(p) : null));
    const data = [
      xs,
      pts.map((p) => p.best),
      pick((p) => p.status === "keep"),
      pick((p) => p.status === "discard"),
      pick((p) => p.status === "crash", () => crashY),
      pick((p) => p.node_id === this.own, (p) => p.val_bpb ?? crashY),
    ];
    this.box.dataset.points = String(pts.length);
    this.box.dataset.total = String(b.total);
    const shown = b.downsampled ? `${pts.length.toLocaleString()} shown of ` : "";
    this.note.textContent = pts.length === 0
      ? "No experiments of this class yet: the baseline appears here when it finishes."
      : `${shown}${b.total.toLocaleString()} experiments · ${b.counts.keep} keep · ` +
        `${b.counts.discard} discard · ${b.counts.crash} crash` +
        (b.complete === false ? " · still reading the graph…" : "");
    const yRange = [lo - pad, hi + pad];
    if (this.plot && this.plot.xMode === this.xMode) {
      this.plot.yRange = yRange;
      this.plot.setData(data);
      return;
    }
    this.plot?.destroy();
    const time = this.xMode === "time";
    const plot = new uPlot(
      {
        ...this.size(),
        scales: {
          // One point (or one instant) would otherwise stretch the axis over years.
          x: {
            time,
            range: (_u, min, max) =>
              min === max ? [min - (time ? 1800 : 1), max + (time ? 1800 : 1)] : [min, max],
          },
          y: { range: () => plot.yRange },
        },
        legend: { show: false },
        cursor: {
          points: { show: false },
          drag: { x: true, y: false, setScale: true },
        },
        axes: [
          {
            stroke: COLORS.axis,
            grid: { stroke: COLORS.grid },
            ticks: { stroke: COLORS.grid },
            label: time ? undefined : "experiment #",
          },
          {
            stroke: COLORS.axis,
            grid: { stroke: COLORS.grid },
            ticks: { stroke: COLORS.grid },
            values: (_u, splits) => splits.map((v) => v.toFixed(3)),
            size: 56,
            label: "val_bpb",
          },
        ],
        series: [
          {},
          {
            label: "best",
            stroke: COLORS.best,
            width: 2,
            spanGaps: true,
            paths: uPlot.paths.stepped({ align: 1 }),
            points: { show: false },
          },
          pointSeries("keep", COLORS.keep, "circle", 7),
          pointSeries("discard", COLORS.discard, "square", 6),
          pointSeries("crash", COLORS.crash, "cross", 7, 2),
          pointSeries("this node", COLORS.own, "ring", 12, 1.5),
        ],
        hooks: {
          setCursor: [(u) => this.hover(u)],
        },
      },
      data,
      this.box,
    );
    plot.xMode = this.xMode;
    plot.yRange = yRange;
    plot.over.addEventListener("click", () => {
      const p = this.points[plot.cursor.idx ?? -1];
      if (p && isId(p.id) && this.near(plot)) location.hash = `#/experiment/${p.id}`;
    });
    plot.over.addEventListener("mouseleave", () => (this.tip.hidden = true));
    this.plot = plot;
  }

  /** True when the cursor is within a few pixels of the point it snapped to. */
  near(u) {
    const i = u.cursor.idx;
    if (i === null || i === undefined) return false;
    const x = u.valToPos(u.data[0][i], "x");
    return Math.abs(x - u.cursor.left) < 12;
  }

  hover(u) {
    const i = u.cursor.idx;
    const p = this.points[i ?? -1];
    if (!p || !this.near(u)) {
      this.tip.hidden = true;
      return;
    }
    const delta = p.delta === null ? null : h(
      "span",
      { class: p.delta <= 0 ? "delta-good" : "delta-bad" },
      `${p.delta <= 0 ? "" : "+"}${p.delta.toFixed(4)} vs parent`,
    );
    setChildren(
      this.tip,
      h(
        "div",
        {},
        h("b", { class: `st-${p.status}` }, p.status),
        " ",
        h("span", { class: "bpb" }, p.val_bpb === null ? "crash" : bpb(p.val_bpb)),
        " ",
        delta,
      ),
      h("div", { class: "tip-desc" }, clip(p.description, 120) || shortId(p.id)),
      h(
        "div",
        { class: "muted" },
        `#${p.n} · ${dateText(p.timestamp)}${p.node_id === this.own ? " · this node" : ""}`,
      ),
    );
    this.tip.hidden = false;
    const left = u.cursor.left + u.over.offsetLeft;
    const top = u.cursor.top + u.over.offsetTop;
    const w = this.box.clientWidth;
    this.tip.style.left = `${Math.min(left + 14, w - 300)}px`;
    this.tip.style.top = `${Math.max(0, top - 10)}px`;
  }

  destroy() {
    clearTimeout(this.timer);
    globalThis.removeEventListener("resize", this.resize);
    this.plot?.destroy();
  }
}

/** The `class` filter value of a record: `DATASET_CID/PREPARE_CID` (the protocol's classKey). */
export function classKey(r) {
  return `${r.dataset_cid}/${r.prepare_cid}`;
}

/** A research class for people: the dataset, and a short prepare.py hash. */
export function classLabel(datasetCid, prepareCid) {
  return `${clip(datasetCid, 32)} · prepare ${String(prepareCid).slice(0, 8)}`;
}
