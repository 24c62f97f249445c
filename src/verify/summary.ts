/**
 * A read-only view of a node's verification state for `spore status` and the explorer: how many
 * experiments it holds verified, which challenges are open, and how recent disputes ended. Only
 * events this node accepted (signed, checked: state `applied`) count; refused ones are counted
 * apart, so forged events are visible without being believed.
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { existsSync } from "node:fs";
import { verifyDbPath } from "./db.ts";

/** A challenge accepted by this node and not yet settled by its challenger's dispute. */
export interface OpenChallenge {
  experiment_id: string;
  challenger_id: string;
  /** Accepted answers so far. */
  responses: number;
  /** Set when this node is the challenger: answers it waits for and its deadline (ms). */
  required: number | null;
  deadline_ms: number | null;
}

/** How one dispute ended. */
export interface DisputeOutcome {
  experiment_id: string;
  original_node_id: string;
  challenger_id: string;
  outcome: "upheld" | "rejected";
  ground_truth_bpb: number;
  verifier_count: number;
}

/** The verification view of one data dir. */
export interface VerificationSummary {
  /** Experiments with at least one accepted verification. */
  verified_experiments: number;
  open_challenges: OpenChallenge[];
  /** Challenges by others this node has promised to answer. */
  owed_answers: number;
  /** Most recent first. */
  recent_disputes: DisputeOutcome[];
  /** Events held but refused (bad evidence, contradicting a dispute's recomputation, ...). */
  refused_events: number;
  /** Events held but still waiting for their record or evidence. */
  pending_events: number;
}

const EMPTY: VerificationSummary = {
  verified_experiments: 0,
  open_challenges: [],
  owed_answers: 0,
  recent_disputes: [],
  refused_events: 0,
  pending_events: 0,
};

/** Largest number of open challenges or disputes listed. */
const LIST_MAX = 50;

/**
 * Read the summary from `<dataDir>/db/verify.sqlite` without writing (a running node keeps the
 * file). A data dir where no verifier ever ran gives an empty summary. `selfId` (the node's id)
 * lets its own challenges count as open only while it still waits on them.
 * @throws Error when the file exists but is not a verification database.
 */
export function readVerificationSummary(
  dataDir: string,
  opts: { selfId?: string | undefined; recent?: number } = {},
): VerificationSummary {
  const recent = opts.recent ?? 10;
  const path = verifyDbPath(dataDir);
  if (!existsSync(path)) return structuredClone(EMPTY);
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    return summarize(db, Math.max(0, Math.min(LIST_MAX, Math.floor(recent))), opts.selfId);
  } finally {
    db.close();
  }
}

function summarize(db: DatabaseSync, recent: number, selfId?: string): VerificationSummary {
  const count = (sql: string, ...args: string[]) =>
    Number((db.prepare(sql).get(...args) as { n: number } | undefined)?.n ?? 0);
  const verified = count(
    "SELECT COUNT(DISTINCT experiment_id) AS n FROM evidence " +
      "WHERE type = 'verification' AND state = 'applied'",
  );
  const pending = new Map(
    (db.prepare("SELECT experiment_id, required, deadline_ms FROM pending_challenge").all() as {
      experiment_id: string;
      required: number;
      deadline_ms: number;
    }[]).map((r) => [r.experiment_id, r]),
  );
  const settled = new Set(
    payloads(db, "dispute", LIST_MAX * 20).map((p) => `${p.experiment_id}\n${p.challenger_id}`),
  );
  const responses = new Map<string, number>();
  for (const p of payloads(db, "challenge_response", LIST_MAX * 60)) {
    const k = `${p.experiment_id}\n${p.challenger_id}`;
    responses.set(k, (responses.get(k) ?? 0) + 1);
  }
  const open: OpenChallenge[] = [];
  for (const p of payloads(db, "challenge", LIST_MAX * 20)) {
    const experiment = str(p.experiment_id);
    const challenger = str(p.challenger_id);
    const k = `${experiment}\n${challenger}`;
    if (settled.has(k) || open.length >= LIST_MAX) continue;
    const own = pending.get(experiment);
    // Our own challenge is open exactly while we wait on it (it may close without a dispute
    // when nobody answers in time); others' stay open until their dispute arrives.
    if (challenger === selfId && !own) continue;
    open.push({
      experiment_id: experiment,
      challenger_id: challenger,
      responses: responses.get(k) ?? 0,
      required: own ? Number(own.required) : null,
      deadline_ms: own ? Number(own.deadline_ms) : null,
    });
  }
  const disputes = payloads(db, "dispute", recent).map((p): DisputeOutcome => ({
    experiment_id: str(p.experiment_id),
    original_node_id: str(p.original_node_id),
    challenger_id: str(p.challenger_id),
    outcome: p.outcome === "upheld" ? "upheld" : "rejected",
    ground_truth_bpb: Number(p.ground_truth_bpb),
    verifier_count: Number(p.verifier_count),
  }));
  return {
    verified_experiments: verified,
    open_challenges: open,
    owed_answers: count("SELECT COUNT(*) AS n FROM owed_answer"),
    recent_disputes: disputes,
    refused_events: count("SELECT COUNT(*) AS n FROM evidence WHERE state = 'invalid'"),
    pending_events: count("SELECT COUNT(*) AS n FROM evidence WHERE state = 'pending'"),
  };
}

/** Payloads of applied events of one type, newest first. */
function payloads(db: DatabaseSync, type: string, limit: number): Record<string, unknown>[] {
  const rows = db.prepare(
    "SELECT payload FROM evidence WHERE type = ? AND state = 'applied' ORDER BY rowid DESC LIMIT ?",
  ).all(type, limit) as { payload: string }[];
  const out: Record<string, unknown>[] = [];
  for (const r of rows) {
    try {
      const p = JSON.parse(r.payload);
      if (p && typeof p === "object") out.push(p);
    } catch (e) {
      // Stored by the applier after validation; a damaged row is skipped.
      if (!(e instanceof SyntaxError)) throw e;
    }
  }
  return out;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}
