"""Spore trainer: a compact GPT trained for a fixed budget, scored by prepare.evaluate_bpb.

This is the file the research agent edits. The contract with the node:
* On CUDA / MPS it trains for TIME_BUDGET seconds (SPORE_TIME_BUDGET overrides).
* On CPU it trains exactly CPU_STEPS steps with fixed seeds, so every CPU reproduces the same
  val_bpb (SPORE_MAX_STEPS overrides the step count; SPORE_TIME_BUDGET, when set, also caps time).
* It prints progress lines
      step N (P%) | loss: L | lr: X | dt: Dms | tok/sec: T | epoch: E | remaining: Rs
  and ends with the block
      ---
      val_bpb: ...  training_seconds: ...  peak_vram_mb: ...  num_steps: ...
      num_params_M: ...  num_parameters: ...
Works with torch 1.13 (no fused attention, no compile) and torch 2.x.
"""

import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from batching import device_batch_size, grad_accum_steps, resource_percent
from prepare import MAX_SEQ_LEN, TIME_BUDGET, batches, evaluate_bpb, load_data

# ---------------------------------------------------------------------------------------------
# Hyperparameters. Accelerator defaults first; the CPU block below keeps CPU runs short.

SEED = 1337
DEPTH = 8
N_EMBD = 512
N_HEAD = 8
MLP_RATIO = 4
TOTAL_BATCH_SIZE = 64 * MAX_SEQ_LEN  # tokens per optimizer step
BASE_DEVICE_BATCH = 64  # sequences per micro-batch at SPORE_RESOURCE=100
LEARNING_RATE = 1e-3
WEIGHT_DECAY = 0.1
WARMUP_FRACTION = 0.05
FINAL_LR_FRACTION = 0.1
GRAD_CLIP = 1.0

# Sized so a baseline finishes well under 10 minutes with Debian's reference BLAS on 2 cores;
# OpenBLAS then needs well under a minute (reference BLAS is ~10x slower at matmul). Measured on
# the shared 2-core development machine: 128 wide with 16 sequences per step took 55 s with
# OpenBLAS but 14.3 min with reference BLAS (4.6 s/step, evaluation about a minute); 8 sequences
# still took 2.7-3.8 s/step. 96 wide with 8 sequences: 5.4 min (1.9 s/step), OpenBLAS 34 s.
CPU_DEPTH = 4
CPU_N_EMBD = 96
CPU_N_HEAD = 4
CPU_TOTAL_BATCH_SIZE = 8 * MAX_SEQ_LEN
CPU_STEPS = 150
CPU_LEARNING_RATE = 3e-3


# ---------------------------------------------------------------------------------------------
# Model


class RMSNorm(nn.Module):
    # Hand-written because torch 1.13 has no nn.RMSNorm.
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotary_tables(seq_len, head_dim, device):
    inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float32), inv_freq)
    return angles.cos().to(device), angles.sin().to(device)


def apply_rotary(x, cos, sin):
    x1, x2 = x[..., 0::2], x[..., 1::2]
    t = x.shape[-2]
    c, s = cos[:t], sin[:t]
    return torch.stack((x1 * c - x2 * s, x1 * s + x2 * c), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.n_head = n_head
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=False)
        self.proj = nn.Linear(n_embd, n_embd, bias=False)
        self.fused = hasattr(F, "scaled_dot_product_attention")

    def forward(self, x, cos, sin):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if self.fused:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            att = (q @ k.transpose(-2, -1)) / math.sqrt(k.shape[-1])
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = att @ v
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.norm1 = RMSNorm(n_embd)
        self.attn = Attention(n_embd, n_head)
        self.norm2 = RMSNorm(n_embd)
        self.fc = nn.Linear(n_embd, MLP_RATIO * n_embd, bias=False)
        self.out = nn.Linear(MLP_RATIO * n_embd, n_embd, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.attn(self.norm1(x), cos, sin)
        return x + self.out(F.gelu(self.fc(self.norm2(x))))


class GPT(nn.Module):
    def __init__(self, vocab_size, depth, n_embd, n_head, seq_len):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, n_embd)
        self.blocks = nn.ModuleList(Block(n_embd, n_head) for _ in range(depth))
        self.norm = RMSNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied embeddings: fewer parameters, same quality
        cos, sin = rotary_tables(seq_len, n_embd // n_head, "cpu")
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.apply(self._init)
        for block in self.blocks:  # scale residual projections by depth (GPT-2)
            for lin in (block.attn.proj, block.out):
                nn.init.normal_(lin.weight, std=0.02 / math.sqrt(2 * depth))

    @staticmethod
    def _init(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def forward(self, idx, targets, reduction="mean"):
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x, self.cos, self.sin)
        logits = self.head(self.norm(x)).float()
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1),
                               reduction=reduction)
        return loss.view(targets.shape) if reduction == "none" else loss


# ---------------------------------------------------------------------------------------------
# Setup


def env_number(name, cast):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    value = cast(raw)
    if value <= 0:
        raise SystemExit(f"{name} must be positive, got {raw!r}")
    return value


def pick_device():
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def configure_for(device):
    if device == "cpu":
        return dict(depth=CPU_DEPTH, n_embd=CPU_N_EMBD, n_head=CPU_N_HEAD,
                    total_batch=CPU_TOTAL_BATCH_SIZE, lr=CPU_LEARNING_RATE)
    return dict(depth=DEPTH, n_embd=N_EMBD, n_head=N_HEAD, total_batch=TOTAL_BATCH_SIZE,
                lr=LEARNING_RATE)


