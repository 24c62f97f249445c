"""Device batch size from the node's resource share.

A node may give training only part of its accelerator (SPORE_RESOURCE, percent 1-100). The device
batch size scales with that share and is then snapped down so that it divides the number of
sequences per optimizer step (TOTAL_BATCH_SIZE / MAX_SEQ_LEN): gradient accumulation then covers the
step exactly and the effective batch, hence the result, does not depend on the share.
"""

import os


def resource_percent(env=None):
    """SPORE_RESOURCE as an int in [1, 100]; unset, empty or invalid means 100."""
    raw = (os.environ if env is None else env).get("SPORE_RESOURCE", "").strip()
    try:
        value = int(raw)
    except ValueError:
        return 100
    return min(100, max(1, value))


def device_batch_size(base, percent, total_batch_size, max_seq_len):
    """Largest size <= base * percent / 100 (at least 1) that divides the sequences per step."""
    if base < 1 or max_seq_len < 1 or total_batch_size < max_seq_len:
        raise ValueError("base, max_seq_len must be >= 1 and total_batch_size >= max_seq_len")
    if total_batch_size % max_seq_len:
        raise ValueError("total_batch_size must be a multiple of max_seq_len")
    sequences = total_batch_size // max_seq_len
    percent = min(100, max(1, int(percent)))
    want = max(1, min(sequences, base * percent // 100))
    while sequences % want:
        want -= 1
    return want


def grad_accum_steps(device_batch, total_batch_size, max_seq_len):
    """Micro-batches per optimizer step for a device batch from `device_batch_size`."""
    return total_batch_size // (device_batch * max_seq_len)


if __name__ == "__main__":
    # Self-check: python3 batching.py
    assert device_batch_size(32, 100, 32 * 256, 256) == 32
    assert device_batch_size(32, 50, 32 * 256, 256) == 16
    assert device_batch_size(32, 40, 32 * 256, 256) == 8  # 12 does not divide 32 -> 8
    assert device_batch_size(32, 1, 32 * 256, 256) == 1
    assert device_batch_size(48, 100, 24 * 256, 256) == 24
    assert grad_accum_steps(8, 32 * 256, 256) == 4
    assert resource_percent({"SPORE_RESOURCE": "250"}) == 100
    assert resource_percent({"SPORE_RESOURCE": "x"}) == 100
    assert resource_percent({"SPORE_RESOURCE": "0"}) == 1
    print("ok")
