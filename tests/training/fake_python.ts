/** A PythonInfo for tests that run torch-free scripts directly (no probe, no torch). */
import type { PythonInfo, TorchInfo } from "../../src/training/mod.ts";
/** What torch says on a machine without CUDA or MPS (version "0": no real torch behind it). */
export const CPU_TORCH: TorchInfo = {
  version: "0",
  cudaVersion: "",
  cudaAvailable: false,
  mpsAvailable: false,
  deviceName: "",
  totalMemoryMb: 0,
  smCount: 0,
  hasCompile: false,
};

/** Interpreter facts for running a torch-free script directly (no probe, no torch). */
export function fakePython(path: string): PythonInfo {
  return { path, realPath: path, version: "3", roots: [], torch: { ...CPU_TORCH } };
}