def lr_at(progress, peak):
    if progress < WARMUP_FRACTION:
        return peak * (progress + 1e-3) / WARMUP_FRACTION
    decay = (progress - WARMUP_FRACTION) / (1 - WARMUP_FRACTION)
    return peak * (FINAL_LR_FRACTION + (1 - FINAL_LR_FRACTION) * 0.5 * (1 + math.cos(math.pi * decay)))


def main():
    t_start = time.time()
    device = pick_device()
    torch.manual_seed(SEED)
    if device == "cpu":
        # Fixed seeds plus deterministic kernels make the CPU result exact and reproducible.
        torch.use_deterministic_algorithms(True)
    cfg = configure_for(device)
    max_steps = env_number("SPORE_MAX_STEPS", int)
    budget_env = env_number("SPORE_TIME_BUDGET", float)
    if device == "cpu":
        max_steps = max_steps or CPU_STEPS
        time_budget = budget_env  # CPU runs are step-bound; a time cap only when asked for
    else:
        time_budget = budget_env or TIME_BUDGET

    data = load_data()
    seq_len = MAX_SEQ_LEN
    total_batch = cfg["total_batch"]
    if device == "cpu":
        # The CPU micro-batch is the whole step: resource shares must not change CPU results.
        micro = total_batch // seq_len
    else:
        micro = device_batch_size(BASE_DEVICE_BATCH, resource_percent(), total_batch, seq_len)
    accum = grad_accum_steps(micro, total_batch, seq_len)

    model = GPT(data.vocab_size, cfg["depth"], cfg["n_embd"], cfg["n_head"], seq_len).to(device)
    num_params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": WEIGHT_DECAY}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg["lr"], betas=(0.9, 0.95), eps=1e-8)

    train_model = model
    compile_ok = (device == "cuda" and hasattr(torch, "compile")
                  and os.environ.get("SPORE_DISABLE_COMPILE", "") != "1")
    if compile_ok:
        train_model = torch.compile(model)
    # bf16 autocast where the card supports it; older cards train in fp32 (fp16 would need a
    # gradient scaler and could still diverge, which costs more than it saves here).
    use_bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    autocast = (torch.autocast(device_type="cuda", dtype=torch.bfloat16) if use_bf16
                else torch.autocast(device_type="cpu", enabled=False))

    print(f"device: {device} | torch: {torch.__version__} | params: {num_params:,} | "
          f"micro_batch: {micro} x {accum} | compile: {compile_ok}", flush=True)

    loader = batches(data, micro, seq_len, seed=SEED, device=device)
    train_tokens = data.train.numel()
    tokens_seen = 0
    step = 0
    training_seconds = 0.0
    last_report = 0.0

    def progress_now():
        p = step / max_steps if max_steps else 0.0
        if time_budget:
            p = max(p, training_seconds / time_budget)
        return min(p, 1.0)

    while True:
        if max_steps is not None and step >= max_steps:
            break
        if time_budget is not None and training_seconds >= time_budget:
            break
        t0 = time.time()
        lr = lr_at(progress_now(), cfg["lr"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        for _ in range(accum):
            x, y = next(loader)
            with autocast:
                loss = train_model(x, y) / accum
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = loss.item() * accum
        if not math.isfinite(loss_value):
            raise SystemExit(f"loss is {loss_value} at step {step}: training diverged")
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.time() - t0
        step += 1
        tokens_seen += total_batch
        # The first steps include compile / warm-up time; they do not count against the budget.
        if step > 2 or device == "cpu":
            training_seconds += dt
        now = time.time()
        if now - last_report >= 1.0 or step == max_steps or step <= 1:
            last_report = now
            p = progress_now()
            if max_steps and not time_budget:
                remaining = (max_steps - step) * (training_seconds / max(step, 1))
            else:
                remaining = max(0.0, time_budget - training_seconds)
            print(f"step {step:05d} ({100 * p:.1f}%) | loss: {loss_value:.6f} | lr: {lr:.2e} | "
                  f"dt: {dt * 1000:.0f}ms | tok/sec: {int(total_batch / max(dt, 1e-9)):,} | "
                  f"epoch: {tokens_seen / train_tokens:.3f} | remaining: {remaining:.0f}s",
                  flush=True)

    print("evaluating...", flush=True)
    val_bpb = evaluate_bpb(model, data, micro, device=device, seq_len=seq_len)
    if device == "cuda":
        peak_vram_mb = torch.cuda.max_memory_allocated() / 2**20
    elif device == "mps" and hasattr(torch, "mps") and hasattr(torch.mps, "driver_allocated_memory"):
        peak_vram_mb = torch.mps.driver_allocated_memory() / 2**20
    else:
        peak_vram_mb = 0.0
    print("---")
    print(f"val_bpb:          {val_bpb:.6f}")
    print(f"training_seconds: {training_seconds:.1f}")
    print(f"total_seconds:    {time.time() - t_start:.1f}")
    print(f"peak_vram_mb:     {peak_vram_mb:.1f}")
    print(f"num_steps:        {step}")
    print(f"num_params_M:     {num_params / 1e6:.2f}")
    print(f"num_parameters:   {num_params}", flush=True)


if __name__ == "__main__":
    main()
