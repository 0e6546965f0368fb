// Small strong-ish types shared by every stage of the pipeline.
#pragma once
#include <cstdint>

namespace llama2 {

// A token id in the model's vocabulary (0 .. vocab_size-1).
using TokenId = std::int32_t;
// A position in the context window (0 .. seq_len-1).
using Position = std::int32_t;

// Fixed ids of the Llama tokenizer family (llama2.c hard-codes these; GGUF files may override).
inline constexpr TokenId kUnkToken = 0;
inline constexpr TokenId kBosToken = 1;
inline constexpr TokenId kEosToken = 2;

// How RoPE rotates each head: the angle of pair i (of head_size/2) at position pos is
//   pos * position_scale * theta^(-2i/head_size) / freq_factors[i].
struct RopeSpec {
  float theta = 10000.0f;
  // Which dimensions form pair i: (2i, 2i+1) as Meta's Llama (and llama2.c, and GGUF "llama"),
  // or (i, i + head_size/2) as GPT-NeoX (GGUF "qwen2", "qwen3", whose wq/wk are not permuted).
  bool neox = false;
  float position_scale = 1.0f;             // linear RoPE scaling: 1 / factor
  const float* freq_factors = nullptr;     // [head_size/2] or null: Llama 3.1+ long-context factors
};

}  // namespace llama2
