"""Spore data preparation, tokenizer, dataloader and evaluation (read-only to the research loop).

Every node must score `train.py` on exactly the same data with exactly the same metric, so this file
is fixed: its sha256 is the record's `prepare_cid`, and the data it produces is named by
`dataset_cid`.

Two data sources, chosen by the environment variable SPORE_DATASET:

* unset or "synthetic" (default): a corpus generated locally from a fixed seed with our own PRNG
  (splitmix64 on Python integers, ASCII only), so the bytes are identical on every machine and Python
  version and nothing is downloaded. It has structure at several scales (syllables inside words,
  Zipfian word frequencies, grammatical agreement, topical paragraphs, per-document characters that
  recur, running arithmetic, numbered lists, balanced quotes), so a better model really scores lower.
  Tokens are bytes (vocabulary 256). `dataset_cid` = sha256 of the generated corpus.
* "fineweb-edu": public web-text pretraining shards downloaded from Hugging Face and tokenized with
  the GPT-2 BPE (needs network plus the `pyarrow` and `tiktoken` packages; fails with a clear message
  otherwise). `dataset_cid` = sha256 of the dataset name, tokenizer and shard list.

CLI:
    python3 prepare.py          prepare (download/generate) the data into the cache, print JSON info
    python3 prepare.py --cid    print JSON {"dataset_cid": ..., "prepare_cid": ...}
    python3 prepare.py --check  exit 0 if the data is prepared, 2 with the reason if not

The cache directory is $SPORE_CACHE_DIR, default `.cache/` next to this file.
"""

import hashlib
import json
import math
import os
import sys
from bisect import bisect_right

# ---------------------------------------------------------------------------------------------
# Constants shared by every run (changing any of them changes prepare_cid, hence comparability).

MAX_SEQ_LEN = 256  # context length used for training and evaluation
TIME_BUDGET = 300  # seconds of training on an accelerator
EVAL_TOKENS = 2**17  # validation tokens scored by evaluate_bpb

SYNTHETIC_SEED = 0x5B0E_2024_C0FF_EE01
SYNTHETIC_VERSION = 1
TRAIN_BYTES = 4 * 2**20
VAL_BYTES = 2**18  # must exceed EVAL_TOKENS + 1

WEB_DATASET = "fineweb-edu"
WEB_BASE_URL = "https://huggingface.co/datasets/karpathy/fineweb-edu-100b-shuffle/resolve/main"
WEB_TRAIN_SHARDS = 4
WEB_VAL_SHARD = 1822  # the last shard of the collection is held out for validation
WEB_TOKENIZER = "gpt2"

_MASK64 = (1 << 64) - 1


class PrepareError(Exception):
    """Data could not be prepared; the message says what to do."""


# ---------------------------------------------------------------------------------------------
# Deterministic PRNG: splitmix64. Python's `random` is not used because its algorithms and seeding
# are only promised per version; these few integer operations are the same everywhere.


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & _MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def below(self, n):
        """Integer in [0, n) by multiply-high (tiny bias is irrelevant, determinism is not)."""
        return (self.next() * n) >> 64

    def pick(self, seq):
        return seq[self.below(len(seq))]

    def chance(self, num, den):
        return self.below(den) < num


class Weighted:
    """Sample from a list with integer weights (integers keep it bit-exact across platforms)."""

    def __init__(self, items, weights):
        self.items = list(items)
        self.cum = []
        total = 0
        for w in weights:
            total += w
            self.cum.append(total)

    def sample(self, rng):
        return self.items[bisect_right(self.cum, rng.below(self.cum[-1]))]


