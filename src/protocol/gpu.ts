/**
 * GPU classes and per-class tolerance (PROTOCOL.md section 7). val_bpb is only comparable within
 * one class.
 * @module
 */

/** Most distinct device strings remembered; real graphs have a few dozen. */
const CLASS_CACHE_LIMIT = 1024;
const classCache = new Map<string, string>();

/**
 * Normalize a device string to its GPU class exactly as the Python node does (its
 * `normalize_gpu_model`): "NVIDIA GeForce RTX 3060" -> "RTX_3060", "H100 SXM" -> "H100", but
 * "NVIDIA H100 80GB HBM3" -> "NVIDIA_H100_80GB_HBM3" (only a leading H100 is shortened; the
 * Python network's H100 nodes are in that class, with the default tolerance).
 */
export function normalizeGpuClass(gpu: string): string {
  // Called for every record stored or checked, with few distinct strings: remember them.
  let cls = classCache.get(gpu);
  if (cls === undefined) {
    cls = gpuClassOf(gpu);
    if (classCache.size >= CLASS_CACHE_LIMIT) classCache.clear();
    classCache.set(gpu, cls);
  }
  return cls;
}

function gpuClassOf(gpu: string): string {
  const s = gpu.trim().replace(/[- ]/g, "_").replace(/_+/g, "_").toUpperCase();
  if (s === "") return "UNKNOWN";
  if (s.includes("MPS") || s.includes("APPLE")) return "APPLE_MPS";
  if (s === "CPU" || s === "UNKNOWN") return s;
  if (s.startsWith("H100")) return "H100";
  if (s.startsWith("A100")) return "A100";
  const rtx = /RTX_?(\d{4})/.exec(s);
  if (rtx) return `RTX_${rtx[1]}`;
  const gtx = /GTX_?(\d{3,4})/.exec(s);
  if (gtx) return `GTX_${gtx[1]}`;
  return s;
}

const TOLERANCE: Readonly<Record<string, number>> = {
  H100: 0.0015,
  A100: 0.0015,
  RTX_5090: 0.002,
  RTX_4090: 0.002,
  RTX_3090: 0.003,
  RTX_3060: 0.003,
};

/** Allowed |claimed - rerun| for a GPU class. */
export function toleranceFor(gpuClass: string): number {
  return TOLERANCE[normalizeGpuClass(gpuClass)] ?? 0.002;
}

/** True when a rerun agrees with the claim within the class tolerance. */
export function withinTolerance(claimed: number, rerun: number, gpuClass: string): boolean {
  return Math.abs(claimed - rerun) <= toleranceFor(gpuClass);
}
