/**
 * The live run card: what this node is training now (baseline or experiment N, the change
 * tried, its parent; or a verification rerun of another node's experiment and the val_bpb it
 * claims), with step, loss, ETA and the loss so far, updated from `run` messages on /ws; after
 * the run, its result and a link to the published experiment, or the verifier's verdict.
 * @module
 */
import { api } from "./api.js";
import { bpb, clip, expLink, h, nodeLink, setChildren } from "./dom.js";

const uPlot = globalThis.uPlot;

/** Most loss points the card keeps (the server's stored curve is bounded likewise). */
const MAX_POINTS = 1000;

const MODES = {
  exploit: "exploit: builds on the best result so far",
  explore: "explore: tries a branch other than the best, to avoid a dead end",
};

const VERIFY_HELP = "verification: this node reruns another node's experiment on the same " +
  "hardware class to check the val_bpb it claims (its loss is shown here, not stored)";

/** Verdict outcomes and the badge colour each takes (any other value shows as unknown). */
const VERDICT_CLASS = {
  verified: "status-keep",
  challenged: "status-crash",
  answering: "status-discard",
  answered: "status-discard",
  "no verdict": "status-unknown",
};

function duration(s) {
  if (typeof s !== "number" || !Number.isFinite(s)) return "–";
  const m = Math.floor(s / 60);
  const r = Math.round(s % 60);
  return m > 0 ? `${m}m ${String(r).padStart(2, "0")}s` : `${r}s`;
}

/** A card bound to one page; feed it `run` messages with {@link LiveRunCard.update}. */
export class LiveRunCard {
  constructor() {
    this.run = null;
    this.curve = [];
    this.plot = undefined;
    this.body = h("div", { class: "panel-body run-body" });
    this.spark = h("div", { class: "run-spark", "data-testid": "run-curve" });
    this.el = h(
      "section",
      { class: "panel run-card", "data-testid": "run-card" },
      h(
        "div",
        { class: "panel-head" },
        h("h2", {}, "Training now"),
        h("span", { class: "spacer" }),
        h("span", { class: "muted run-phase", "data-testid": "run-phase" }),
      ),
      this.body,
    );
  }

  element() {
    return this.el;
  }

  /** Load the current run (if any) and its loss so far. */
  async load() {
    const body = await api("/api/run");
    this.curve = Array.isArray(body.curve) ? body.curve.slice(-MAX_POINTS) : [];
    this.set(body.run);
  }

  /** A `run` message from /ws. */
  update(run) {
    if (!run || typeof run !== "object") return;
    if (this.run && run.run !== this.run.run) this.curve = [];
    if (typeof run.step === "number" && typeof run.loss === "number") {
      const last = this.curve[this.curve.length - 1];
      if (!last || run.step > last[0]) this.curve.push([run.step, run.loss]);
      if (this.curve.length > MAX_POINTS) this.curve = this.curve.filter((_, i) => i % 2 === 0);
    }
    this.set(run);
  }

  set(run) {
    this.run = run;
    const phaseEl = this.el.querySelector(".run-phase");
    if (!run) {
      phaseEl.textContent = "idle";
      this.el.dataset.state = "idle";
      setChildren(
        this.body,
        h(
          "p",
          { class: "muted" },
          "Nothing trained yet in this session. With `spore run` the baseline starts first; " +
            "its progress shows here, as do reruns of other nodes' experiments that this node " +
            "verifies (a sync-only node trains nothing).",
        ),
      );
      return;
    }
    // "finished" carries a published record (research) or the verifier's verdict (a rerun).
    const finished = run.phase === "finished";
    this.el.dataset.state = run.phase;
    phaseEl.textContent = run.phase;
    const pct = typeof run.percent === "number" ? Math.max(0, Math.min(100, run.percent)) : 0;
    const bar = h("div", { class: "run-bar" }, h("i", {}));
    bar.firstChild.style.width = `${finished ? 100 : pct}%`;
    const verifying = run.kind === "verification" && run.verifies &&
      typeof run.verifies === "object";
    const parent = verifying
      ? [
        "checks ",
        expLink(run.verifies.id),
        " by ",
        nodeLink(run.verifies.node_id),
        ", which claims val_bpb ",
        h("b", { class: "bpb", "data-testid": "run-claimed" }, bpb(run.verifies.claimed_val_bpb)),
      ]
      : run.parent
      ? [
        "on ",
        expLink(run.parent),
        ` (val_bpb ${bpb(run.parent_val_bpb)})`,
      ]
      : run.kind === "baseline"
      ? "the workspace's train.py, unchanged: every later experiment is compared against it"
      : "";
    setChildren(
      this.body,
      h(
        "div",
        { class: "run-title" },
        h("b", { "data-testid": "run-label" }, run.label),
        run.mode &&
          h("span", { class: "tag", title: MODES[run.mode] ?? run.mode }, run.mode),
        verifying && h("span", { class: "tag", title: VERIFY_HELP }, "verification"),
        h("span", { class: "run-desc" }, clip(run.description, 200)),
      ),
      run.hypothesis && h("p", { class: "muted run-hyp" }, clip(run.hypothesis, 300)),
      h("p", { class: "muted run-parent" }, parent),
      bar,
      h(
        "div",
        { class: "run-figures" },
        figure("step", stepText(run), "run-step"),
        figure("loss", typeof run.loss === "number" ? run.loss.toFixed(4) : "–", "run-loss"),
        figure("progress", typeof run.percent === "number" ? `${pct.toFixed(1)}%` : "–"),
        figure("ETA", finished ? "–" : duration(run.eta_seconds)),
        figure("elapsed", duration(run.elapsed_seconds)),
      ),
      finished && run.result && resultLine(run.result),
      finished && verifying && run.verdict && verdictLine(run.verdict, run.verifies),
      this.spark,
    );
    this.drawCurve();
  }

