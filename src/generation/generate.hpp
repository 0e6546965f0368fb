// The generation loop: feed the prompt, then sample until the step budget or a BOS.
#pragma once
#include <functional>
#include <span>
#include <vector>

#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "transformer/state.hpp"

namespace llama2 {

// Called for every token after the first, with the token before it (decoding needs both).
using TokenCallback = std::function<void(TokenId prev, TokenId next)>;

struct GenerationResult {
  std::vector<TokenId> tokens;   // the prompt, then the generated tokens
  double tokens_per_second = 0;  // as run.c reports it: tokens after the first, timed from
                                 // the end of the first forward pass
};

// What ends a run when nothing else is known: a BOS, the start of the next story (run.c's rule
// for llama2.c models). Tokenizer::generation_stops() gives a vocabulary's own set.
inline constexpr TokenId kStoryEnd[] = {kBosToken};

// Runs llama2.c's generate loop for `steps` positions (the State must hold that many).
// The prompt must be non-empty and no longer than `steps`; its ids must be in the vocab.
// A sampled token in `stops` ends the run (it is not part of the result); so does one inside
// the prompt, right before it.
GenerationResult generate(const Model& model, State& state, Sampler& sampler, std::span<const TokenId> prompt,
                          int steps, ThreadPool& pool, const TokenCallback& on_token = {},
                          std::span<const TokenId> stops = kStoryEnd);

// The checks generate() makes before it runs: a non-empty prompt of ids in the vocabulary that
// fits in `steps`, which fits in the state. Throws Error.
void check_generation_args(const Config& config, const State& state, std::span<const TokenId> prompt, int steps);

// Resolves run.c's -n: 0 or more than the model's context means the whole context.
int resolve_steps(int steps, const Config& config);

}  // namespace llama2
