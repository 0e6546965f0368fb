#include "transformer/state.hpp"

#include <string>

#include "core/error.hpp"

namespace llama2 {

State::State(const Config& c, int max_positions) : max_positions_(max_positions), kv_dim_(c.kv_dim()) {
  if (max_positions <= 0 || max_positions > c.seq_len)
    throw Error("context of " + std::to_string(max_positions) + " positions is outside 1.." +
                std::to_string(c.seq_len));
  const std::uint64_t cache = checked_mul(checked_mul(c.n_layers, max_positions, "KV cache"), kv_dim_, "KV cache");
  if (cache > (std::uint64_t{1} << 34))  // 64 GiB of floats: more than any machine we run on
    throw Error("KV cache of " + std::to_string(cache * 8 >> 20) + " MiB is too large; use fewer steps (-n)");
  x.resize(c.dim);
  xb.resize(c.dim);
  xb2.resize(c.dim);
  hb.resize(c.hidden_dim);
  hb2.resize(c.hidden_dim);
  q.resize(c.dim);
  att.resize(static_cast<std::size_t>(c.n_heads) * max_positions);
  logits.resize(c.vocab_size);
  key_cache.resize(cache);
  value_cache.resize(cache);
}

}  // namespace llama2
