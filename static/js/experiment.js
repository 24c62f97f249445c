/**
 * The experiment page: metrics, verification state, lineage path, children, colored diff,
 * code artifact and every field of the signed record.
 * @module
 */
import { api } from "./api.js";
import {
  ago,
  bpb,
  clip,
  dateText,
  diffView,
  expLink,
  h,
  nodeLink,
  recBpb,
  setChildren,
  shortId,
  statusBadge,
} from "./dom.js";
import { lossPlot } from "./live_run.js";
import { recordTable } from "./tables.js";

const WIRE_FIELDS = [
  "id",
  "version",
  "parent",
  "depth",
  "code_cid",
  "dataset_cid",
  "prepare_cid",
  "time_budget",
  "val_bpb",
  "peak_vram_mb",
  "num_steps",
  "num_params",
  "status",
  "description",
  "hypothesis",
  "agent_model",
  "gpu_model",
  "cuda_version",
  "torch_version",
  "node_id",
  "timestamp",
  "signature",
];

/** Render the page for experiment `id`. */
export async function showExperiment(main, id) {
  let rec;
  try {
    rec = await api(`/api/experiment/${id}`);
  } catch (err) {
    if (err.status !== 404) throw err;
    await showUnknown(main, id);
    return;
  }
  const [ancestors, children] = await Promise.all([
    api(`/api/experiment/${id}/ancestor?limit=200`),
    api(`/api/experiment/${id}/children?limit=200`),
  ]);
  const codeBox = h("div", {}, h("p", { class: "muted" }, "Loading code…"));
  const curveBox = h("div", { class: "loss-curve", "data-testid": "loss-curve" });
  const curvePanel = panel("Loss during training (this node's run)", curveBox);
  curvePanel.hidden = true;
  const cpu = rec.gpu_class === "CPU";
  const quiet = rec.event.length === 0;
  const verification = panel("Verification", verificationView(rec));
  const download = h("span", { class: "download-slot" });
  downloadView(download, rec, rec.code_available === true);
  main.replaceChildren(
    h(
      "div",
      { class: "page", "data-testid": "experiment-page" },
      h(
        "div",
        { class: "page-title" },
        statusBadge(rec.status),
        rec.is_frontier && h("span", { class: "badge b-frontier" }, "frontier"),
        verificationBadge(rec),
        h("h1", {}, rec.description || "(no description)"),
      ),
      h(
        "div",
        { class: "metrics" },
        metric(
          "val_bpb",
          rec.status === "crash" ? "crash" : recBpb(rec),
          "metric-bpb",
        ),
        // A CPU run has no VRAM, and runs a fixed number of steps rather than the GPU budget.
        !cpu && metric("peak VRAM", `${Math.round(rec.peak_vram_mb).toLocaleString()} MB`),
        metric("steps", Number(rec.num_steps).toLocaleString()),
        metric("params", Number(rec.num_params).toLocaleString()),
        metric(cpu ? "device" : "GPU class", cpu ? "CPU" : rec.gpu_class),
        !cpu && metric("time budget", `${rec.time_budget} s`),
        metric("depth", String(rec.depth)),
        metric("published", ago(rec.timestamp)),
      ),
      h(
        "div",
        // Alone (no verification events to show beside it) the panel takes the whole row.
        { class: quiet ? "" : "cols" },
        panel(
          "Hypothesis & publisher",
          h("p", { class: "text-block" }, rec.hypothesis || "—"),
          h(
            "p",
            {},
            "by ",
            nodeLink(rec.node_id, rec.node_display_name),
            h("span", { class: "muted" }, ` · agent ${clip(rec.agent_model, 60)}`),
          ),
        ),
        quiet ? null : verification,
      ),
      h(
        "div",
        { class: "cols" },
        panel("Lineage", lineageView(rec, ancestors)),
        panel(
          `Children (${rec.child_count})`,
          recordTable(children, { compact: true, testId: "children" }),
        ),
      ),
      curvePanel,
      panel("Diff", diffView(rec.diff)),
      panel(
        h(
          "span",
          { class: "code-head" },
          "Code ",
          h("span", { class: "mono muted" }, shortId(rec.code_cid)),
          download,
        ),
        codeBox,
      ),
      // With no events there is little to say: one line, after the research itself.
      quiet ? verification : null,
      panel("Signed record", fieldsView(rec)),
    ),
  );
  // Code fetched from a peer is stored here on the way, so the download then works too.
  loadCode(codeBox, rec.code_cid).then((loaded) => {
    if (loaded) downloadView(download, rec, true);
  });
  loadCurve(curvePanel, curveBox, rec.id);
}

