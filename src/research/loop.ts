/**
 * The research loop: start from the baseline or the best frontier code, then repeatedly select
 * a parent, propose, train, diff, sign and publish, keeping improvements and reverting the
 * rest. The node, trainer, proposers, clock and randomness are injected.
 * @module
 */
import type { NodeHandle, TrainEnvironment, Trainer, TrainOutcome } from "../node_types.ts";
import type { KeyPair } from "../protocol/crypto.ts";
import { normalizeGpuClass } from "../protocol/gpu.ts";
import { classLabel } from "../protocol/research_class.ts";
import { sha256Hex } from "../protocol/hash.ts";
import { shortId } from "../protocol/short_id.ts";
import type { ExperimentRecord } from "../protocol/types.ts";
import { buildContext, nearDuplicate, selectParent } from "./coordinator.ts";
import { buildRecord, outcomeBpb, type RecordInput, unifiedDiff } from "./experiment.ts";
import { defaultSleep, LlmError, type SleepFn } from "./llm/mod.ts";
import type { Proposal, Proposer } from "./proposal.ts";
import type { ResearchRunHandle } from "./live_run.ts";
import { errorText, safetyCatch } from "../errors.ts";

/** A line of progress for the CLI, with the record when one was published. */
export interface ResearchEvent {
  kind: "info" | "warn" | "proposal" | "published" | "skip";
  message: string;
  record?: ExperimentRecord | undefined;
}

/** Why the loop ended. */
export type StopReason =
  | "done"
  | "aborted"
  | "llm"
  | "baseline-crash"
  | "host-slow"
  | "trainer"
  | "stuck"
  | "error";

/** What the loop did. */
export interface ResearchSummary {
  /** Experiments published, the baseline excluded. */
  published: number;
  baselinePublished: boolean;
  kept: number;
  discarded: number;
  crashed: number;
  skipped: number;
  stopReason: StopReason;
  /** For stops other than `done`/`aborted`: what happened, for the user. */
  message?: string;
}

/** Everything the loop works with. */
export interface ResearchLoopOptions {
  node: NodeHandle;
  trainer: Trainer;
  keys: KeyPair;
  proposer: Proposer;
  /** Proposes when `proposer` fails for an iteration (LLM down, unusable reply, duplicate). */
  fallback?: Proposer | undefined;
  /** Stop after this many experiments (baseline excluded); unbounded when absent. */
  maxExperiments?: number | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: (event: ResearchEvent) => void;
  /** Seconds written as `time_budget` (default 300, the network's budget). */
  timeBudget?: number | undefined;
  /** Limit for fetching a code artifact from peers (default 60 s). */
  fetchTimeoutMs?: number;
  /**
   * The node dials peers: before deciding where to start, wait up to this long for the first
   * one to connect (default 0: start at once). The Python node looks for the best frontier code
   * for about 150 s while peers are found; a fresh node would otherwise always start from the
   * baseline because its dials had not finished.
   */
  peerWaitMs?: number | undefined;
  /** With peers connected: wait until the graph has not grown for this long (default 3 s)... */
  syncSettleMs?: number;
  /** ...but at most this long (default 30 s). */
  syncMaxMs?: number;
  /**
   * Called with every kept experiment's code (the workspace's train.py follows the research);
   * a failure is reported and research goes on.
   */
  onKeep?: ((record: ExperimentRecord, code: string) => Promise<unknown>) | undefined;
  random?: () => number;
  /** Milliseconds since the epoch. */
  now?: () => number;
  sleep?: SleepFn;
}

/** How the proposal line names the parent's choice (a bare "[exploit]" explained nothing). */
const PARENT_MODE = {
  exploit: "the best result",
  explore: "a less-tried frontier result",
} as const;

/** Code and record of the state experiments branch from. */
interface State {
  record: ExperimentRecord;
  code: string;
}

class Stop extends Error {
  constructor(readonly reason: StopReason, message: string) {
    super(message);
  }
}