def _zipf(items, scale=1_000_000):
    return Weighted(items, [scale // (rank + 1) for rank in range(len(items))])


# ---------------------------------------------------------------------------------------------
# The synthetic language.

_ONSETS = ["b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z",
           "br", "ch", "cl", "dr", "fl", "gr", "pl", "sh", "st", "th", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "o", "ai", "ea", "ou", "io"]
_CODAS = ["", "", "", "", "n", "r", "s", "l", "m", "nd", "st", "rk"]
_NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                 "ten", "eleven", "twelve"]
_ORDINALS = ["First", "Second", "Third", "Fourth", "Fifth", "Sixth"]


def _make_words(rng, count, min_syl, max_syl, taken):
    words = []
    while len(words) < count:
        n = min_syl + rng.below(max_syl - min_syl + 1)
        w = "".join(rng.pick(_ONSETS) + rng.pick(_VOWELS) for _ in range(n)) + rng.pick(_CODAS)
        if w not in taken and len(w) <= 12:
            taken.add(w)
            words.append(w)
    return words


class _Lexicon:
    def __init__(self, rng):
        taken = set()
        self.nouns = _make_words(rng, 360, 1, 2, taken)
        self.verbs = _make_words(rng, 120, 1, 2, taken)
        self.adjs = _make_words(rng, 100, 1, 3, taken)
        self.names = [w.capitalize() for w in _make_words(rng, 240, 2, 3, taken)]
        self.places = [w.capitalize() for w in _make_words(rng, 60, 2, 3, taken)]
        self.all_nouns = _zipf(self.nouns)
        self.all_verbs = _zipf(self.verbs)
        self.all_adjs = _zipf(self.adjs)
        # Topics: each owns a slice of the vocabulary that dominates its documents, which gives the
        # model paragraph-scale structure to pick up.
        self.topics = []
        for t in range(12):
            nouns = [self.nouns[(t * 29 + 7 * i) % len(self.nouns)] for i in range(40)]
            verbs = [self.verbs[(t * 11 + 5 * i) % len(self.verbs)] for i in range(16)]
            adjs = [self.adjs[(t * 13 + 3 * i) % len(self.adjs)] for i in range(14)]
            place = self.places[(t * 5) % len(self.places)]
            self.topics.append((_zipf(nouns), _zipf(verbs), _zipf(adjs), place))


class _DocWriter:
    def __init__(self, rng, lex):
        self.rng = rng
        self.lex = lex
        self.topic = lex.topics[rng.below(len(lex.topics))]
        self.cast = [rng.pick(lex.names) for _ in range(3)]

    def noun(self):
        nouns = self.topic[0] if self.rng.chance(4, 5) else self.lex.all_nouns
        return nouns.sample(self.rng)

    def verb(self):
        verbs = self.topic[1] if self.rng.chance(3, 4) else self.lex.all_verbs
        return verbs.sample(self.rng)

    def adj(self):
        adjs = self.topic[2] if self.rng.chance(3, 4) else self.lex.all_adjs
        return adjs.sample(self.rng)

    def person(self):
        # Mostly this document's cast: a model that copies earlier names does better.
        return self.rng.pick(self.cast) if self.rng.chance(7, 8) else self.rng.pick(self.lex.names)

    def place(self):
        return self.topic[3] if self.rng.chance(2, 3) else self.rng.pick(self.lex.places)

    def clause(self):
        r = self.rng
        plural = r.chance(1, 3)
        subj = self.noun() + ("s" if plural else "")
        det = r.pick(["the", "some", "many"]) if plural else r.pick(["the", "a", "one"])
        if r.chance(1, 2):
            subj = self.adj() + " " + subj
        verb = self.verb() + ("" if plural else "s")
        obj = self.noun() + ("s" if r.chance(1, 3) else "")
        return f"{det} {subj} {verb} the {obj}"

    def sentence(self):
        r = self.rng
        kind = r.below(10)
        if kind <= 2:
            s = self.clause()
            if r.chance(1, 3):
                s += r.pick([" and ", " but ", " because "]) + self.clause()
            return s[0].upper() + s[1:] + "."
        if kind == 3:
            who, noun = self.person(), self.noun()
            a, b = 1 + r.below(9), 1 + r.below(9)
            return (f"{who} had {_NUMBER_WORDS[a]} {noun}s and found {_NUMBER_WORDS[b]} more, "
                    f"so {who} had {a + b} {noun}s.")
        if kind == 4:
            a, b = r.below(50), r.below(50)
            return f"In {self.place()}, {a} plus {b} is {a + b}."
        if kind == 5:
            return f'{self.person()} said, "{self.clause()}."'
        if kind == 6:
            return f"{self.person()} went to {self.place()} to {self.verb()} the {self.noun()}."
        if kind == 7:
            return f"The {self.noun()} of {self.person()} was {self.adj()} and {self.adj()}."
        if kind == 8:
            n = 2 + r.below(3)
            items = [f"{_ORDINALS[i]}, {self.clause()}." for i in range(n)]
            return " ".join(items)
        return f"{self.person()} and {self.person()} {self.verb()} near {self.place()}."

    def document(self):
        r = self.rng
        c = self.cast
        parts = [f"== The {self.adj()} {self.noun()} of {self.place()} ==\n\n"]
        parts.append(f"This is about {c[0]}, {c[1]} and {c[2]}. ")
        for p in range(2 + r.below(4)):
            if p:
                parts.append("\n\n")
            if r.chance(1, 4):
                for i in range(2 + r.below(4)):
                    parts.append(f"{i + 1}. {self.sentence()}\n")
                continue
            parts.append(" ".join(self.sentence() for _ in range(3 + r.below(5))))
        parts.append("\n\n")
        return "".join(parts)


def generate_synthetic(total_bytes=TRAIN_BYTES + VAL_BYTES, seed=SYNTHETIC_SEED):
    """The embedded corpus: `total_bytes` ASCII bytes, identical for a given seed everywhere."""
    rng = SplitMix64(seed)
    lex = _Lexicon(rng)
    chunks = []
    size = 0
    while size < total_bytes:
        doc = _DocWriter(rng, lex).document()
        chunks.append(doc)
        size += len(doc)
    return "".join(chunks).encode("ascii")[:total_bytes]


# ---------------------------------------------------------------------------------------------
# Cache and identity.


def cache_dir():
    return os.environ.get("SPORE_CACHE_DIR") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), ".cache")