/**
 * The "download train.py" link when this node holds the code (else it would 404), otherwise
 * how to get it: `spore checkout` asks the peers.
 */
function downloadView(slot, rec, held) {
  setChildren(
    slot,
    held
      ? h("a", {
        href: new URL(`/api/artifact/${rec.code_cid}/raw`, location.href).href,
        download: `train-${shortId(rec.id)}.py`,
        class: "download",
        "data-testid": "download",
        title: "The exact train.py of this experiment (sha256 = code_cid)",
      }, "download train.py")
      : h(
        "span",
        { class: "download muted", "data-testid": "download-hint" },
        "code not held here: ",
        h("code", {}, `spore checkout ${shortId(rec.id)}`),
        " fetches it from peers",
      ),
  );
}

/** An id this node does not hold: say why that can be and what to do. */
async function showUnknown(main, id) {
  const stat = await api("/api/stat").catch(() => null);
  const peers = stat ? stat.peer_count : "?";
  main.replaceChildren(
    h(
      "div",
      { class: "page", "data-testid": "unknown-experiment" },
      h("h1", {}, "This node has no experiment with this id"),
      h("p", { class: "mono muted" }, id),
      h(
        "ul",
        {},
        h(
          "li",
          {},
          "It may not have synced yet: records reach this node from its peers as they are " +
            `published (${peers} peer${peers === 1 ? "" : "s"} connected now). ` +
            "Wait a minute and reload.",
        ),
        h("li", {}, "Check the id: it is the record's 64-character hex id, not its code_cid."),
        h(
          "li",
          {},
          "Search by the start of the id or the description: ",
          h("a", { href: `#/search/${id.slice(0, 12)}` }, `search ${id.slice(0, 12)}`),
          ".",
        ),
      ),
      h("p", {}, h("a", { href: "#/" }, "Back to the explorer")),
    ),
  );
}

/** The loss curve this node recorded while training the run (own runs only). */
async function loadCurve(panelEl, box, id) {
  let body;
  try {
    body = await api(`/api/experiment/${id}/curve`);
  } catch {
    return; // not this node's run: the panel stays hidden
  }
  const points = body.points ?? [];
  if (points.length < 2) return;
  panelEl.hidden = false;
  box.dataset.points = String(points.length);
  lossPlot(box, [points.map((p) => p[0]), points.map((p) => p[1])], {
    width: Math.max(300, box.clientWidth || 800),
    height: 200,
    labels: true,
  });
}

function panel(title, ...body) {
  return h(
    "section",
    { class: "panel" },
    h("div", { class: "panel-head" }, h("h2", {}, title)),
    h("div", { class: "panel-body" }, body),
  );
}

function metric(label, value, testId) {
  return h(
    "div",
    { class: "metric" },
    h("span", {}, label),
    h("b", { "data-testid": testId }, value),
  );
}

function verificationBadge(rec) {
  // The server judged every event: a refused dispute (e.g. one contradicting its evidence)
  // never decides the badge.
  const state = rec.verification?.state;
  if (state === "rejected") {
    return h("span", { class: "badge b-rejected", "data-testid": "rejected" }, "claim rejected");
  }
  if (state === "upheld") {
    return h("span", { class: "badge b-verified", "data-testid": "upheld" }, "upheld on dispute");
  }
  if (state === "challenged") {
    return h("span", { class: "badge b-unverified", "data-testid": "challenged" }, "challenged");
  }
  if (rec.verified) {
    return h("span", { class: "badge b-verified", "data-testid": "verified" }, "verified");
  }
  return h("span", { class: "badge b-unverified" }, "not verified");
}

