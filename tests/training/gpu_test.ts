import assert from "node:assert/strict";
import {
  compileDisabledByDefault,
  detectNvidiaGpus,
  deviceFromTorch,
  parseNvidiaSmi,
  type TorchInfo,
} from "../../src/training/mod.ts";
import { CPU_TORCH as CPU_TORCH_FAKE } from "./fake_python.ts";

const CPU_TORCH: TorchInfo = { ...CPU_TORCH_FAKE, version: "1.13.1" };

Deno.test("parseNvidiaSmi reads the csv query and skips junk", () => {
  const gpus = parseNvidiaSmi(
    "NVIDIA H100 80GB HBM3, 81559, 550.54.15\nNVIDIA GeForce RTX 4090, 24564, 550.54.15\n\nbad line\n",
  );
  assert.deepEqual(gpus, [
    { name: "NVIDIA H100 80GB HBM3", memoryMb: 81559, driverVersion: "550.54.15" },
    { name: "NVIDIA GeForce RTX 4090", memoryMb: 24564, driverVersion: "550.54.15" },
  ]);
});

Deno.test("detectNvidiaGpus: no nvidia-smi means no GPUs", async () => {
  assert.deepEqual(await detectNvidiaGpus(() => Promise.resolve(null)), []);
  assert.deepEqual(
    await detectNvidiaGpus(() => Promise.resolve({ code: 9, stdout: "", stderr: "NVML failed" })),
    [],
  );
});

Deno.test("deviceFromTorch: gpu_model and cuda_version as the Python node writes them", () => {
  assert.deepEqual(deviceFromTorch(CPU_TORCH), {
    kind: "cpu",
    deviceName: "CPU",
    gpuModel: "CPU",
    gpuClass: "CPU",
    cudaVersion: "cpu",
    torchVersion: "1.13.1",
  });
  const cuda = (deviceName: string) =>
    deviceFromTorch({
      ...CPU_TORCH,
      version: "2.5.1",
      cudaVersion: "12.4",
      cudaAvailable: true,
      deviceName,
    });
  const h100 = cuda("NVIDIA H100 80GB HBM3");
  assert.equal(h100.kind, "cuda");
  assert.equal(h100.deviceName, "NVIDIA H100 80GB HBM3");
  // PROTOCOL.md section 11: the Python network's H100 nodes write exactly this.
  assert.equal(h100.gpuModel, "NVIDIA_H100_80GB_HBM3");
  assert.equal(h100.gpuClass, "NVIDIA_H100_80GB_HBM3");
  assert.equal(h100.cudaVersion, "12.4");
  assert.equal(cuda("NVIDIA GeForce RTX 3060").gpuModel, "RTX_3060");
  const mps = deviceFromTorch({ ...CPU_TORCH, mpsAvailable: true });
  assert.deepEqual([mps.gpuModel, mps.gpuClass, mps.cudaVersion], [
    "APPLE_MPS",
    "APPLE_MPS",
    "mps",
  ]);
});

Deno.test("compile policy: off on CPU and on small CUDA cards, on for big ones", () => {
  const cuda = { ...CPU_TORCH, cudaAvailable: true, hasCompile: true };
  assert.equal(compileDisabledByDefault(CPU_TORCH), true);
  assert.equal(compileDisabledByDefault({ ...cuda, totalMemoryMb: 81559, smCount: 132 }), false);
  assert.equal(compileDisabledByDefault({ ...cuda, totalMemoryMb: 12288, smCount: 82 }), true);
  assert.equal(compileDisabledByDefault({ ...cuda, totalMemoryMb: 24564, smCount: 46 }), true);
  assert.equal(
    compileDisabledByDefault({ ...cuda, hasCompile: false, totalMemoryMb: 81559, smCount: 132 }),
    true,
  );
});
