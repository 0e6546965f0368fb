#include "transformer/state.hpp"

#include <unistd.h>

#include <algorithm>
#include <string>

#include "core/error.hpp"

namespace llama2 {

State::State(const Config& c, int max_positions) : max_positions_(max_positions), n_layers_(c.n_layers), kv_dim_(c.kv_dim()) {
  if (max_positions <= 0 || max_positions > c.seq_len)
    throw Error("context of " + std::to_string(max_positions) + " positions is outside 1.." +
                std::to_string(c.seq_len));
  const std::uint64_t cache = checked_mul(checked_mul(c.n_layers, max_positions, "KV cache"), kv_dim_, "KV cache");
  // Keys and values, 4 bytes each. Refuse what cannot fit in this machine's memory (a hostile
  // header can ask for terabytes) rather than letting the zero-fill below thrash or OOM.
  const std::uint64_t cache_bytes = checked_mul(cache, 8, "KV cache");
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  const std::uint64_t physical =
      pages > 0 && page_size > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page_size)
                                 : (std::uint64_t{1} << 40);
  if (cache_bytes > physical / 2)
    throw Error("KV cache of " + std::to_string(cache_bytes >> 20) + " MiB does not fit in memory (" +
                std::to_string(physical >> 20) + " MiB); use fewer steps (-n)");
  x.resize(c.dim);
  xb.resize(std::max(c.dim, c.q_dim()));
  xb2.resize(c.dim);
  hb.resize(c.hidden_dim);
  hb2.resize(c.hidden_dim);
  q.resize(c.q_dim());
  att.resize(static_cast<std::size_t>(c.n_heads) * max_positions);
  logits.resize(c.vocab_size);
  key_cache.resize(cache);
  value_cache.resize(cache);
}

void State::copy_prefix_from(const State& other, std::int64_t n) {
  if (other.n_layers_ != n_layers_ || other.kv_dim_ != kv_dim_ || n < 0 || n > max_positions_ ||
      n > other.max_positions_)
    throw Error("copy_prefix_from: the states differ in shape, or " + std::to_string(n) + " positions do not fit");
  for (int l = 0; l < n_layers_; ++l) {
    const std::int64_t from = (l * static_cast<std::int64_t>(other.max_positions_)) * kv_dim_;
    const std::int64_t to = (l * static_cast<std::int64_t>(max_positions_)) * kv_dim_;
    std::copy_n(other.key_cache.begin() + from, n * kv_dim_, key_cache.begin() + to);
    std::copy_n(other.value_cache.begin() + from, n * kv_dim_, value_cache.begin() + to);
  }
}

}  // namespace llama2
