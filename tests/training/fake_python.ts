/** A PythonInfo for tests that run torch-free scripts directly (no probe, no torch). */
import type { PythonInfo } from "../../src/training/mod.ts";
/** Interpreter facts for running a torch-free script directly (no probe, no torch). */
export function fakePython(path: string): PythonInfo {
  return {
    path,
    realPath: path,
    version: "3",
    roots: [],
    torch: {
      version: "0",
      cudaVersion: "",
      cudaAvailable: false,
      mpsAvailable: false,
      deviceName: "",
      totalMemoryMb: 0,
      smCount: 0,
      hasCompile: false,
    },
  };
}