def dataset_name():
    name = os.environ.get("SPORE_DATASET", "").strip() or "synthetic"
    if name not in ("synthetic", WEB_DATASET):
        raise PrepareError(f"unknown SPORE_DATASET {name!r}: use 'synthetic' or '{WEB_DATASET}'")
    return name


def prepare_cid():
    with open(os.path.abspath(__file__), "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _sha256(data):
    return hashlib.sha256(data).hexdigest()


def _atomic_write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _synthetic_path():
    return os.path.join(cache_dir(), f"synthetic-v{SYNTHETIC_VERSION}", "corpus.bin")


def _load_synthetic(create=True):
    path = _synthetic_path()
    expected = TRAIN_BYTES + VAL_BYTES
    if os.path.exists(path):
        with open(path, "rb") as f:
            data = f.read()
        if len(data) == expected:
            return data
    if not create:
        raise PrepareError(f"prepared data missing at {path}: run `python3 prepare.py` first")
    data = generate_synthetic(expected)
    try:
        _atomic_write(path, data)
    except OSError:
        pass  # read-only cache (e.g. inside the sandbox): the data is still correct in memory
    return data


# ---------------------------------------------------------------------------------------------
# Web-text dataset (download + GPT-2 BPE). Only reached when SPORE_DATASET=fineweb-edu.


def _web_shards():
    return [f"shard_{i:05d}.parquet" for i in range(WEB_TRAIN_SHARDS)] + [
        f"shard_{WEB_VAL_SHARD:05d}.parquet"]


def _web_cid():
    ident = json.dumps({"name": WEB_DATASET, "tokenizer": WEB_TOKENIZER, "shards": _web_shards()},
                       sort_keys=True, separators=(",", ":"))
    return _sha256(ident.encode())


def _web_dir():
    return os.path.join(cache_dir(), WEB_DATASET)


def _download(url, path):
    import urllib.error
    import urllib.request
    if os.path.exists(path):
        return
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            data = resp.read()
    except (urllib.error.URLError, OSError) as e:
        raise PrepareError(
            f"cannot download {url}: {e}. The {WEB_DATASET} dataset needs internet access; "
            "unset SPORE_DATASET to use the embedded synthetic corpus") from e
    _atomic_write(path, data)


def _web_tokenizer():
    try:
        import tiktoken
    except ImportError as e:
        raise PrepareError("SPORE_DATASET=fineweb-edu needs `pip install tiktoken pyarrow`") from e
    try:
        return tiktoken.get_encoding(WEB_TOKENIZER)
    except Exception as e:  # tiktoken downloads the BPE files on first use
        raise PrepareError(f"cannot load the {WEB_TOKENIZER} BPE tokenizer (offline?): {e}") from e


def _check_online():
    """Fail fast and clearly when offline, before anything else is attempted."""
    import urllib.error
    import urllib.request
    url = f"{WEB_BASE_URL}/{_web_shards()[0]}"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=20).close()
    except (urllib.error.URLError, OSError) as e:
        raise PrepareError(
            f"cannot reach {url}: {e}. The {WEB_DATASET} dataset is downloaded from Hugging Face "
            "and needs internet access; unset SPORE_DATASET to use the embedded synthetic corpus"
        ) from e