/** Runs experiments until `maxExperiments`, an abort, or a stop that needs the user. */
export class ResearchLoop {
  readonly #o: ResearchLoopOptions;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #sleep: SleepFn;
  /** Code by code_cid, so parents this node ran need no fetch. */
  readonly #codeCache = new Map<string, string>();
  #summary: ResearchSummary = {
    published: 0,
    baselinePublished: false,
    kept: 0,
    discarded: 0,
    crashed: 0,
    skipped: 0,
    stopReason: "done",
  };
  #env!: TrainEnvironment;
  #workspace!: { datasetCid: string; prepareCid: string };
  #gpuClass = "UNKNOWN";
  #plateau = 0;
  /** The live card's view of the run in progress (one at a time: the loop is sequential). */
  #live: ResearchRunHandle | undefined;

  constructor(options: ResearchLoopOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? defaultSleep;
  }

  #emit(kind: ResearchEvent["kind"], message: string, record?: ExperimentRecord): void {
    // Never let "published" read as shared when nobody received it.
    if (kind === "published" && this.#o.node.peers().length === 0) {
      message += " (published locally; no peers connected)";
    }
    try {
      this.#o.onProgress?.({ kind, message, record });
    } catch (e) {
      safetyCatch(e); // a failing listener must not stop research
    }
  }

  #aborted(): boolean {
    return this.#o.signal?.aborted ?? false;
  }

  /** Run the loop; resolves with what it did (it does not throw for expected stops). */
  async run(): Promise<ResearchSummary> {
    try {
      this.#env = await this.#o.trainer.environment();
      this.#workspace = await this.#o.trainer.workspaceIds();
      this.#gpuClass = normalizeGpuClass(this.#env.gpuClass || this.#env.gpuModel);
      await this.#waitForSync();
      if (this.#aborted()) return this.#finish("aborted");
      let current = await this.#start();
      const max = this.#o.maxExperiments ?? Infinity;
      // Skipped iterations do not count as experiments; this bound keeps a proposer that
      // never produces anything usable from spinning forever.
      let attempts = 0;
      const maxAttempts = Number.isFinite(max) ? max * 3 + 3 : Infinity;
      while (this.#summary.published < max && !this.#aborted()) {
        if (attempts++ >= maxAttempts) {
          throw new Stop("stuck", `no usable proposal in ${attempts - 1} attempts; stopping`);
        }
        current = await this.#iterate(current);
      }
      return this.#finish(this.#aborted() ? "aborted" : "done");
    } catch (e) {
      if (e instanceof Stop) return this.#finish(e.reason, e.message);
      if (e instanceof LlmError && e.kind === "aborted") return this.#finish("aborted");
      if (e instanceof LlmError && e.fatal) return this.#finish("llm", e.message);
      if (this.#aborted()) return this.#finish("aborted");
      return this.#finish("error", `research failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  #finish(reason: StopReason, message?: string): ResearchSummary {
    this.#summary.stopReason = reason;
    if (message) this.#summary.message = message;
    return { ...this.#summary };
  }

  /** With peers connected, let the first sync land before deciding where to start. */
  async #waitForSync(): Promise<void> {
    const peerWait = this.#o.peerWaitMs ?? 0;
    if (this.#o.node.peers().length === 0 && peerWait > 0) {
      this.#emit("info", "waiting for peers, to fetch the best known frontier code...");
      const until = this.#now() + peerWait;
      while (this.#o.node.peers().length === 0 && this.#now() < until && !this.#aborted()) {
        await this.#sleep(250, this.#o.signal).catch(safetyCatch);
      }
      if (this.#o.node.peers().length === 0) {
        this.#emit("warn", `no peer connected within ${Math.round(peerWait / 1000)} s`);
      }
    }
    if (this.#o.node.peers().length === 0) return;
    const settle = this.#o.syncSettleMs ?? 3000;
    const maxMs = this.#o.syncMaxMs ?? 30_000;
    const started = this.#now();
    let count = this.#o.node.stores.graph.count();
    let stableSince = started;
    this.#emit("info", "waiting for the graph to sync from peers...");
    while (this.#now() - started < maxMs && this.#now() - stableSince < settle) {
      await this.#sleep(Math.min(500, settle), this.#o.signal).catch(safetyCatch);
      if (this.#aborted()) return;
      const n = this.#o.node.stores.graph.count();
      if (n !== count) {
        count = n;
        stableSince = this.#now();
      }
    }
    this.#emit("info", `graph synced: ${count} experiments`);
  }

  /**
   * Frontier records of our GPU class measured on our data: a val_bpb from another dataset or
   * prepare.py is not comparable, so such records are never parents here.
   */
  #frontier(limit: number): ExperimentRecord[] {
    return this.#o.node.stores.graph.frontierOfClass(this.#workspace, this.#gpuClass, limit);
  }

  /** Our research class for messages (named classes are the CLI's business: cids here). */
  #classLabel(): string {
    return classLabel(this.#workspace);
  }

  /** Where research starts: the best frontier code of our GPU class, else our own baseline. */
  async #start(): Promise<State> {
    const frontier = this.#frontier(3);
    if (frontier.length === 0) {
      this.#emit(
        "info",
        `no ${this.#gpuClass} frontier in research class ${this.#classLabel()}: running the baseline`,
      );
      return await this.#runBaseline();
    }
    for (const rec of frontier) {
      this.#emit(
        "info",
        `fetching the best known frontier code: ${shortId(rec.id)} (val_bpb ${
          rec.val_bpb.toFixed(6)
        }, class ${this.#classLabel()})...`,
      );
      const code = await this.#code(rec);
      if (code !== undefined) {
        this.#emit("info", `starting from frontier ${shortId(rec.id)}`);
        return { record: rec, code };
      }
      this.#emit("warn", `code of ${shortId(rec.id)} is not available from peers`);
    }
    this.#emit("warn", "no frontier code could be fetched: falling back to the baseline");
    return await this.#runBaseline();
  }

  /** Build and sign a record of this run: environment, key, time budget and clock filled in. */
  #buildRecord(
    input: Omit<RecordInput, "env" | "workspace" | "timeBudget" | "keys" | "timestamp">,
  ): ReturnType<typeof buildRecord> {
    return buildRecord({
      ...input,
      env: this.#env,
      workspace: this.#workspace,
      timeBudget: this.#o.timeBudget ?? 300,
      keys: this.#o.keys,
      timestamp: Math.floor(this.#now() / 1000),
    });
  }

  async #runBaseline(): Promise<State> {
    const code = await this.#o.trainer.baselineCode();
    this.#live = this.#o.node.runs?.start({
      kind: "baseline",
      label: "baseline",
      description: "baseline",
    });
    const outcome = await this.#train(code, "baseline");
    if (this.#aborted()) {
      this.#live?.stop();
      throw new Stop("aborted", "aborted");
    }
    if (outcome.hostSlow) {
      this.#live?.stop();
      throw new Stop(
        "host-slow",
        `the baseline was not published: ${outcome.crashReason}. This machine trains too ` +
          "slowly for the CPU default: `spore doctor` checks its speed (OpenBLAS: " +
          "`sudo apt-get install libopenblas0-pthread`), or lower the load and restart",
      );
    }
    const { record, codeBytes } = this.#buildRecord({
      parent: null,
      code,
      parentCode: "",
      description: "baseline",
      hypothesis: "",
      agentModel: "baseline",
      outcome,
    });
    try {
      await this.#publish(record, codeBytes, code);
    } catch (e) {
      this.#live?.stop(); // the card must not show a run that will never finish
      throw e;
    }
    this.#summary.baselinePublished = true;
    this.#live?.finish(record);
    if (record.status === "crash") {
      throw new Stop(
        "baseline-crash",
        `the baseline crashed (${outcome.crashReason ?? "no val_bpb"}); fix the workspace first`,
      );
    }
    this.#emit(
      "published",
      `baseline val_bpb ${record.val_bpb.toFixed(6)} published ${shortId(record.id)}`,
      record,
    );
    return { record, code };
  }

  /** Train; a trainer that throws (setup broken, not the code) ends research. */
  async #train(code: string, label: string): Promise<TrainOutcome> {
    const live = this.#live;
    try {
      return await this.#o.trainer.run(code, {
        label,
        signal: this.#o.signal,
        onProgress: live ? (u) => live.progress(u) : undefined,
      });
    } catch (e) {
      live?.stop();
      if (this.#aborted()) throw new Stop("aborted", "aborted");
      throw new Stop("trainer", `training failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  async #publish(record: ExperimentRecord, codeBytes: Uint8Array, code: string): Promise<void> {
    this.#codeCache.set(record.code_cid, code);
    await this.#o.node.publish(record, codeBytes);
  }

  /** Code of a record: cached, else fetched (hash-checked, UTF-8) within the timeout. */
  async #code(rec: ExperimentRecord): Promise<string | undefined> {
    const cached = this.#codeCache.get(rec.code_cid);
    if (cached !== undefined) return cached;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), this.#o.fetchTimeoutMs ?? 60_000);
      });
      const bytes = await Promise.race([this.#o.node.fetchArtifact(rec.code_cid), timeout]);
      if (!bytes || sha256Hex(bytes) !== rec.code_cid) return undefined;
      const code = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      this.#codeCache.set(rec.code_cid, code);
      return code;
    } catch {
      return undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /** One experiment; returns the state the next one branches from. */
  async #iterate(current: State): Promise<State> {
    const graph = this.#o.node.stores.graph;
    const choice = selectParent(
      this.#frontier(20),
      (id) => graph.children(id).length,
      {
        graphSize: graph.count(),
        plateau: this.#plateau,
        random: this.#random,
      },
    );
    let parent = current;
    if (choice && choice.parent.id !== current.record.id) {
      const code = await this.#code(choice.parent);
      if (code !== undefined) parent = { record: choice.parent, code };
      else {this.#emit(
          "warn",
          `code of ${shortId(choice.parent.id)} unavailable; using ${shortId(current.record.id)}`,
        );}
    }
    const ctx = buildContext(graph, parent.record, parent.code, this.#gpuClass);
    const proposal = await this.#propose(ctx);
    if (!proposal) {
      this.#summary.skipped++;
      return current;
    }
    const n = this.#summary.published + 1;
    const of = this.#o.maxExperiments ? `/${this.#o.maxExperiments}` : "";
    this.#emit(
      "proposal",
      `experiment ${n}${of} on ${PARENT_MODE[choice?.mode ?? "exploit"]} ${
        shortId(parent.record.id)
      } ` +
        `(val_bpb ${parent.record.val_bpb.toFixed(6)}): ${proposal.description}`,
    );
    this.#live = this.#o.node.runs?.start({
      kind: "experiment",
      label: `experiment ${n}${of}`,
      mode: choice?.mode ?? "exploit",
      description: proposal.description,
      hypothesis: proposal.hypothesis,
      parent: parent.record,
    });
    const outcome = await this.#train(proposal.code, `experiment ${n}`);
    if (this.#aborted()) {
      this.#live?.stop();
      return current;
    }
    if (outcome.hostSlow) {
      // Publishing it as `crash` would mark the idea as broken for everyone.
      this.#live?.stop();
      this.#summary.skipped++;
      this.#emit("warn", `experiment ${n} not published: ${outcome.crashReason}`);
      return current;
    }
    const { record, codeBytes } = this.#buildRecord({
      parent: parent.record,
      code: proposal.code,
      parentCode: parent.code,
      description: proposal.description,
      hypothesis: proposal.hypothesis,
      agentModel: proposal.agentModel,
      outcome,
    });
    try {
      await this.#publish(record, codeBytes, proposal.code);
      this.#summary.published++;
      this.#live?.finish(record);
    } catch (e) {
      this.#live?.stop();
      this.#emit("warn", `publishing ${shortId(record.id)} failed: ${(e as Error).message}`);
      this.#summary.skipped++;
      return current;
    }
    return this.#settle(
      record,
      parent,
      current,
      outcomeBpb(outcome),
      outcome.crashReason,
      proposal.code,
    );
  }

  async #settle(
    record: ExperimentRecord,
    parent: State,
    current: State,
    bpb: number | undefined,
    crashReason: string | undefined,
    code: string,
  ): Promise<State> {
    const id = shortId(record.id);
    const best = this.#o.node.stores.graph.best(this.#gpuClass);
    if (record.status === "keep") {
      this.#summary.kept++;
      this.#plateau = best?.id === record.id ? 0 : this.#plateau + 1;
      this.#emit(
        "published",
        `keep ${bpb!.toFixed(6)} < ${parent.record.val_bpb.toFixed(6)}: published ${id}`,
        record,
      );
      await this.#o.onKeep?.(record, code).catch((e: unknown) => {
        safetyCatch(e);
        this.#emit("warn", `could not update the workspace's train.py: ${errorText(e)}`);
      });
      return { record, code };
    }
    this.#plateau++;
    if (record.status === "crash") {
      this.#summary.crashed++;
      this.#emit(
        "published",
        `crash (${crashReason ?? "no val_bpb"}): published ${id}, reverted to ${
          shortId(parent.record.id)
        }`,
        record,
      );
    } else {
      this.#summary.discarded++;
      this.#emit(
        "published",
        `discard ${bpb!.toFixed(6)} >= ${
          parent.record.val_bpb.toFixed(6)
        }: published ${id}, reverted to ${shortId(parent.record.id)}`,
        record,
      );
    }
    // Revert: the next experiment branches from the parent (or a better frontier record).
    return current.record.id === parent.record.id ? parent : current;
  }

  /** A proposal from the proposer, else the fallback; undefined to skip this iteration. */
  async #propose(ctx: ReturnType<typeof buildContext>): Promise<Proposal | undefined> {
    const proposers = [this.#o.proposer, ...(this.#o.fallback ? [this.#o.fallback] : [])];
    for (const [i, proposer] of proposers.entries()) {
      const result = await proposer.propose(ctx, this.#o.signal);
      if (this.#aborted()) return undefined;
      const fallback = proposers[i + 1];
      const next = fallback ? `; using ${fallback.agentModel} for this experiment` : "";
      if (!result.ok) {
        this.#emit("skip", `${proposer.agentModel}: no usable proposal (${result.reason})${next}`);
        continue;
      }
      if (result.repairs.length) {
        this.#emit(
          "info",
          `${proposer.agentModel}: proposal accepted after repair (${result.repairs.join(", ")})`,
        );
      }
      const code = result.proposal.code;
      const dup = nearDuplicate(unifiedDiff(ctx.parentCode, code), sha256Hex(code), ctx.siblings);
      if (dup) {
        this.#emit(
          "skip",
          `${proposer.agentModel}: proposal nearly duplicates ${shortId(dup.id)}${next}`,
        );
        continue;
      }
      return result.proposal;
    }
    return undefined;
  }
}
