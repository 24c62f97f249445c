/**
 * Training: Python discovery, the sandboxed runner, the one-at-a-time runtime and GPU classes.
 * @module
 */
export { type SetupProblem, TrainingSetupError } from "./errors.ts";
export { type Exec, execCommand, type ExecResult } from "./exec.ts";
export {
  findPython,
  PYTHON_CANDIDATES,
  type PythonInfo,
  type PythonSearch,
  type TorchInfo,
} from "./python.ts";
export {
  compileDisabledByDefault,
  detectNvidiaGpus,
  deviceFromTorch,
  type DeviceInfo,
  parseNvidiaSmi,
  type SmiGpu,
} from "./gpu.ts";
export {
  looksLikeCompileFailure,
  parseProgressLine,
  parseResultBlock,
  type TrainMetrics,
  type TrainProgress,
} from "./parse.ts";
export {
  DEFAULT_MEMORY_LIMIT,
  describeMemoryLimit,
  type MemoryLimit,
  parseMemoryLimit,
} from "./memory.ts";
export { classifyRun, type CrashKind, type RunExit, type RunVerdict } from "./classify.ts";
export {
  buildSandboxArgs,
  BWRAP_INSTALL_HINT,
  checkSandbox,
  DEFAULT_MAX_PROCESSES,
  findBwrap,
  gpuDeviceNodes,
  type SandboxSpec,
  systemLayout,
} from "./sandbox.ts";
export { checkPreparedData, prepareData, type PreparedData } from "./data.ts";
export { TrainingQueue } from "./queue.ts";
export {
  bundledWorkspaceDir,
  createRunWorkspace,
  type RunWorkspace,
  WORKSPACE_FILES,
} from "./workspace.ts";
export {
  hardTimeoutSeconds,
  type ProgressEvent,
  runTraining,
  type SandboxContext,
  type TrainPhase,
  type TrainResult,
  type TrainRunOptions,
} from "./runner.ts";
export {
  probeSandbox,
  type RuntimeOptions,
  type SandboxProbe,
  TrainingRuntime,
  type TrainJob,
} from "./runtime.ts";