def _prepare_web():
    import array
    if all(os.path.exists(os.path.join(_web_dir(), n))
           for n in ("train.bin", "val.bin", "token_bytes.bin")):
        return
    _check_online()
    try:
        import pyarrow.parquet as pq
    except ImportError as e:
        raise PrepareError("SPORE_DATASET=fineweb-edu needs `pip install tiktoken pyarrow`") from e
    enc = _web_tokenizer()
    root = _web_dir()
    shards = _web_shards()
    for name in shards:
        _download(f"{WEB_BASE_URL}/{name}", os.path.join(root, "raw", name))
    for split, names in (("train", shards[:-1]), ("val", shards[-1:])):
        out = os.path.join(root, f"{split}.bin")
        if os.path.exists(out):
            continue
        tokens = array.array("I")
        for name in names:
            table = pq.read_table(os.path.join(root, "raw", name), columns=["text"])
            for text in table.column("text").to_pylist():
                tokens.append(enc.eot_token)
                tokens.extend(enc.encode_ordinary(text))
        _atomic_write(out, tokens.tobytes())
    lengths = array.array("I", (len(enc.decode_single_token_bytes(i)) for i in range(enc.n_vocab)))
    _atomic_write(os.path.join(root, "token_bytes.bin"), lengths.tobytes())


def _load_web():
    import array
    import torch
    root = _web_dir()
    paths = [os.path.join(root, n) for n in ("train.bin", "val.bin", "token_bytes.bin")]
    if not all(os.path.exists(p) for p in paths):
        raise PrepareError(f"{WEB_DATASET} is not prepared in {root}: run `python3 prepare.py`")
    out = []
    for p in paths:
        a = array.array("I")
        with open(p, "rb") as f:
            a.frombytes(f.read())
        out.append(torch.tensor(a, dtype=torch.int64))
    return out


# ---------------------------------------------------------------------------------------------
# Public API used by train.py.


class Data:
    """Token streams for one dataset. `train`/`val` are 1-D int64 tensors of token ids;
    `token_bytes[i]` is how many UTF-8 bytes token i stands for (for bits per byte)."""

    def __init__(self, name, train, val, vocab_size, token_bytes, cid):
        self.name = name
        self.train = train
        self.val = val
        self.vocab_size = vocab_size
        self.token_bytes = token_bytes
        self.dataset_cid = cid


