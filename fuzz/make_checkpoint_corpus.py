#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_checkpoint: tiny llama2.c checkpoints (a few KB in all).

One file per layout the loader has a separate path for: version 0 shared and unshared
classifier, version 1 shared and unshared, version 2 with groups that fit the rows and with
groups that straddle them (regrouped scales), and one truncated file. Deterministic, so
re-running it leaves the corpus unchanged:  python3 fuzz/make_checkpoint_corpus.py
"""
import os
import random
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_checkpoint")
MAGIC = 0x616B3432


def floats(rnd, n):
    # Small values keep activations finite, so the fuzzer starts from a sane forward pass.
    return struct.pack("<%df" % n, *[rnd.uniform(-0.5, 0.5) for _ in range(n)])


def shapes(dim, hidden, layers, heads, kv_heads, vocab):
    kv_dim = kv_heads * (dim // heads)
    return {
        "emb": vocab * dim,
        "norm": layers * dim,
        "wq": [dim * dim] * layers,
        "wk": [kv_dim * dim] * layers,
        "wv": [kv_dim * dim] * layers,
        "wo": [dim * dim] * layers,
        "w1": [hidden * dim] * layers,
        "w2": [dim * hidden] * layers,
        "w3": [hidden * dim] * layers,
    }


def header7(dim, hidden, layers, heads, kv_heads, vocab, seq):
    return struct.pack("<7i", dim, hidden, layers, heads, kv_heads, vocab, seq)


def v0(shape, shared, seed):
    dim, hidden, layers, heads, kv_heads, vocab, seq = shape
    rnd = random.Random(seed)
    s = shapes(dim, hidden, layers, heads, kv_heads, vocab)
    out = header7(dim, hidden, layers, heads, kv_heads, vocab if shared else -vocab, seq)
    out += floats(rnd, s["emb"]) + floats(rnd, s["norm"])
    for kind in ("wq", "wk", "wv", "wo"):
        out += floats(rnd, sum(s[kind]))
    out += floats(rnd, s["norm"])
    for kind in ("w1", "w2", "w3"):
        out += floats(rnd, sum(s[kind]))
    out += floats(rnd, dim)  # rms_final
    out += floats(rnd, seq * (dim // heads))  # freq_cis real + imag
    if not shared:
        out += floats(rnd, s["emb"])
    return out


def padded_header(version, shape, shared, extra=b""):
    h = struct.pack("<Ii", MAGIC, version) + header7(*shape) + struct.pack("<B", int(shared)) + extra
    return h + b"\0" * (256 - len(h))


def v1(shape, shared, seed):
    dim, hidden, layers, heads, kv_heads, vocab, seq = shape
    rnd = random.Random(seed)
    s = shapes(dim, hidden, layers, heads, kv_heads, vocab)
    out = padded_header(1, shape, shared)
    out += floats(rnd, s["norm"]) + floats(rnd, s["norm"]) + floats(rnd, dim) + floats(rnd, s["emb"])
    for kind in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        out += floats(rnd, sum(s[kind]))
    if not shared:
        out += floats(rnd, s["emb"])
    return out


def q8(rnd, n, gs):
    values = struct.pack("<%db" % n, *[rnd.randint(-127, 127) for _ in range(n)])
    scales = struct.pack("<%df" % (n // gs), *[rnd.uniform(0.001, 0.01) for _ in range(n // gs)])
    return values + scales


def v2(shape, shared, gs, seed):
    dim, hidden, layers, heads, kv_heads, vocab, seq = shape
    rnd = random.Random(seed)
    s = shapes(dim, hidden, layers, heads, kv_heads, vocab)
    out = padded_header(2, shape, shared, struct.pack("<i", gs))
    out += floats(rnd, s["norm"]) + floats(rnd, s["norm"]) + floats(rnd, dim)
    out += q8(rnd, s["emb"], gs)
    for kind in ("wq", "wk", "wv", "wo", "w1", "w2", "w3"):
        for n in s[kind]:
            out += q8(rnd, n, gs)
    if not shared:
        out += q8(rnd, s["emb"], gs)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    # (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len)
    two_layer_gqa = (8, 8, 2, 2, 1, 8, 4)  # grouped-query attention, head size 4
    tiny = (4, 4, 1, 1, 1, 4, 2)
    odd_hidden = (4, 6, 1, 2, 1, 4, 2)  # head size 2; w2 rows of 6 straddle groups of 4
    files = {
        "v0_shared_2layer_gqa": v0(two_layer_gqa, True, 1),
        "v0_unshared_tiny": v0(tiny, False, 2),
        "v1_shared_tiny": v1(tiny, True, 3),
        "v1_unshared_tiny": v1(tiny, False, 4),
        "v2_shared_gs2": v2(tiny, True, 2, 5),
        "v2_unshared_straddling_groups": v2(odd_hidden, False, 4, 6),
    }
    files["v0_truncated"] = files["v0_unshared_tiny"][:-5]
    for name, data in files.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
