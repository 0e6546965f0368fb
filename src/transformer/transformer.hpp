// The forward pass: one token in, next-token logits out.
#pragma once
#include <span>

#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "model/model.hpp"
#include "transformer/state.hpp"

namespace llama2 {

// Runs `token` at position `pos` through the model, appending its keys and values to the
// state's cache, and returns the logits for the next token (a view into state.logits).
// Requires 0 <= token < vocab_size and 0 <= pos < state.max_positions().
std::span<const float> forward(const Model& model, State& state, TokenId token, Position pos, ThreadPool& pool);

// ---- shared by forward and forward_batch ----

// How this model's RoPE turns each head: base, NeoX or Meta pairs, linear scaling, and the
// Llama 3.1+ frequency factors (rope_freqs.weight) when the file has them.
RopeSpec rope_spec(const Model& model);

// The per-token steps between the q/k/v products and attention, for one token at `pos`:
// add the biases (Qwen2), RMS-normalise each head of q and k (Qwen3), rotate q and k (RoPE).
// q is [q_dim], k and v [kv_dim].
void finish_qkv(const Config& c, const LayerWeights& lw, const RopeSpec& rope, Position pos, float* q, float* k,
                float* v);

}  // namespace llama2