def load_data():
    """Load the prepared data (generating the synthetic corpus if it is not cached)."""
    import torch
    name = dataset_name()
    if name == "synthetic":
        raw = _load_synthetic(create=True)
        tokens = torch.frombuffer(bytearray(raw), dtype=torch.uint8).to(torch.int64)
        return Data(name, tokens[:TRAIN_BYTES], tokens[TRAIN_BYTES:], 256,
                    torch.ones(256, dtype=torch.int64), _sha256(raw))
    train, val, token_bytes = _load_web()
    return Data(name, train, val, int(token_bytes.numel()), token_bytes, _web_cid())


def dataset_cid():
    """Identity of the data this run trains and evaluates on."""
    if dataset_name() == "synthetic":
        return _sha256(_load_synthetic(create=True))
    return _web_cid()


def batches(data, batch_size, seq_len=MAX_SEQ_LEN, seed=1337, device="cpu"):
    """Endless stream of (x, y) training batches: random windows of the train split drawn by a
    seeded generator, so the same seed gives the same batches on every machine."""
    import torch
    gen = torch.Generator()
    gen.manual_seed(seed)
    n = data.train.numel() - seq_len - 1
    offsets = torch.arange(seq_len + 1)
    while True:
        starts = torch.randint(0, n, (batch_size,), generator=gen)
        window = data.train[starts.unsqueeze(1) + offsets]
        x, y = window[:, :-1], window[:, 1:]
        if device != "cpu":
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
        yield x, y


def evaluate_bpb(model, data, batch_size, device="cpu", seq_len=MAX_SEQ_LEN):
    """Validation bits per byte over the first EVAL_TOKENS tokens of the val split.

    `model(x, y, reduction="none")` must return the per-token cross-entropy in nats, shape (B, T).
    Loss is summed in float64 and divided by the bytes those tokens stand for, so the figure is
    comparable across tokenizers.
    """
    import torch
    windows = EVAL_TOKENS // seq_len
    val = data.val[: windows * seq_len + 1]
    token_bytes = data.token_bytes.to(device)
    total_nats = torch.zeros((), dtype=torch.float64, device=device)
    total_bytes = torch.zeros((), dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for i in range(0, windows, batch_size):
            rows = min(batch_size, windows - i)
            chunk = val[i * seq_len: (i + rows) * seq_len + 1]
            x = chunk[:-1].view(rows, seq_len).to(device)
            y = chunk[1:].view(rows, seq_len).to(device)
            loss = model(x, y, reduction="none").double()
            nbytes = token_bytes[y].double()
            total_nats += (loss * (nbytes > 0)).sum()
            total_bytes += nbytes.sum()
    model.train(was_training)
    return float(total_nats.item() / (math.log(2) * total_bytes.item()))


def prepare():
    """Make the selected dataset ready in the cache and return its description."""
    name = dataset_name()
    if name == "synthetic":
        raw = _load_synthetic(create=True)
        if not os.path.exists(_synthetic_path()):
            raise PrepareError(f"cannot write the prepared data to {_synthetic_path()}")
        return {"dataset": name, "dataset_cid": _sha256(raw), "path": _synthetic_path(),
                "bytes": len(raw)}
    _prepare_web()
    return {"dataset": name, "dataset_cid": _web_cid(), "path": _web_dir()}


def check():
    """Report whether the selected dataset is ready without generating or downloading anything."""
    name = dataset_name()
    if name == "synthetic":
        _load_synthetic(create=False)
    else:
        _load_web()
    return {"dataset": name, "ready": True}


def main(argv):
    try:
        if "--check" in argv:
            info = check()
        elif "--cid" in argv:
            info = {"dataset_cid": dataset_cid(), "prepare_cid": prepare_cid()}
        else:
            info = prepare()
            info.update(prepare_cid=prepare_cid(), time_budget=TIME_BUDGET,
                        max_seq_len=MAX_SEQ_LEN, eval_tokens=EVAL_TOKENS)
    except PrepareError as e:
        print(f"prepare.py: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(info, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
