/**
 * The verification service of one node: spot-checks new remote experiments by rerunning their
 * code, emits signed `verification`s or opens signed `challenge`s, volunteers
 * `challenge_response`s for other nodes' challenges, and as a challenger waits for
 * min(3, available) responses or the timeout before sending a signed `dispute`. Every event,
 * its own included, goes through the {@link EventApplier}; open challenges and promised answers
 * live in `verify.sqlite` and resume after a restart.
 *
 * Transport, training, clock, timers and randomness are injected, so the whole flow runs in
 * tests with in-memory stand-ins.
 * @module
 */
import {
  challengeId,
  challengeResponseId,
  disputeId,
  inClass,
  LOG_ID,
  normalizeGpuClass,
  type ResearchClass,
  sha256Hex,
  shortId,
  signControl,
  verificationId,
  withinTolerance,
} from "../protocol/mod.ts";
import type {
  ChallengePayload,
  ChallengeResponsePayload,
  ControlEvent,
  DisputePayload,
  ExperimentRecord,
  VerificationPayload,
} from "../protocol/types.ts";
import type { ControlHandler, PeerInfo, Trainer, TrainOutcome } from "../node_types.ts";
import type { ControlLog, GraphStore, ReputationStore } from "../store/mod.ts";
import type { LiveRuns, Verdict, VerificationRunHandle } from "../research/live_run.ts";
import { EventApplier } from "./applier.ts";
import {
  type EvidenceRow,
  type OwedAnswer,
  type PendingChallenge,
  VerifyDb,
  verifyDbPath,
} from "./db.ts";
import {
  decideSpotCheck,
  DEFAULT_CHALLENGE_TIMEOUT_S,
  DEFAULT_SPOT_CHECK_RATE,
  requiredResponses,
  resolveDispute,
} from "./policy.ts";

/** Timer functions, injectable so tests can drive time. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Log sink of the service. */
export type VerifyLog = (level: "debug" | "info" | "warn", message: string) => void;

/** Everything a {@link Verifier} needs. */
export interface VerifierOptions {
  /** This node's id and signing seed. */
  nodeId: string;
  seed: Uint8Array;
  graph: GraphStore;
  reputation: ReputationStore;
  /** Accepted events are logged here (for sync), and replayed from it at start. */
  control?: ControlLog;
  trainer: Trainer;
  /** Code artifact by content id, local store first, then peers; undefined when not found. */
  fetchCode(cid: string): Promise<Uint8Array | undefined>;
  /** Send an event this node created to every peer. */
  broadcast(event: ControlEvent): void | Promise<void>;
  /** Base spot-check rate (see `spotCheckRate` in policy.ts); default 0.05. */
  spotCheckRate?: number;
  /** Challenge timeout in ms (see `challengeTimeoutMs` in policy.ts); default 1800 s. */
  challengeTimeoutMs?: number;
  /** Legacy network switch: apply unsigned events. */
  acceptUnsigned?: boolean;
  random?: () => number;
  /** Wall clock in ms. */
  now?: () => number;
  timers?: Timers;
  log?: VerifyLog;
  /** The node's live run card: reruns show there like research runs (their curves unstored). */
  runs?: LiveRuns | undefined;
}

/** A finished rerun: its val_bpb and, when it trained just now, its live card entry. */
interface Rerun {
  bpb: number;
  /** Undefined for a cached rerun (nothing trained, nothing to show). */
  live: VerificationRunHandle | undefined;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
/** Reruns remembered per experiment, so one rerun serves a spot-check and an answer. */
const RERUN_CACHE = 256;
/** Longest delay a timer takes without overflowing. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The verification service; implements {@link ControlHandler}. */
export class Verifier implements ControlHandler {
  readonly #o: VerifierOptions;
  readonly #db: VerifyDb;
  readonly #applier: EventApplier;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #timers: Timers;
  readonly #timeoutMs: number;
  readonly #baseRate: number;
  readonly #abort = new AbortController();
  readonly #deadlineTimers = new Map<string, unknown>();
  readonly #resolving = new Set<string>();
  readonly #inflight = new Set<Promise<unknown>>();
  readonly #reruns = new Map<string, number>();
  #queue: Promise<void> = Promise.resolve();
  #gpuClass = "";
  /** The research class of our workspace: only its records are rerun (PROTOCOL.md section 7). */
  #researchClass: ResearchClass = { datasetCid: "", prepareCid: "" };
  #started = false;
  #closed = false;

