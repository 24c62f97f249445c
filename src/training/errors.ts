/**
 * Setup problems that stop training before it starts. Each carries one actionable message.
 * @module
 */
import { UserError } from "../errors.ts";

/** What is missing or broken. */
export type SetupProblem =
  | "python_missing"
  | "torch_missing"
  | "bwrap_missing"
  | "sandbox_failed"
  | "data_failed"
  | "workspace_missing"
  | "data_missing"
  | "class_unknown";

/** Training cannot run on this machine as configured; `message` says how to fix it. */
export class TrainingSetupError extends UserError {
  /** Machine-readable kind of problem, for `spore doctor` and tests. */
  readonly problem: SetupProblem;

  constructor(problem: SetupProblem, message: string) {
    super(message);
    this.problem = problem;
  }
}
