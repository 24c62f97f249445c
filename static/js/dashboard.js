/**
 * The home page: progress chart, the run training now, lineage DAG with a detail drawer,
 * frontier table, live feed, leaderboard. A node alone (no peers, only its own records) sees
 * its research first and the network's panels after.
 * @module
 */
import { api } from "./api.js";
import { ProgressChart } from "./chart.js";
import { Dag } from "./dag.js";
import { LiveRunCard } from "./live_run.js";
import {
  ago,
  bpb,
  diffView,
  expLink,
  h,
  nodeLink,
  setChildren,
  shortId,
  statusBadge,
} from "./dom.js";
import { leaderboardTable, recordTable } from "./tables.js";

/** Render the dashboard into `main`; returns a handle for live updates and teardown. */
export async function showDashboard(main, feed) {
  const stat = await api("/api/stat");
  const solo = stat.peer_count === 0 && stat.node_count <= 1;
  const chart = new ProgressChart(stat.node_id);
  const runCard = new LiveRunCard();
  const dagBox = h("div", { id: "dag", "data-testid": "dag" });
  const detail = h("aside", { class: "detail", hidden: true, "data-testid": "detail" });
  const note = h("div", { class: "dag-note" });
  const frontierBody = h("div", {});
  const leaderBody = h("div", {});
  const gpuSelect = h(
    "select",
    { "aria-label": "GPU class", "data-testid": "gpu-filter" },
    h("option", { value: "" }, "all GPUs"),
  );
  // Research classes (dataset + prepare.py): val_bpb only compares within one.
  const classSelect = h(
    "select",
    { "aria-label": "research class", "data-testid": "class-filter" },
    h("option", { value: "" }, "all classes"),
  );

  const reputation = h(
    "div",
    { class: "panel reputation-panel" },
    h(
      "div",
      { class: "panel-head" },
      h("h2", {}, "Reputation"),
      h("span", { class: "spacer" }),
      h(
        "span",
        {
          class: "muted help",
          title: "Score from verified results and verifications done; exp = experiments " +
            "published / experiments of that node verified by others",
        },
        "?",
      ),
    ),
    solo &&
      h(
        "p",
        { class: "muted panel-body" },
        "No peers connected: reputation grows when other nodes rerun and verify your results.",
      ),
    leaderBody,
  );
  main.replaceChildren(
    h(
      "section",
      { class: `grid${solo ? " solo" : ""}`, "data-testid": "dashboard" },
      h("div", { class: "chart-area" }, chart.element()),
      h("div", { class: "run-area" }, runCard.element()),
      h(
        "div",
        { class: "panel dag-panel" },
        h(
          "div",
          { class: "panel-head" },
          h("h2", {}, "Lineage"),
          h(
            "div",
            { class: "legend" },
            h("span", {}, h("i", { class: "l-keep" }), "keep"),
            h("span", {}, h("i", { class: "l-discard" }), "discard"),
            h("span", {}, h("i", { class: "l-crash" }), "crash"),
            h("span", {}, h("i", { class: "l-frontier" }), "frontier"),
          ),
          h("span", { class: "spacer" }),
          h("button", { type: "button", onclick: () => dag.cy.fit(undefined, 24) }, "Fit"),
        ),
        h("div", { class: "dag-wrap" }, dagBox, note, detail),
      ),
      h(
        "aside",
        { class: "side" },
        h(
          "div",
          { class: "panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Live activity")),
          feed.element(),
        ),
        h(
          "div",
          { class: "panel" },
          h("div", { class: "panel-head" }, h("h2", {}, "Reputation")),
          leaderBody,
        ),
      ),
      h(
        "div",
        { class: "panel frontier-panel" },
        h(
          "div",
          { class: "panel-head" },
          h("h2", {}, "Frontier"),
          h("span", { class: "spacer" }),
          classSelect,
          gpuSelect,
        ),
        frontierBody,
      ),
      solo && h("div", { class: "network-area" }, reputation),
    ),
  );

  const dag = new Dag(dagBox, (rec) => openDetail(detail, rec));
  let gpu = "";
  gpuSelect.addEventListener("change", () => {
    gpu = gpuSelect.value;
    refreshFrontier();
  });
  let cls = "";
  classSelect.addEventListener("change", () => {
    cls = classSelect.value;
    refreshFrontier();
  });

  let lastFrontier = [];
  async function refreshFrontier() {
    const all = await api("/api/frontier?limit=200");
    lastFrontier = all;
    const classes = [...new Set(all.map((r) => r.gpu_class))].sort();
    const current = gpuSelect.value;
    setChildren(
      gpuSelect,
      h("option", { value: "" }, "all GPUs"),
      classes.map((c) => h("option", { value: c }, c)),
    );
    gpuSelect.value = classes.includes(current) ? current : "";
    const research = await api("/api/classes");
    setChildren(
      classSelect,
      h("option", { value: "" }, "all classes"),
      research.map((c) => h("option", { value: c.class }, `${c.name} (${c.experiment_count})`)),
    );
    if (!research.some((c) => c.class === cls)) cls = "";
    classSelect.value = cls;
    const rows = all.filter((r) =>
      (!gpu || r.gpu_class === gpu) && (!cls || `${r.dataset_cid}/${r.prepare_cid}` === cls)
    );
    setChildren(
      frontierBody,
      recordTable(rows, {
        rank: true,
        testId: "frontier-table",
        onRow: (r) => {
          if (dag.focus(r.id)) openDetail(detail, r);
          else location.hash = `#/experiment/${r.id}`;
        },
      }),
    );
    dag.setFrontier(all.map((r) => r.id));
  }

  async function refreshLeaderboard() {
    setChildren(leaderBody, leaderboardTable(await api("/api/leaderboard?limit=15")));
  }

  const graph = await api("/api/graph?fields=summary");
  performance.mark("spore-graph-loaded");
  const graphNote = () => {
    // Counted from what the DAG holds now, so live records keep it true.
    const shown = dag.recordCount();
    note.textContent = graph.truncated
      ? `showing ${shown} records: best frontier lineages and the newest`
      : `${shown} records`;
  };
  const ownLatest = api(`/api/node/${stat.node_id}/experiment?limit=1`)
    .then((rows) => rows[0])
    .catch(() => undefined);
  await Promise.all([
    dag.load(graph).then(() => {
      graphNote();
      performance.mark("spore-graph-laid-out");
    }),
    refreshLeaderboard(),
    runCard.load().catch((err) => runCard.body.replaceChildren(err.message)),
    Promise.all([refreshFrontier(), ownLatest]).then(async ([, own]) => {
      chart.setChoices(lastFrontier, own);
      await chart.refresh();
    }).catch((err) => (chart.note.textContent = `chart unavailable: ${err.message}`)),
  ]);

  let timer;
  return {
    /** A live message arrived while the dashboard is shown. */
    onLive(msg) {
      if (msg.type === "run") {
        runCard.update(msg.data);
        return;
      }
      if (msg.type === "experiment") {
        dag.addRecord(msg.data);
        graphNote();
        chart.onRecord(msg.data);
      }
      clearTimeout(timer);
      timer = setTimeout(() => {
        refreshFrontier().catch(() => {});
        refreshLeaderboard().catch(() => {});
      }, 300);
    },
    destroy() {
      clearTimeout(timer);
      dag.destroy();
      chart.destroy();
      runCard.destroy();
    },
    dag,
    chart,
    runCard,
  };
}

