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

}  // namespace llama2