function verificationView(rec) {
  const intro = rec.verified
    ? h("p", {}, "This node re-ran the experiment and confirmed the result.")
    : h("p", { class: "muted" }, "This node has not re-run this experiment.");
  if (rec.event.length === 0) {
    return [
      intro,
      h("p", { class: "muted" }, "No verification, challenge or dispute events seen."),
    ];
  }
  return [
    intro,
    h(
      "table",
      { "data-testid": "events" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          h("th", {}, "event"),
          h("th", {}, "by"),
          h("th", { class: "num" }, "val_bpb"),
          h("th", {}, "detail"),
          h("th", {}, "accepted"),
        ),
      ),
      h(
        "tbody",
        {},
        rec.event.map((e) => {
          const p = e.payload ?? {};
          const by = p.verifier_id ?? p.challenger_id ?? p.signer;
          const value = p.verifier_bpb ?? p.challenger_bpb ?? p.ground_truth_bpb;
          const detail = e.type === "dispute"
            ? `${p.outcome} · ${p.verifier_count} verifiers`
            : e.type === "verification"
            ? clip(p.verifier_gpu, 30)
            : clip(p.challenger_gpu ?? p.verifier_gpu ?? "", 30);
          return h(
            "tr",
            {},
            h("td", {}, e.type),
            h("td", {}, nodeLink(by)),
            h("td", { class: "num bpb" }, bpb(value)),
            h("td", { class: "muted" }, detail),
            h("td", { class: e.state === "refused" ? "muted" : "" }, e.state ?? "?"),
          );
        }),
      ),
    ),
  ];
}

/** Root first, down to this record, with the change in val_bpb at each step. */
function lineageView(rec, ancestors) {
  const path = [...ancestors].reverse().concat([rec]);
  const first = path[0];
  return h(
    "ol",
    { class: "lineage", "data-testid": "lineage" },
    first.parent && h("li", { class: "muted" }, "… earlier ancestors not stored here"),
    path.map((r, i) => {
      const prev = path[i - 1];
      const delta = prev && r.status !== "crash" && prev.status !== "crash"
        ? r.val_bpb - prev.val_bpb
        : undefined;
      return h(
        "li",
        { class: `${r.status} ${r.id === rec.id ? "current" : ""}` },
        h("span", { class: "bpb" }, recBpb(r)),
        delta !== undefined &&
          h(
            "span",
            { class: delta <= 0 ? "delta-good" : "delta-bad" },
            `${delta <= 0 ? "" : "+"}${delta.toFixed(4)}`,
          ),
        r.id === rec.id
          ? h("span", {}, clip(r.description, 70))
          : expLink(r.id, clip(r.description, 70) || shortId(r.id)),
      );
    }),
  );
}

function fieldsView(rec) {
  return h(
    "dl",
    { class: "fields" },
    WIRE_FIELDS.map((k) => [
      h("dt", {}, k),
      h(
        "dd",
        {},
        (k === "parent" && rec.parent)
          ? expLink(rec.parent, rec.parent)
          : k === "node_id"
          ? h("a", { href: `#/node/${rec.node_id}` }, rec.node_id)
          : k === "timestamp"
          ? `${rec.timestamp} (${dateText(rec.timestamp)})`
          : String(rec[k] ?? "null"),
      ),
    ]),
  );
}

/** Show the code artifact; true when it was found (here or at a peer). */
async function loadCode(box, cid) {
  try {
    const art = await api(`/api/artifact/${cid}`);
    if (art.encoding === "base64") {
      setChildren(box, h("p", { class: "muted" }, `Binary artifact, ${art.size} bytes.`));
      return true;
    }
    const lines = String(art.content).replace(/\n$/, "").split("\n");
    setChildren(
      box,
      h(
        "pre",
        { class: "code", "data-testid": "code" },
        lines.map((l) => h("span", { class: "cl" }, l, "\n")),
      ),
    );
    return true;
  } catch (err) {
    setChildren(
      box,
      h(
        "p",
        { class: "muted" },
        err.status === 404
          ? "The code is not stored here and no connected peer has it."
          : err.message,
      ),
    );
    return false;
  }
}