/** Fill the drawer with a record's summary, then its diff from the full record. */
async function openDetail(panel, rec) {
  panel.hidden = false;
  panel.dataset.id = rec.id;
  const diffBox = h("div", {}, h("p", { class: "muted" }, "Loading diff…"));
  setChildren(
    panel,
    h("button", {
      type: "button",
      class: "close",
      onclick: () => (panel.hidden = true),
      "aria-label": "Close",
    }, "✕"),
    h(
      "div",
      { class: "page-title" },
      statusBadge(rec.status),
      h("span", { class: "bpb" }, bpb(rec.val_bpb)),
    ),
    h("h3", {}, rec.description || "(no description)"),
    h(
      "dl",
      { class: "fields" },
      h("dt", {}, "id"),
      h("dd", {}, expLink(rec.id, shortId(rec.id) + "…")),
      h("dt", {}, "node"),
      h("dd", {}, nodeLink(rec.node_id, rec.node_display_name)),
      h("dt", {}, "GPU"),
      h("dd", {}, `${rec.gpu_class} (${rec.gpu_model})`),
      h("dt", {}, "parent"),
      h("dd", {}, rec.parent ? expLink(rec.parent) : "none (root)"),
      h("dt", {}, "published"),
      h("dd", {}, ago(rec.timestamp)),
    ),
    h("p", {}, h("a", { href: `#/experiment/${rec.id}` }, "Open experiment page →")),
    h("h4", {}, "Diff"),
    diffBox,
  );
  try {
    const full = await api(`/api/experiment/${rec.id}`);
    if (panel.dataset.id !== rec.id) return; // another node was clicked meanwhile
    setChildren(
      diffBox,
      full.hypothesis ? h("p", { class: "text-block muted" }, full.hypothesis) : null,
      diffView(full.diff),
    );
  } catch (err) {
    setChildren(diffBox, h("p", { class: "error" }, err.message));
  }
}
