// ============================================================================
// The Llama transformer, one token at a time. Each line is one equation of the
// model; docs/model-walkthrough.md gives the formulas.
// ============================================================================
#include "transformer/transformer.hpp"

#include <string>

#include "core/error.hpp"
#include "kernels/ops.hpp"

namespace llama2 {

namespace {

// Multi-head attention for one layer at position `pos`, heads spread over the pool.
// Query head h reads key/value head h / kv_group (grouped-query attention).
void attention(const Config& c, State& s, int layer, Position pos, ThreadPool& pool) {
  const int head_size = c.head_size();
  const std::int64_t kv_dim = c.kv_dim();
  const int n_pos = pos + 1;
  const float* keys = s.key(layer, 0);
  const float* values = s.value(layer, 0);
  pool.parallel_for(c.n_heads, 1, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t h = begin; h < end; ++h) {
      const std::int64_t kv_offset = (h / c.kv_group()) * head_size;
      ops::attention_head(s.q.data() + h * head_size, keys + kv_offset, values + kv_offset, kv_dim, head_size,
                          n_pos, s.att.data() + h * s.max_positions(), s.xb.data() + h * head_size);
    }
  });
}

}  // namespace

std::span<const float> forward(const Model& model, State& s, TokenId token, Position pos, ThreadPool& pool) {
  const Config& c = model.config();
  const Weights& w = model.weights();
  if (token < 0 || token >= c.vocab_size)
    throw Error("token id " + std::to_string(token) + " is outside the vocabulary (0.." +
                std::to_string(c.vocab_size - 1) + ")");
  if (pos < 0 || pos >= s.max_positions())
    throw Error("position " + std::to_string(pos) + " is outside the context of " +
                std::to_string(s.max_positions()));
  const int dim = c.dim, kv_dim = c.kv_dim(), hidden = c.hidden_dim;

  // x = token_embedding[token]
  dequantize_row(w.token_embedding, token, s.x.data());

  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& lw = w.layers[l];

    // ---- attention block ----
    // xb = rmsnorm(x) * rms_att
    ops::rmsnorm(s.xb.data(), s.x.data(), lw.rms_att.data(), dim, c.norm_eps);
    // q = Wq xb; k, v = Wk xb, Wv xb written straight into this position's cache rows
    float* k = s.key(l, pos);
    float* v = s.value(l, pos);
    const ops::MatvecOutput qkv[] = {{&lw.wq, s.q.data()}, {&lw.wk, k}, {&lw.wv, v}};
    ops::matvec_shared(qkv, s.xb.data(), pool);
    // rotate q and k by their position (RoPE)
    ops::rope(s.q.data(), dim, c.head_size(), pos, c.rope_theta);
    ops::rope(k, kv_dim, c.head_size(), pos, c.rope_theta);
    // xb = concat over heads of softmax(q k^T / sqrt(d)) v
    attention(c, s, l, pos, pool);
    // x += Wo xb
    ops::matvec(lw.wo, s.xb.data(), s.xb2.data(), pool);
    for (int i = 0; i < dim; ++i) s.x[i] += s.xb2[i];

    // ---- feed-forward block (SwiGLU) ----
    // xb = rmsnorm(x) * rms_ffn
    ops::rmsnorm(s.xb.data(), s.x.data(), lw.rms_ffn.data(), dim, c.norm_eps);
    // hb = silu(W1 xb) * (W3 xb)
    const ops::MatvecOutput gate_up[] = {{&lw.w1, s.hb.data()}, {&lw.w3, s.hb2.data()}};
    ops::matvec_shared(gate_up, s.xb.data(), pool);
    ops::swiglu(s.hb.data(), s.hb2.data(), hidden);
    // x += W2 hb
    ops::matvec(lw.w2, s.hb.data(), s.xb.data(), pool);
    for (int i = 0; i < dim; ++i) s.x[i] += s.xb[i];
  }

  // logits = Wcls rmsnorm(x) * rms_final
  ops::rmsnorm(s.x.data(), s.x.data(), w.rms_final.data(), dim, c.norm_eps);
  ops::matvec(w.wcls, s.x.data(), s.logits.data(), pool);
  return s.logits;
}

}  // namespace llama2
