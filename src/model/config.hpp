// The hyperparameters of a Llama-family transformer.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace llama2 {

// The Llama-family variants this engine runs (GGUF general.architecture). They share the
// block structure; Qwen2 adds q/k/v biases, Qwen3 a per-head RMSNorm of q and k, and both
// rotate NeoX pairs.
enum class Architecture { Llama, Qwen2, Qwen3 };
const char* architecture_name(Architecture a);
// The Architecture spelled `name` ("qwen2"), or nothing for one this engine does not run.
std::optional<Architecture> architecture_from_name(std::string_view name);

struct Config {
  Architecture arch = Architecture::Llama;
  int dim = 0;         // width of the residual stream
  int hidden_dim = 0;  // width of the feed-forward (SwiGLU) layer
  int n_layers = 0;
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // key/value heads (< n_heads: grouped-query attention)
  int vocab_size = 0;
  int seq_len = 0;     // maximum context length
  // llama2.c hard-codes these two; GGUF files carry their own.
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;
  int head_dim = 0;            // width of one head, when it is not dim / n_heads (Qwen3: 128)
  float rope_scale = 1.0f;     // linear RoPE scaling: positions times this (1 / factor)

  int head_size() const { return head_dim > 0 ? head_dim : dim / n_heads; }
  int q_dim() const { return n_heads * head_size(); }  // width of the queries (dim unless head_dim)
  bool rope_neox() const { return arch != Architecture::Llama; }
  int kv_dim() const { return n_kv_heads * head_size(); }
  // How many query heads share one key/value head.
  int kv_group() const { return n_heads / n_kv_heads; }
};

// Throws Error unless every dimension is positive, consistent, and below sane limits.
void validate(const Config& c);

}  // namespace llama2
