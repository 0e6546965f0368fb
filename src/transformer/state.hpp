// Everything that changes while a sequence is generated: activations and the KV cache.
// One State per sequence; many States can share one immutable Model (the server does).
#pragma once
#include <cstdint>
#include <vector>

#include "core/zeroed_allocator.hpp"
#include "model/config.hpp"

namespace llama2 {

class State {
 public:
  // Room for `max_positions` tokens of context (at most config.seq_len; the KV cache is
  // sized by it, so a short run does not pay for the model's whole context).
  State(const Config& config, int max_positions);

  int max_positions() const { return max_positions_; }

  // KV cache rows: [layer][position][kv_dim].
  float* key(int layer, std::int64_t pos) { return key_cache.data() + (layer * max_positions_ + pos) * kv_dim_; }
  float* value(int layer, std::int64_t pos) {
    return value_cache.data() + (layer * max_positions_ + pos) * kv_dim_;
  }

  // Copies the keys and values of positions [0, n) from `other` (a State of the same model and
  // size): n > 1 choices of one prompt share its prefill this way.
  void copy_prefix_from(const State& other, std::int64_t n);

  std::vector<float> x;       // residual stream [dim]
  std::vector<float> xb;      // normed input [dim] / attention output [q_dim]
  std::vector<float> xb2;     // projection output [dim]
  std::vector<float> hb;      // feed-forward gate [hidden_dim]
  std::vector<float> hb2;     // feed-forward up [hidden_dim]
  std::vector<float> q;       // query [q_dim]
  std::vector<float> att;     // attention scores [n_heads][max_positions]
  std::vector<float> logits;  // [vocab_size]
  // [layer][position][kv_dim] each. Zero pages until written (ZeroedAllocator): a long context
  // costs memory and page faults only for the positions a sequence reaches.
  std::vector<float, ZeroedAllocator<float>> key_cache;
  std::vector<float, ZeroedAllocator<float>> value_cache;

 private:
  int max_positions_;
  int n_layers_;
  std::int64_t kv_dim_;
};

}  // namespace llama2
