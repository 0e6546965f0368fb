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

}  // namespace llama2
