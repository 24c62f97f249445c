/**
 * Which device a run trains on, its GPU class (PROTOCOL.md section 7), CUDA/torch versions, and the
 * `torch.compile` policy. The device is what torch can use (a CPU-only torch on a GPU machine
 * trains on CPU, and must be classed CPU); nvidia-smi only adds the driver view for diagnostics.
 * @module
 */
import { normalizeGpuClass } from "../protocol/mod.ts";
import { type Exec, execCommand } from "./exec.ts";
import type { TorchInfo } from "./python.ts";
import type { TrainEnvironment } from "../node_types.ts";

/** One GPU as nvidia-smi lists it. */
export interface SmiGpu {
  name: string;
  memoryMb: number;
  driverVersion: string;
}

/** The hardware facts that go into an experiment record, and the device they came from. */
export interface DeviceInfo extends TrainEnvironment {
  /** "cuda", "mps" or "cpu": where train.py will run. */
  kind: "cuda" | "mps" | "cpu";
  /** Device name as torch reports it, e.g. "NVIDIA GeForce RTX 3060", "Apple MPS", "CPU". */
  deviceName: string;
}

/** Parse `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(csv: string): SmiGpu[] {
  const out: SmiGpu[] = [];
  for (const line of csv.split("\n")) {
    const [name, memText, driver] = line.split(",").map((c) => c.trim());
    if (!name || driver === undefined) continue;
    const mem = Number(memText);
    out.push({
      name: name.slice(0, 200),
      memoryMb: Number.isFinite(mem) && mem >= 0 ? mem : 0,
      driverVersion: driver.slice(0, 50),
    });
  }
  return out;
}

/** GPUs the NVIDIA driver reports; empty when nvidia-smi is absent or fails. */
export async function detectNvidiaGpus(exec: Exec = execCommand): Promise<SmiGpu[]> {
  const res = await exec("nvidia-smi", [
    "--query-gpu=name,memory.total,driver_version",
    "--format=csv,noheader,nounits",
  ], { timeoutMs: 15_000 });
  if (res === null || res.code !== 0) return [];
  return parseNvidiaSmi(res.stdout);
}

/** The device a run will use, from what torch reports. */
export function deviceFromTorch(torch: TorchInfo): DeviceInfo {
  if (torch.cudaAvailable) {
    const name = torch.deviceName || "CUDA GPU";
    const cls = normalizeGpuClass(name);
    return {
      kind: "cuda",
      deviceName: name,
      gpuModel: cls,
      gpuClass: cls,
      cudaVersion: torch.cudaVersion,
      torchVersion: torch.version,
    };
  }
  if (torch.mpsAvailable) {
    return {
      kind: "mps",
      deviceName: "Apple MPS",
      gpuModel: "APPLE_MPS",
      gpuClass: "APPLE_MPS",
      cudaVersion: "mps",
      torchVersion: torch.version,
    };
  }
  return {
    kind: "cpu",
    deviceName: "CPU",
    gpuModel: "CPU",
    gpuClass: "CPU",
    cudaVersion: "cpu",
    torchVersion: torch.version,
  };
}

/** Smallest card (memory, streaming multiprocessors) on which `torch.compile` pays off. */
export const COMPILE_MIN_MEMORY_MB = 16 * 1024;
/** See `COMPILE_MIN_MEMORY_MB`. */
export const COMPILE_MIN_SMS = 48;

/**
 * Whether runs start with `torch.compile` disabled: always off the CUDA path (train.py only
 * compiles on CUDA), and on small CUDA cards where compile time eats the budget or fails.
 */
export function compileDisabledByDefault(torch: TorchInfo): boolean {
  if (!torch.cudaAvailable || !torch.hasCompile) return true;
  return torch.totalMemoryMb < COMPILE_MIN_MEMORY_MB || torch.smCount < COMPILE_MIN_SMS;
}
