/**
 * Tables shared by the pages: frontier/experiment rows and the reputation leaderboard.
 * @module
 */
import { ago, clip, expLink, h, nodeLink, recBpb, statusBadge } from "./dom.js";

/** Table of experiments; `onRow(record)` when a row is clicked (besides its links). */
export function recordTable(
  records,
  { rank = false, onRow, testId, compact = false, hideNode = false } = {},
) {
  if (records.length === 0) return h("p", { class: "empty" }, "Nothing here yet.");
  const table = h(
    "table",
    { "data-testid": testId },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        rank && h("th", { class: "rank" }, "#"),
        h("th", { class: "num" }, "val_bpb"),
        h("th", {}, "status"),
        !compact && h("th", {}, "GPU"),
        !hideNode && h("th", {}, "node"),
        h("th", {}, "description"),
        h("th", {}, "id"),
        !compact && h("th", {}, "age"),
      ),
    ),
    h(
      "tbody",
      {},
      records.map((r, i) =>
        h(
          "tr",
          {
            class: `${onRow ? "clickable" : ""} ${rank && i === 0 ? "best" : ""}`,
            dataset: { id: r.id },
            onclick: onRow
              ? (e) => {
                if (!(e.target instanceof HTMLAnchorElement)) onRow(r);
              }
              : undefined,
          },
          rank && h("td", { class: "rank" }, String(i + 1)),
          h("td", { class: "num bpb" }, recBpb(r)),
          h("td", {}, statusBadge(r.status)),
          !compact &&
            h(
              "td",
              {},
              h("span", { class: "tag", title: r.gpu_model }, r.gpu_class ?? r.gpu_model),
            ),
          !hideNode && h("td", {}, nodeLink(r.node_id, r.node_display_name)),
          h(
            "td",
            { class: "desc", title: clip(r.description, 500) },
            clip(r.description, compact ? 50 : 90),
          ),
          h("td", {}, expLink(r.id)),
          !compact && h("td", { class: "muted", title: String(r.timestamp) }, ago(r.timestamp)),
        )
      ),
    ),
  );
  return h("div", { class: "table-wrap" }, table);
}

/** Reputation leaderboard rows with display names. */
export function leaderboardTable(rows) {
  if (rows.length === 0) return h("p", { class: "empty" }, "No reputation yet.");
  const table = h(
    "table",
    { "data-testid": "leaderboard" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        h("th", {}, "#"),
        h("th", {}, "node"),
        h("th", { class: "num" }, "score"),
        h(
          "th",
          {
            class: "num",
            title: "experiments this node published / of them, verified by other nodes",
          },
          "published / verified",
        ),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((r, i) =>
        h(
          "tr",
          { dataset: { node: r.node_id } },
          h("td", { class: "rank" }, String(i + 1)),
          h("td", {}, nodeLink(r.node_id, r.display_name)),
          h("td", { class: "num bpb" }, Number(r.score).toFixed(1)),
          h(
            "td",
            { class: "num muted" },
            `${r.experiments_published} / ${r.experiments_verified}`,
          ),
        )
      ),
    ),
  );
  return h("div", { class: "table-wrap" }, table);
}
