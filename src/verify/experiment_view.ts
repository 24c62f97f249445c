/**
 * Verification state of one experiment for display (explorer experiment page), judged from the
 * control events a node logged about it with the same rules the {@link EventApplier} uses: a
 * logged event is authenticated, but only a judged one is believed, so a signed dispute that
 * contradicts its own evidence shows as refused, never as the experiment's outcome.
 * @module
 */
import { checkControl } from "../protocol/control.ts";
import { CONTROL_TYPES } from "../protocol/types.ts";
import type {
  ChallengeResponsePayload,
  ControlEvent,
  ControlType,
  ExperimentRecord,
} from "../protocol/types.ts";
import { type Held, judgeEvent, type Verdict } from "./judge.ts";

/** How one logged event was judged. */
export type EventState = "applied" | "pending" | "refused";

/** The overall verification state of an experiment. */
export type ExperimentState = "unverified" | "verified" | "challenged" | "upheld" | "rejected";

/** Verification view of one experiment. */
export interface ExperimentVerification {
  state: ExperimentState;
  /** Accepted verifications. */
  verifications: number;
  /** Accepted challenges not yet settled by an accepted dispute. */
  open_challenges: number;
  /** State of each input event, in input order. */
  event_state: EventState[];
}

/** Dependencies first: a response needs its challenge, a dispute its challenge and responses. */
const ORDER: Record<ControlType, number> = {
  verification: 0,
  challenge: 0,
  challenge_response: 1,
  dispute: 2,
};

/** Judge `events` (as logged about `record`) and summarize the experiment's state. */
export function experimentVerification(
  record: ExperimentRecord,
  events: readonly { type: string; payload: unknown }[],
): ExperimentVerification {
  const held = new Map<string, { state: EventState; payload: unknown }>();
  const parsed = events.map((e) => {
    // checkControl expects a known type: anything else is refused before it.
    if (!CONTROL_TYPES.includes(e.type as ControlType)) return undefined;
    try {
      const v = checkControl(e.type as ControlType, e.payload);
      return v.ok && v.value.payload.experiment_id === record.id ? v.value : undefined;
    } catch {
      return undefined; // a payload the shape check cannot even read
    }
  });
  const order = parsed
    .map((e, i) => ({ e, i }))
    .filter((x): x is { e: ControlEvent; i: number } => x.e !== undefined)
    .sort((a, b) => ORDER[a.e.type] - ORDER[b.e.type] || a.i - b.i);
  const states: EventState[] = events.map(() => "refused");
  for (const { e, i } of order) {
    const key = `${e.type}:${e.payload.event_id}`;
    if (held.has(key)) {
      states[i] = held.get(key)!.state; // a repeated copy shares the first copy's fate
      continue;
    }
    const state = toState(judge(e, record, held));
    held.set(key, { state, payload: e.payload });
    states[i] = state;
  }
  return summarize(held, states);
}

function judge(
  e: ControlEvent,
  record: ExperimentRecord,
  held: Map<string, { state: EventState; payload: unknown }>,
): Verdict {
  return judgeEvent(e, record, {
    held: <T>(type: ControlType, id: string): Held<T> => {
      const h = held.get(`${type}:${id}`);
      if (!h) return { state: "missing" };
      if (h.state === "applied") return { state: "applied", payload: h.payload as T };
      return { state: h.state === "refused" ? "invalid" : "pending" };
    },
    appliedResponses: (_experimentId: string, challenger: string) =>
      [...held.values()]
        .filter((h) => h.state === "applied")
        .map((h) => h.payload as Partial<ChallengeResponsePayload>)
        .filter((p): p is ChallengeResponsePayload =>
          typeof p.verifier_bpb === "number" && p.challenger_id === challenger &&
          typeof p.verifier_id === "string"
        ),
  });
}

function toState(v: Verdict): EventState {
  return v.state === "apply" ? "applied" : v.state === "pending" ? "pending" : "refused";
}

function summarize(
  held: Map<string, { state: EventState; payload: unknown }>,
  states: EventState[],
): ExperimentVerification {
  let verifications = 0;
  const challengers = new Set<string>();
  const settled = new Set<string>();
  const outcomes = new Set<string>();
  for (const [key, h] of held) {
    if (h.state !== "applied") continue;
    const p = h.payload as Record<string, unknown>;
    if (key.startsWith("verification:")) verifications++;
    else if (key.startsWith("challenge:")) challengers.add(String(p.challenger_id));
    else if (key.startsWith("dispute:")) {
      settled.add(String(p.challenger_id));
      outcomes.add(String(p.outcome));
    }
  }
  const open = [...challengers].filter((c) => !settled.has(c)).length;
  const state: ExperimentState = outcomes.has("rejected")
    ? "rejected"
    : outcomes.has("upheld")
    ? "upheld"
    : open > 0
    ? "challenged"
    : verifications > 0
    ? "verified"
    : "unverified";
  return { state, verifications, open_challenges: open, event_state: states };
}