  private constructor(options: VerifierOptions, db: VerifyDb) {
    this.#o = options;
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#timers = options.timers ?? {
      setTimeout: (fn, ms) => setTimeout(fn, ms),
      clearTimeout: (h) => clearTimeout(h as number),
    };
    this.#timeoutMs = options.challengeTimeoutMs ?? DEFAULT_CHALLENGE_TIMEOUT_S * 1000;
    this.#baseRate = options.spotCheckRate ?? DEFAULT_SPOT_CHECK_RATE;
    this.#applier = new EventApplier({
      db,
      reputation: options.reputation,
      graph: options.graph,
      control: options.control,
      acceptUnsigned: options.acceptUnsigned,
      selfId: options.nodeId,
      log: (m) => options.log?.("info", m),
    });
  }

  /**
   * Open the service over `<dataDir>/db/verify.sqlite`; call {@link start} next.
   * @throws StoreError when the file cannot be used.
   */
  static open(dataDir: string, options: VerifierOptions): Verifier {
    return new Verifier(options, VerifyDb.open(verifyDbPath(dataDir)));
  }

  /** The event applier (for status views and tests). */
  get applier(): EventApplier {
    return this.#applier;
  }

  /**
   * Learn the GPU class, catch up with the graph and the control log, then resume open
   * challenges (resolving those whose responses or deadline already came) and promised answers.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    const env = await this.#o.trainer.environment();
    this.#gpuClass = normalizeGpuClass(env.gpuClass || env.gpuModel);
    this.#researchClass = await this.#o.trainer.workspaceIds();
    this.#applier.syncClassIndex();
    for (const e of await this.#applier.replayControlLog()) this.#react(e);
    for (const pc of this.#db.pendingChallenges()) this.#resume(pc);
    for (const owed of this.#db.owedAnswers()) this.#enqueue(() => this.#answer(owed));
  }

  /** Handle a control event from a peer (`from`) or from sync (`null`); never throws. */
  async onControl(event: ControlEvent, from: PeerInfo | null): Promise<void> {
    if (this.#closed) return;
    try {
      const r = await this.#applier.handle(event);
      if (r.status === "ignored") {
        this.#log(
          "info",
          `ignored ${String(event?.type)} from ${from?.address ?? "sync"}: ${r.reason}`,
        );
      } else if (r.status === "held") {
        for (const e of r.applied) this.#react(e);
      }
    } catch (err) {
      this.#log("warn", `control event failed: ${errText(err)}`);
    }
  }

  /**
   * A record was stored: apply events waiting on it and, for a record from a peer, decide
   * whether to spot-check it. Never throws.
   */
  onRecord(record: ExperimentRecord, source: "local" | "peer"): void {
    if (this.#closed) return;
    try {
      for (const e of this.#applier.onRecord(record)) this.#react(e);
      if (source === "peer" && this.#started) this.#considerSpotCheck(record);
    } catch (err) {
      this.#log(
        "warn",
        `record ${record?.id === undefined ? undefined : shortId(record.id, LOG_ID)} failed: ${
          errText(err)
        }`,
      );
    }
  }

  /** Challenges this node opened and still waits on. */
  pendingChallenges(): PendingChallenge[] {
    return this.#db.pendingChallenges();
  }

  /** Challenges by others this node has promised to answer. */
  owedAnswers(): OwedAnswer[] {
    return this.#db.owedAnswers();
  }

  /** Every held event about one experiment with its state (applied, pending, invalid). */
  evidence(experimentId: string): EvidenceRow[] {
    return (["applied", "pending", "invalid"] as const).flatMap((s) =>
      this.#db.byExperiment(experimentId, s)
    );
  }

  /** Resolves once no rerun, emission or resolution is in flight. */
  async idle(): Promise<void> {
    while (this.#inflight.size > 0) await Promise.allSettled([...this.#inflight]);
  }

  /** Stop: cancel timers, abort the running rerun, wait for in-flight work, close the database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const h of this.#deadlineTimers.values()) this.#timers.clearTimeout(h);
    this.#deadlineTimers.clear();
    await this.idle();
    this.#db.close();
  }

  // ---- reactions to applied events ----

  #react(event: ControlEvent): void {
    const self = this.#o.nodeId;
    switch (event.type) {
      case "challenge":
        if (event.payload.challenger_id !== self) this.#considerAnswer(event.payload);
        break;
      case "challenge_response":
        if (event.payload.challenger_id === self) this.#maybeResolve(event.payload.experiment_id);
        break;
      case "dispute":
        this.#db.removeOwedAnswer({
          experimentId: event.payload.experiment_id,
          challengerId: event.payload.challenger_id,
        });
        break;
      case "verification":
        break;
    }
  }

  #considerSpotCheck(record: ExperimentRecord): void {
    if (this.#closed) return;
    if (!inClass(record, this.#researchClass)) {
      // Debug only: a synced graph holds many records of other classes.
      this.#log(
        "debug",
        `${shortId(record.id, LOG_ID)} is of another research class: not comparable`,
      );
      return;
    }
    const decision = decideSpotCheck(record, {
      selfId: this.#o.nodeId,
      selfGpuClass: this.#gpuClass,
      publisherScore: () => this.#o.reputation.get(record.node_id).score,
      baseRate: this.#baseRate,
      random: this.#random,
    });
    // Checked last: three database reads, and most records are already ruled out above.
    if (!decision.check || this.#ownVerdictHeld(record.id)) return;
    this.#log("info", `spot-checking ${shortId(record.id, LOG_ID)} (p=${decision.probability})`);
    this.#enqueue(() => this.#spotCheck(record));
  }

  #considerAnswer(c: ChallengePayload): void {
    const record = this.#o.graph.get(c.experiment_id);
    if (!record || record.node_id === this.#o.nodeId) return;
    if (normalizeGpuClass(record.gpu_model) !== this.#gpuClass) return;
    // A challenge on another research class is not ours to answer: our rerun is not comparable.
    if (!inClass(record, this.#researchClass)) return;
    const owed = { experimentId: c.experiment_id, challengerId: c.challenger_id };
    if (this.#answered(owed) || this.#disputeHeld(owed)) return;
    this.#db.addOwedAnswer(owed);
    this.#enqueue(() => this.#answer(owed));
  }

  #maybeResolve(experimentId: string): void {
    const pc = this.#db.pendingChallenge(experimentId);
    if (!pc) return;
    const have = this.#applier.appliedResponses(experimentId, this.#o.nodeId).length;
    if (have >= pc.required) this.#track(this.#resolve(experimentId));
  }

  #resume(pc: PendingChallenge): void {
    if (this.#disputeHeld({ experimentId: pc.experimentId, challengerId: this.#o.nodeId })) {
      this.#db.removePendingChallenge(pc.experimentId);
      return;
    }
    const have = this.#applier.appliedResponses(pc.experimentId, this.#o.nodeId).length;
    if (have >= pc.required || this.#now() >= pc.deadlineMs) {
      this.#track(this.#resolve(pc.experimentId));
    } else {
      this.#schedule(pc);
    }
  }

  // ---- work ----

  async #spotCheck(record: ExperimentRecord): Promise<void> {
    if (this.#ownVerdictHeld(record.id)) return;
    const rerun = await this.#rerun(record);
    if (!rerun) return;
    try {
      if (!this.#closed) await this.#judgeSpotCheck(record, rerun);
    } finally {
      rerun.live?.stop(); // a no-op once a verdict was shown; else the card must not hang
    }
  }

  async #judgeSpotCheck(record: ExperimentRecord, { bpb, live }: Rerun): Promise<void> {
    const gpuClass = normalizeGpuClass(record.gpu_model);
    if (withinTolerance(record.val_bpb, bpb, gpuClass)) {
      const onFrontier = this.#o.graph.frontier(gpuClass).some((r) => r.id === record.id);
      const payload: VerificationPayload = {
        event_id: verificationId(record.id, this.#o.nodeId),
        experiment_id: record.id,
        verified_node_id: record.node_id,
        verifier_id: this.#o.nodeId,
        verifier_gpu: this.#gpuClass,
        verifier_bpb: bpb,
        is_frontier: onFrontier,
      };
      const sent = await this.#emit({ type: "verification", payload });
      live?.verdict(
        sent
          ? verdict("verified", bpb, true, "signed verification sent to peers")
          : verdict("no verdict", bpb, true, "within tolerance, but the verification was refused"),
      );
      return;
    }
    // Someone already challenged it: our rerun is an answer, not a second challenge.
    const others = this.#applier.appliedChallenges(record.id)
      .filter((c) => c.challenger_id !== this.#o.nodeId);
    if (others.length > 0) {
      live?.verdict(
        verdict("answering", bpb, false, "outside tolerance; already challenged: answering that"),
      );
      for (const c of others) this.#considerAnswer(c);
      return;
    }
    await this.#openChallenge(record, bpb, live);
  }

  async #openChallenge(
    record: ExperimentRecord,
    bpb: number,
    live: VerificationRunHandle | undefined,
  ): Promise<void> {
    const gpuClass = normalizeGpuClass(record.gpu_model);
    this.#applier.syncClassIndex();
    const available = this.#db.countNodesInClass(gpuClass, [this.#o.nodeId, record.node_id]);
    if (available === 0) {
      const why = `no independent ${gpuClass} verifier exists: no challenge`;
      this.#log(
        "info",
        `${shortId(record.id, LOG_ID)} is off by ${Math.abs(record.val_bpb - bpb)}, but ${why}`,
      );
      live?.verdict(verdict("no verdict", bpb, false, `outside tolerance, but ${why}`));
      return;
    }
    const pc: PendingChallenge = {
      experimentId: record.id,
      required: requiredResponses(available),
      deadlineMs: this.#now() + this.#timeoutMs,
    };
    this.#db.addPendingChallenge(pc);
    const payload: ChallengePayload = {
      event_id: challengeId(record.id, this.#o.nodeId),
      experiment_id: record.id,
      challenger_id: this.#o.nodeId,
      challenger_bpb: bpb,
      challenger_gpu: this.#gpuClass,
    };
    this.#log(
      "info",
      `challenging ${
        shortId(record.id, LOG_ID)
      }: claimed ${record.val_bpb}, rerun ${bpb}; waiting for ${pc.required}`,
    );
    if (!(await this.#emit({ type: "challenge", payload }))) {
      this.#db.removePendingChallenge(record.id);
      live?.verdict(
        verdict("no verdict", bpb, false, "outside tolerance; the challenge was refused"),
      );
      return;
    }
    live?.verdict(
      verdict(
        "challenged",
        bpb,
        false,
        `outside tolerance: challenged, waiting for ${pc.required}`,
      ),
    );
    this.#schedule(pc);
    this.#maybeResolve(record.id);
  }

  async #answer(owed: OwedAnswer): Promise<void> {
    if (this.#closed) return;
    const record = this.#o.graph.get(owed.experimentId);
    const challenge = this.#applier.held(
      "challenge",
      challengeId(owed.experimentId, owed.challengerId),
    );
    if (
      !record || challenge?.state !== "applied" || this.#answered(owed) || this.#disputeHeld(owed)
    ) {
      this.#db.removeOwedAnswer(owed);
      return;
    }
    const rerun = await this.#rerun(record, `to answer ${shortId(owed.challengerId)}'s challenge`);
    try {
      await this.#sendAnswer(owed, record, rerun);
    } finally {
      rerun?.live?.stop();
    }
  }

  async #sendAnswer(owed: OwedAnswer, record: ExperimentRecord, rerun: Rerun | undefined) {
    if (this.#closed) return; // kept owed: answered after a restart
    if (rerun === undefined) {
      this.#db.removeOwedAnswer(owed);
      return;
    }
    const bpb = rerun.bpb;
    const within = withinTolerance(record.val_bpb, bpb, normalizeGpuClass(record.gpu_model));
    // The dispute may have come while we reran: a late answer is valid but no longer useful.
    if (this.#disputeHeld(owed)) {
      this.#db.removeOwedAnswer(owed);
      rerun.live?.verdict(
        verdict("no verdict", bpb, within, "the dispute came first: no answer sent"),
      );
      return;
    }
    const payload: ChallengeResponsePayload = {
      event_id: challengeResponseId(owed.experimentId, owed.challengerId, this.#o.nodeId),
      experiment_id: owed.experimentId,
      challenger_id: owed.challengerId,
      verifier_id: this.#o.nodeId,
      verifier_bpb: bpb,
      verifier_gpu: this.#gpuClass,
    };
    const sent = await this.#emit({ type: "challenge_response", payload });
    this.#db.removeOwedAnswer(owed);
    rerun.live?.verdict(
      sent
        ? verdict("answered", bpb, within, "sent as an answer to the open challenge")
        : verdict("no verdict", bpb, within, "the answer to the challenge was refused"),
    );
  }

  async #resolve(experimentId: string): Promise<void> {
    if (this.#resolving.has(experimentId) || this.#closed) return;
    this.#resolving.add(experimentId);
    try {
      const pc = this.#db.pendingChallenge(experimentId);
      if (!pc) return;
      this.#clearTimer(experimentId);
      const self = this.#o.nodeId;
      const record = this.#o.graph.get(experimentId);
      const challenge = this.#applier.held("challenge", challengeId(experimentId, self));
      const responses = this.#applier.appliedResponses(experimentId, self)
        .sort((
          a,
          b,
        ) => (a.verifier_id < b.verifier_id ? -1 : a.verifier_id > b.verifier_id ? 1 : 0));
      if (!record || challenge?.state !== "applied" || responses.length === 0) {
        this.#log(
          "warn",
          `challenge on ${shortId(experimentId, LOG_ID)} closed without responses: no dispute`,
        );
        this.#db.removePendingChallenge(experimentId);
        return;
      }
      const challengerBpb = (challenge.event.payload as ChallengePayload).challenger_bpb;
      const r = resolveDispute(
        record.val_bpb,
        challengerBpb,
        responses.map((x) => x.verifier_bpb),
        normalizeGpuClass(record.gpu_model),
      );
      const payload: DisputePayload = {
        event_id: disputeId(experimentId, self),
        experiment_id: experimentId,
        original_node_id: record.node_id,
        challenger_id: self,
        challenger_bpb: challengerBpb,
        outcome: r.outcome,
        ground_truth_bpb: r.groundTruthBpb,
        verifier_count: r.verifierCount,
        // EXTENSION: names the evidence, so every node recomputes from the same responses.
        verifier_ids: responses.map((x) => x.verifier_id),
      };
      this.#log(
        "info",
        `dispute on ${
          shortId(experimentId, LOG_ID)
        }: ${r.outcome} (median ${r.groundTruthBpb}, ${r.verifierCount} verifiers)`,
      );
      await this.#emit({ type: "dispute", payload });
      this.#db.removePendingChallenge(experimentId);
    } finally {
      this.#resolving.delete(experimentId);
    }
  }

  /**
   * Rerun a record's code in this node's workspace, shown on the live card as "verifying <id>
   * from <publisher>", then `why` in brackets; undefined when it cannot be compared (the card
   * then shows why, if it ran).
   */
  async #rerun(record: ExperimentRecord, why?: string): Promise<Rerun | undefined> {
    const cached = this.#reruns.get(record.id);
    if (cached !== undefined) return { bpb: cached, live: undefined };
    const ws = await this.#o.trainer.workspaceIds();
    if (record.dataset_cid !== ws.datasetCid || record.prepare_cid !== ws.prepareCid) {
      this.#log(
        "info",
        `${shortId(record.id, LOG_ID)} used another dataset or prepare.py: not comparable`,
      );
      return undefined;
    }
    const bytes = await this.#o.fetchCode(record.code_cid);
    if (!bytes || sha256Hex(bytes) !== record.code_cid) {
      this.#log(
        "warn",
        `code ${shortId(record.code_cid, LOG_ID)} of ${shortId(record.id, LOG_ID)} unavailable`,
      );
      return undefined;
    }
    let code: string;
    try {
      code = decoder.decode(bytes);
    } catch {
      this.#log("warn", `code of ${shortId(record.id, LOG_ID)} is not UTF-8 text`);
      return undefined;
    }
    const live = this.#o.runs?.startVerification(
      record,
      `verifying ${shortId(record.id)} from ${shortId(record.node_id)}${why ? ` (${why})` : ""}`,
    );
    let out: TrainOutcome;
    try {
      out = await this.#o.trainer.run(code, {
        label: `verify-${shortId(record.id, LOG_ID)}`,
        signal: this.#abort.signal,
        onProgress: live ? (u) => live.progress(u) : undefined,
      });
    } catch (e) {
      live?.stop();
      throw e;
    }
    if (this.#closed) {
      live?.stop();
      return undefined;
    }
    if (!out.ok || typeof out.val_bpb !== "number" || !Number.isFinite(out.val_bpb)) {
      const why = out.crashReason ?? "no val_bpb";
      this.#log("info", `rerun of ${shortId(record.id, LOG_ID)} failed: ${why}`);
      live?.verdict(verdict("no verdict", null, null, `the rerun failed: ${why}`));
      return undefined;
    }
    if (this.#reruns.size >= RERUN_CACHE) this.#reruns.delete(this.#reruns.keys().next().value!);
    this.#reruns.set(record.id, out.val_bpb);
    return { bpb: out.val_bpb, live };
  }

  /** Sign, apply locally, then broadcast; false when this node's own rules refuse it. */
  async #emit(event: ControlEvent): Promise<boolean> {
    const signed = signControl(event, this.#o.seed, this.#o.nodeId);
    // Not logged yet: the network's broadcast dedupes by the shared control log, so an event
    // already in it would never be sent live (peers would only see it at their next sync).
    const r = await this.#applier.handle(signed, { logToControl: false });
    if (r.status === "ignored" || (r.status === "held" && r.state === "invalid")) {
      this.#log("warn", `not sending own ${event.type}: ${r.reason}`);
      return false;
    }
    if (r.status === "held") { for (const e of r.applied) this.#react(e); }
    try {
      await this.#o.broadcast(signed);
    } catch (err) {
      this.#log("warn", `broadcast of ${event.type} failed: ${errText(err)}`);
    } finally {
      // Logged in every case (a no-op when the broadcast logged it), so sync passes it on.
      this.#applier.logToControl(signed);
    }
    return true;
  }

  // ---- helpers ----

  #ownVerdictHeld(experimentId: string): boolean {
    const self = this.#o.nodeId;
    return this.#applier.held("verification", verificationId(experimentId, self)) !==
        undefined ||
      this.#applier.held("challenge", challengeId(experimentId, self)) !== undefined ||
      this.#db.pendingChallenge(experimentId) !== undefined;
  }

  #answered(o: OwedAnswer): boolean {
    const id = challengeResponseId(o.experimentId, o.challengerId, this.#o.nodeId);
    return this.#applier.held("challenge_response", id) !== undefined;
  }

  #disputeHeld(o: OwedAnswer): boolean {
    return this.#applier.held("dispute", disputeId(o.experimentId, o.challengerId))?.state ===
      "applied";
  }

  #schedule(pc: PendingChallenge): void {
    this.#clearTimer(pc.experimentId);
    const ms = Math.max(0, pc.deadlineMs - this.#now());
    // Timers overflow past 2^31-1 ms and would fire at once: wait in slices for long timeouts.
    const handle = this.#timers.setTimeout(() => {
      this.#deadlineTimers.delete(pc.experimentId);
      if (this.#closed) return;
      if (this.#now() < pc.deadlineMs) this.#schedule(pc);
      else this.#track(this.#resolve(pc.experimentId));
    }, Math.min(ms, MAX_TIMER_MS));
    this.#deadlineTimers.set(pc.experimentId, handle);
  }

  #clearTimer(experimentId: string): void {
    const h = this.#deadlineTimers.get(experimentId);
    if (h !== undefined) this.#timers.clearTimeout(h);
    this.#deadlineTimers.delete(experimentId);
  }

  /** Serialize reruns: one at a time, in arrival order. */
  #enqueue(job: () => Promise<void>): void {
    const run = this.#queue.then(() => (this.#closed ? undefined : job()));
    this.#queue = run.catch((err) => this.#log("warn", `verification job failed: ${errText(err)}`));
    this.#track(this.#queue);
  }

  #track(p: Promise<unknown>): void {
    const guarded = p.catch((err) =>
      this.#log("warn", `verification task failed: ${errText(err)}`)
    );
    this.#inflight.add(guarded);
    guarded.finally(() => this.#inflight.delete(guarded));
  }

  #log(level: "debug" | "info" | "warn", message: string): void {
    this.#o.log?.(level, message);
  }
}

function verdict(
  outcome: Verdict["outcome"],
  bpb: number | null,
  within: boolean | null,
  detail: string,
): Verdict {
  return { outcome, val_bpb: bpb, within_tolerance: within, detail };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
