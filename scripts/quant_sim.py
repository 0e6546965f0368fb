#!/usr/bin/env python3
# ============================================================================
# Where stories260K's q8_0 loss comes from: weight rounding vs activation rounding.
#
# A numpy re-implementation of the forward pass (float64), run over the golden token ids,
# with Q8_0-style rounding (round to nearest, one scale = max|x|/127 per block) applied to
# the weights, to the activations entering each matrix product (as the int8 kernels do), or
# to both. "both" reproduces `llama2 perplexity q8_0.gguf --kl-divergence stories260K.bin`
# (88.2 %), which checks the simulation; the other rows are what the engine cannot run.
# Not part of the build or the tests. Needs python3-numpy (Debian).
#   usage: scripts/quant_sim.py [SHARED_DIR]   (default: $LLAMA2_TEST_DATA, else ../shared beside the repo)
# ============================================================================
import json
import os
import struct
import sys

import numpy as np

shared = (sys.argv[1] if len(sys.argv) > 1 else
          os.environ.get("LLAMA2_TEST_DATA") or os.path.join(os.path.dirname(__file__), "..", "..", "shared"))

# ---------------------------------------------------------------- the checkpoint (version 0)
raw = open(os.path.join(shared, "models", "stories260K.bin"), "rb").read()
dim, hidden, n_layers, n_heads, n_kv, vocab, seq_len = struct.unpack("7i", raw[:28])
floats = np.frombuffer(raw[28:], dtype=np.float32)
head = dim // n_heads
offset = 0


def take(*shape):
    global offset
    n = int(np.prod(shape))
    a = floats[offset:offset + n].reshape(shape).astype(np.float64)
    offset += n
    return a


W = dict(emb=take(abs(vocab), dim), rms_att=take(n_layers, dim), wq=take(n_layers, dim, dim),
         wk=take(n_layers, n_kv * head, dim), wv=take(n_layers, n_kv * head, dim), wo=take(n_layers, dim, dim),
         rms_ffn=take(n_layers, dim), w1=take(n_layers, hidden, dim), w2=take(n_layers, dim, hidden),
         w3=take(n_layers, hidden, dim), rms_final=take(dim))
MATRICES = ["wq", "wk", "wv", "wo", "w1", "w3", "emb"]  # w2's rows (172) do not fit blocks of 32: f16 in a q8_0 file


# ---------------------------------------------------------------- Q8_0-style rounding
def q8(x, block=32, f16_scale=False):
    """Rounds each row of x in blocks of `block` values (a short last block is padded).
    Q8_0 files keep each block's scale as f16; the kernels keep the activations' in fp32."""
    rows = x.reshape(-1, x.shape[-1])
    pad = (-rows.shape[1]) % block
    blocks = np.concatenate([rows, np.zeros((rows.shape[0], pad))], 1).reshape(rows.shape[0], -1, block)
    d = np.abs(blocks).max(-1, keepdims=True) / 127
    if f16_scale:  # rounded up, as quantize_q8_0 does, so that no value passes 127
        h = d.astype(np.float16)
        h = np.where(h.astype(np.float64) < d, np.nextafter(h, np.float16(np.inf)), h)
        d = h.astype(np.float64)
    q = np.clip(np.round(blocks / np.where(d == 0, 1, d)), -127, 127) * d
    return q.reshape(rows.shape[0], -1)[:, :rows.shape[1]].reshape(x.shape)


# ---------------------------------------------------------------- the forward pass
def rmsnorm(x, w):
    return w * x / np.sqrt(np.mean(x * x, -1, keepdims=True) + 1e-5)


def logits(w, tokens, act):
    """Every position's logits; act() rounds each matrix product's input."""
    T = len(tokens)
    x = w["emb"][tokens]
    angle = np.arange(T)[:, None] * 10000.0 ** (-np.arange(0, head, 2)[None, :] / head)
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]

    def rope(v):
        out = np.empty_like(v)
        out[..., 0::2] = v[..., 0::2] * cos - v[..., 1::2] * sin
        out[..., 1::2] = v[..., 0::2] * sin + v[..., 1::2] * cos
        return out

    causal = np.triu(np.full((T, T), -np.inf), 1)
    for l in range(n_layers):
        h = act(rmsnorm(x, w["rms_att"][l]))
        q = rope((h @ w["wq"][l].T).reshape(T, n_heads, head))
        k = np.repeat(rope((h @ w["wk"][l].T).reshape(T, n_kv, head)), n_heads // n_kv, 1)
        v = np.repeat((h @ w["wv"][l].T).reshape(T, n_kv, head), n_heads // n_kv, 1)
        att = np.einsum("thd,shd->hts", q, k) / np.sqrt(head) + causal
        att = np.exp(att - att.max(-1, keepdims=True))
        att /= att.sum(-1, keepdims=True)
        x = x + act(np.einsum("hts,shd->thd", att, v).reshape(T, dim)) @ w["wo"][l].T
        h = act(rmsnorm(x, w["rms_ffn"][l]))
        a, b = h @ w["w1"][l].T, h @ w["w3"][l].T
        x = x + (a / (1 + np.exp(-a)) * b) @ w["w2"][l].T  # w2 is f16: fp32 input
    return act(rmsnorm(x, w["rms_final"])) @ w["emb"].T


# ---------------------------------------------------------------- scoring against fp32
cases = json.load(open(os.path.join(shared, "golden", "stories260K.json")))["cases"]


def log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def run(w, act):
    return [log_softmax(logits(w, c["tokens"], act)[:-1]) for c in cases]


def report(name, base, new):
    kl, agree, nll_base, nll_new = [], [], [], []
    for c, pb, pn in zip(cases, base, new):
        nxt = np.array(c["tokens"][1:])
        kl += list((np.exp(pb) * (pb - pn)).sum(-1))
        agree += list(pb.argmax(-1) == pn.argmax(-1))
        nll_base += list(-pb[np.arange(len(nxt)), nxt])
        nll_new += list(-pn[np.arange(len(nxt)), nxt])
    ppl = np.exp(np.mean(nll_new) - np.mean(nll_base)) - 1
    print(f"| {name} | {100 * ppl:+.2f} % | {np.mean(kl):.4f} | {100 * np.mean(agree):.1f} % |")


exact = lambda x: x
q8_weights = dict(W, **{k: q8(W[k], f16_scale=True) for k in MATRICES})
base = run(W, exact)
print("| rounded (Q8_0 style, blocks of 32) | perplexity | mean KL (nats) | top-1 agreement |")
print("|---|---|---|---|")
report("weights and activations (the engine's q8_0)", base, run(q8_weights, q8))
report("weights only", base, run(q8_weights, exact))
report("activations only (fp32 weights)", base, run(W, q8))
report("activations only, blocks of 8", base, run(W, lambda x: q8(x, 8)))
report("weights only, blocks of 8", base, run(dict(W, **{k: q8(W[k], 8, True) for k in MATRICES}), exact))
