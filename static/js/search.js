/**
 * Search results: cid prefix, description, hypothesis, node id, GPU or display name.
 * @module
 */
import { api } from "./api.js";
import { clip, h } from "./dom.js";
import { recordTable } from "./tables.js";

/** Render results for `q`. */
export async function showSearch(main, q) {
  const results = await api(`/api/search?q=${encodeURIComponent(q)}&limit=200`);
  main.replaceChildren(
    h(
      "div",
      { class: "page" },
      h(
        "div",
        { class: "page-title" },
        h("h1", {}, "Search: ", h("span", { class: "mono" }, clip(q, 80))),
        h("span", { class: "muted" }, `${results.length} result${results.length === 1 ? "" : "s"}`),
      ),
      h("section", { class: "panel" }, recordTable(results, { testId: "search-results" })),
    ),
  );
}
