/**
 * The node page: profile (name, bio, website, donation address), reputation and experiments.
 * @module
 */
import { api } from "./api.js";
import { clip, dateText, h, safeHref, setChildren, shortId } from "./dom.js";
import { LiveRunCard } from "./live_run.js";
import { recordTable } from "./tables.js";

const PAGE = 50;

/** Render the page for node `id`; returns a handle for live updates when it is this node. */
export async function showNode(main, id) {
  const [profile, rep, stat] = await Promise.all([
    api(`/api/node/${id}/profile`).catch((e) => (e.status === 404 ? null : Promise.reject(e))),
    api(`/api/node/${id}/reputation`),
    api("/api/stat"),
  ]);
  const own = stat.node_id === id;
  const runCard = own ? new LiveRunCard() : null;
  // A node no one has verified yet: one line instead of six zeros.
  const noReputation = ["score", "experiments_verified", "verifications_performed"]
    .every((k) => Number(rep[k]) === 0) && rep.disputes_won === 0 && rep.disputes_lost === 0;
  const expBox = h("div", {});
  const name = profile?.display_name || `node ${shortId(id)}`;
  main.replaceChildren(
    h(
      "div",
      { class: "page", "data-testid": "node-page" },
      h(
        "section",
        { class: "panel" },
        h(
          "div",
          { class: "panel-body profile" },
          h("div", { class: "avatar" }, initial(name)),
          h(
            "div",
            {},
            h(
              "div",
              { class: "page-title" },
              h("h1", { "data-testid": "node-name" }, clip(name, 80)),
            ),
            h("div", { class: "mono muted" }, id),
            profile?.bio && h("p", { class: "text-block" }, clip(profile.bio, 2000)),
            website(profile?.website),
            donation(profile?.donation_address),
            profile && h("p", { class: "muted" }, `profile updated ${dateText(profile.timestamp)}`),
            !profile && h("p", { class: "muted" }, "This node has not published a profile."),
          ),
        ),
      ),
      runCard?.element(),
      noReputation
        ? h(
          "p",
          { class: "muted", "data-testid": "no-reputation" },
          `Reputation: none yet (${rep.experiments_published} published, none verified by ` +
            "other nodes). It grows when peers rerun and confirm this node's results.",
        )
        : h(
          "div",
          { class: "metrics" },
          metric("score", Number(rep.score).toFixed(2)),
          metric("published", rep.experiments_published),
          metric("verified", rep.experiments_verified),
          metric("verifications done", rep.verifications_performed),
          metric("disputes won", rep.disputes_won),
          metric("disputes lost", rep.disputes_lost),
        ),
      h(
        "section",
        { class: "panel" },
        h("div", { class: "panel-head" }, h("h2", {}, "Experiments")),
        expBox,
      ),
    ),
  );
  paintAvatar(main.querySelector(".avatar"), id);
  await Promise.all([loadExperiments(expBox, id), runCard?.load().catch(() => {})]);
  if (!runCard) return undefined;
  return {
    onLive(msg) {
      if (msg.type === "run") runCard.update(msg.data);
    },
    destroy() {
      runCard.destroy();
    },
  };
}

function metric(label, value) {
  return h("div", { class: "metric" }, h("span", {}, label), h("b", {}, String(value)));
}

function website(url) {
  if (!url) return null;
  const href = safeHref(url);
  if (href === "#") return h("p", { class: "muted" }, "website: ", clip(url, 100));
  return h(
    "p",
    {},
    h("a", { href, rel: "noopener noreferrer nofollow", target: "_blank" }, clip(url, 100)),
  );
}

function donation(address) {
  if (!address) return null;
  const text = clip(address, 200);
  return h(
    "div",
    { class: "donation", "data-testid": "donation" },
    h("span", { class: "muted" }, "Donate:"),
    h("code", {}, text),
    h("button", {
      type: "button",
      onclick: (e) =>
        navigator.clipboard?.writeText(address).then(() => (e.target.textContent = "copied")),
    }, "copy"),
  );
}

function initial(name) {
  const ch = [...String(name).trim()][0] ?? "?";
  return ch.toUpperCase();
}

function hue(id) {
  return String(parseInt(id.slice(0, 6), 16) % 360);
}

/** Color from the id via the CSSOM (allowed by the CSP, unlike inline style attributes). */
function paintAvatar(el, id) {
  if (el) el.style.background = `hsl(${hue(id)} 55% 55%)`;
}

async function loadExperiments(box, id) {
  let offset = 0;
  const rows = [];
  const more = h("button", { type: "button", class: "more" }, "Load more");
  const draw = () => setChildren(box, recordTable(rows, { hideNode: true }), more);
  const load = async () => {
    try {
      const page = await api(`/api/node/${id}/experiment?limit=${PAGE}&offset=${offset}`);
      rows.push(...page);
      offset += page.length;
      more.hidden = page.length < PAGE;
      draw();
    } catch (err) {
      setChildren(
        box,
        h(
          "p",
          { class: "empty" },
          err.status === 404 ? "No experiments from this node." : err.message,
        ),
      );
    }
  };
  more.addEventListener("click", load);
  await load();
}
