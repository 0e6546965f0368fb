// ============================================================================
// The Llama transformer, one token at a time. Each line is one equation of the
// model; docs/model-walkthrough.md gives the formulas.
// ============================================================================
#include "transformer/transformer.hpp"

#include <span>
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

// x += b, when the model has this bias.
void add_bias(float* x, std::span<const float> b) {
  for (std::size_t i = 0; i < b.size(); ++i) x[i] += b[i];
}

// Each head of x (n_heads of head_size) = rmsnorm(head) * weight, when the model has it.
void norm_heads(float* x, int n_heads, int head_size, std::span<const float> weight, float eps) {
  if (weight.empty()) return;
  for (int h = 0; h < n_heads; ++h) ops::rmsnorm(x + h * head_size, x + h * head_size, weight.data(), head_size, eps);
}

}  // namespace

RopeSpec rope_spec(const Model& model) {
  const Config& c = model.config();
  RopeSpec spec;
  spec.theta = c.rope_theta;
  spec.neox = c.rope_neox();
  spec.position_scale = c.rope_scale;
  if (!model.weights().rope_freqs.empty()) spec.freq_factors = model.weights().rope_freqs.data();
  return spec;
}

void finish_qkv(const Config& c, const LayerWeights& lw, const RopeSpec& rope, Position pos, float* q, float* k,
                float* v) {
  const int head_size = c.head_size();
  add_bias(q, lw.bq);
  add_bias(k, lw.bk);
  add_bias(v, lw.bv);
  norm_heads(q, c.n_heads, head_size, lw.q_norm, c.norm_eps);
  norm_heads(k, c.n_kv_heads, head_size, lw.k_norm, c.norm_eps);
  ops::rope(q, c.q_dim(), head_size, pos, rope);
  ops::rope(k, c.kv_dim(), head_size, pos, rope);
}

std::span<const float> forward(const Model& model, State& s, TokenId token, Position pos, ThreadPool& pool) {
  const Config& c = model.config();
  const Weights& w = model.weights();
  if (token < 0 || token >= c.vocab_size)
    throw Error("token id " + std::to_string(token) + " is outside the vocabulary (0.." +
                std::to_string(c.vocab_size - 1) + ")");
  if (pos < 0 || pos >= s.max_positions())
    throw Error("position " + std::to_string(pos) + " is outside the context of " +
                std::to_string(s.max_positions()));
  const int dim = c.dim, hidden = c.hidden_dim;
  const RopeSpec rope = rope_spec(model);

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
    // biases, q/k norms where the architecture has them; rotate q and k by their position (RoPE)
    finish_qkv(c, lw, rope, pos, s.q.data(), k, v);
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