  drawCurve() {
    const xs = this.curve.map((p) => p[0]);
    const ys = this.curve.map((p) => p[1]);
    this.spark.dataset.points = String(xs.length);
    if (xs.length < 2) {
      this.plot?.destroy();
      this.plot = undefined;
      return;
    }
    const width = Math.max(200, this.body.clientWidth - 28);
    if (this.plot && this.plot.root.isConnected) {
      this.plot.setData([xs, ys]);
      return;
    }
    this.plot?.destroy();
    this.plot = lossPlot(this.spark, [xs, ys], { width, height: 110, labels: false });
  }

  destroy() {
    this.plot?.destroy();
  }
}

function stepText(run) {
  if (typeof run.step !== "number") return "–";
  return typeof run.total_steps === "number"
    ? `${run.step.toLocaleString()} / ${run.total_steps.toLocaleString()}`
    : run.step.toLocaleString();
}

function figure(label, value, testId) {
  return h(
    "div",
    { class: "metric" },
    h("span", {}, label),
    h("b", { "data-testid": testId }, value),
  );
}

function resultLine(result) {
  return h(
    "p",
    { class: "run-result" },
    h("span", { class: `badge status-${result.status}` }, result.status),
    " ",
    h("b", { class: "bpb" }, result.val_bpb === null ? "crash" : bpb(result.val_bpb)),
    " · published ",
    expLink(result.id),
  );
}

/** The verifier's decision on a finished rerun, against the claim it checked. */
function verdictLine(verdict, verifies) {
  const cls = Object.hasOwn(VERDICT_CLASS, verdict.outcome)
    ? VERDICT_CLASS[verdict.outcome]
    : "status-unknown";
  const tolerance = verdict.within_tolerance === true
    ? " (within tolerance)"
    : verdict.within_tolerance === false
    ? " (outside tolerance)"
    : "";
  return h(
    "p",
    { class: "run-result", "data-testid": "run-verdict" },
    h("span", { class: `badge ${cls}` }, clip(verdict.outcome, 20)),
    " rerun ",
    h("b", { class: "bpb" }, bpb(verdict.val_bpb)),
    ` vs claimed ${bpb(verifies.claimed_val_bpb)}${tolerance}`,
    h("br", {}),
    h("span", { class: "muted" }, clip(verdict.detail, 200)),
  );
}

/** Whole steps: a short run must not get ticks at step 1.2. */
const STEP_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000];

/** A loss-over-steps line (the live card's and the experiment page's). */
export function lossPlot(box, data, { width, height, labels }) {
  return new uPlot(
    {
      width,
      height,
      legend: { show: false },
      cursor: { show: labels },
      scales: { x: { time: false } },
      axes: [
        {
          stroke: "#8b949e",
          label: labels ? "step" : undefined,
          size: labels ? 40 : 28,
          incrs: STEP_INCRS,
          grid: { show: labels, stroke: "rgba(139,148,158,.15)" },
          ticks: { show: labels },
        },
        {
          stroke: "#8b949e",
          label: labels ? "loss" : undefined,
          size: labels ? 56 : 44,
          grid: { stroke: "rgba(139,148,158,.15)" },
          values: (_u, v) => v.map((x) => x.toFixed(2)),
        },
      ],
      series: [{}, { stroke: "#58a6ff", width: 1.5, points: { show: false } }],
    },
    data,
    box,
  );
}
