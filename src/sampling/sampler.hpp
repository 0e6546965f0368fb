// Picks the next token from the logits: greedy, plain sampling, or nucleus (top-p) sampling,
// exactly as llama2.c does so that a seed reproduces the reference's tokens.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "core/types.hpp"
#include "sampling/rng.hpp"

namespace llama2 {

struct SamplerSettings {
  float temperature = 1.0f;  // 0 = greedy
  float topp = 0.9f;         // nucleus mass; <= 0 or >= 1 disables top-p
  std::uint64_t seed = 0;    // 0 = from the clock (as run.c)
};

// Throws UsageError unless temperature >= 0 and 0 <= topp <= 1.
void validate(const SamplerSettings& s);

// A seed from the clock, for seed 0 (never returns 0).
std::uint64_t seed_from_clock();

class Sampler {
 public:
  Sampler(int vocab_size, SamplerSettings settings);

  // Consumes `logits` (modified in place: scaled and softmaxed) and returns the next token.
  TokenId sample(std::span<float> logits);

  // Advances the random stream as `n` calls of sample() would, without logits. run.c's chat
  // loop samples (and discards) after every prompt token; this keeps our stream in step.
  void skip_draws(int n);

  const SamplerSettings& settings() const { return settings_; }

 private:
  TokenId sample_topp(std::span<const float> probs, float coin);

  SamplerSettings settings_;
  Rng rng_;
  std::vector<std::pair<float, TokenId>> candidates_;  // scratch for top-p
};

// Two of the reference's pickers (the third, top-p, needs the sampler's scratch), for tests.
TokenId sample_argmax(std::span<const float> logits);
TokenId sample_cdf(std::span<const float> probs, float coin);

}  // namespace llama2
