#include "model/model.hpp"

#include <string>

#include "core/error.hpp"

namespace llama2 {

const char* architecture_name(Architecture a) {
  switch (a) {
    case Architecture::Llama: return "llama";
    case Architecture::Qwen2: return "qwen2";
    case Architecture::Qwen3: return "qwen3";
  }
  return "?";
}

std::optional<Architecture> architecture_from_name(std::string_view name) {
  for (Architecture a : {Architecture::Llama, Architecture::Qwen2, Architecture::Qwen3})
    if (name == architecture_name(a)) return a;
  return std::nullopt;
}

void validate(const Config& c) {
  auto check = [](bool ok, const std::string& msg) {
    if (!ok) throw Error("invalid model header: " + msg);
  };
  // Limits far above any Llama model, low enough that products of them cannot overflow int64.
  check(c.dim > 0 && c.dim <= (1 << 16), "dim " + std::to_string(c.dim) + " out of range");
  check(c.hidden_dim > 0 && c.hidden_dim <= (1 << 18),
        "hidden_dim " + std::to_string(c.hidden_dim) + " out of range");
  check(c.n_layers > 0 && c.n_layers <= 1024, "n_layers " + std::to_string(c.n_layers) + " out of range");
  check(c.n_heads > 0 && c.n_heads <= 1024, "n_heads " + std::to_string(c.n_heads) + " out of range");
  check(c.n_kv_heads > 0 && c.n_kv_heads <= c.n_heads,
        "n_kv_heads " + std::to_string(c.n_kv_heads) + " is not in 1..n_heads (" + std::to_string(c.n_heads) + ")");
  check(c.vocab_size > 0 && c.vocab_size <= (1 << 22),
        "vocab_size " + std::to_string(c.vocab_size) + " out of range");
  check(c.seq_len > 0 && c.seq_len <= (1 << 20), "seq_len " + std::to_string(c.seq_len) + " out of range");
  check(c.head_dim >= 0 && c.head_dim <= 1024, "head_dim " + std::to_string(c.head_dim) + " out of range");
  check(c.head_dim > 0 || c.dim % c.n_heads == 0,
        "dim " + std::to_string(c.dim) + " is not divisible by n_heads " + std::to_string(c.n_heads));
  check(c.head_size() > 0, "head size is zero");
  check(c.n_heads % c.n_kv_heads == 0,
        "n_heads " + std::to_string(c.n_heads) + " is not divisible by n_kv_heads " + std::to_string(c.n_kv_heads));
  check(c.head_size() % 2 == 0, "head size is odd (RoPE rotates pairs)");
  check(c.rope_theta > 0.0f, "RoPE base must be positive");
  check(c.rope_scale > 0.0f && c.rope_scale <= 1.0f, "RoPE scale must be in (0, 1]");
  check(c.norm_eps > 0.0f && c.norm_eps < 1.0f, "RMS epsilon out of range");
}


std::uint64_t Model::weight_bytes_per_token() const {
  std::uint64_t total = weights_.token_embedding.bytes() / weights_.token_embedding.rows;
  for (const auto& l : weights_.layers) {
    total += (l.rms_att.size() + l.rms_ffn.size() + l.bq.size() + l.bk.size() + l.bv.size() + l.q_norm.size() +
              l.k_norm.size()) * 4;
    for (const Tensor* t : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w1, &l.w2, &l.w3}) total += t->bytes();
  }
  return total + weights_.rms_final.size() * 4 + weights_.wcls.bytes();
}

}  // namespace llama2
