// Picks the next token from the logits: greedy, plain sampling, or nucleus (top-p) sampling,
// exactly as llama2.c does so that a seed reproduces the reference's tokens. The controls
// llama.cpp and the OpenAI API add (logit bias, repetition penalties, top-k, min-p) are off by
// default; left off, the sampler is the reference's, draw for draw.
#pragma once
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "core/types.hpp"
#include "sampling/rng.hpp"

namespace llama2 {

struct SamplerSettings {
  // run.c's three settings, in its order (the rest are set by name).
  SamplerSettings(float temperature = 1.0f, float topp = 0.9f, std::uint64_t seed = 0)
      : temperature(temperature), topp(topp), seed(seed) {}

  float temperature = 1.0f;  // 0 = greedy
  float topp = 0.9f;         // nucleus mass; <= 0 or >= 1 disables top-p
  std::uint64_t seed = 0;    // 0 = from the clock (as run.c)

  // Applied in this order, as llama.cpp does: bias and penalties to the logits, then (when
  // sampling) top-k, temperature, softmax, min-p and top-p.
  std::vector<std::pair<TokenId, float>> logit_bias;  // added to those tokens' logits
  float repeat_penalty = 1.0f;     // recent tokens' logits: positive / this, negative * this; 1 = off
  float presence_penalty = 0.0f;   // subtracted from every recent token's logit (OpenAI's)
  float frequency_penalty = 0.0f;  // subtracted once per occurrence (OpenAI's)
  int penalty_last_n = 64;         // the window of recent tokens the penalties see; -1 = all
  int top_k = 0;                   // keep the k most likely tokens; 0 = all
  float min_p = 0.0f;              // drop tokens below min_p * the top probability; 0 = off

  bool penalizes() const {
    return penalty_last_n != 0 && (repeat_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f);
  }
};

// Throws UsageError unless temperature >= 0, 0 <= topp <= 1, top_k >= 0, 0 <= min_p <= 1,
// repeat_penalty > 0, presence/frequency penalties in [-2, 2], penalty_last_n >= -1, and
// every biased id is in the vocabulary with a finite bias.
void validate(const SamplerSettings& s, int vocab_size = std::numeric_limits<int>::max());

// A seed from the clock, for seed 0 (never returns 0).
std::uint64_t seed_from_clock();

class Sampler {
 public:
  Sampler(int vocab_size, SamplerSettings settings);

  // Consumes `logits` (modified in place: scaled and softmaxed) and returns the next token:
  // adjust() then pick().
  TokenId sample(std::span<float> logits);

  // The token fed at the next position (prompt or reply): what the penalties look back on.
  // A no-op unless a penalty is set.
  void accept(TokenId token);
  // Logit bias and penalties, in place. What a constraint masks and logprobs report comes
  // after this and before pick().
  void adjust(std::span<float> logits) const;
  // Greedy, or top-k / temperature / min-p / top-p and one draw; consumes `logits`.
  TokenId pick(std::span<float> logits);

  // Advances the random stream as `n` calls of sample() would, without logits. run.c's chat
  // loop samples (and discards) after every prompt token; this keeps our stream in step.
  void skip_draws(int n);

  const SamplerSettings& settings() const { return settings_; }

 private:
  TokenId sample_topp(std::span<const float> probs, float coin);
  TokenId pick_truncated(std::span<float> logits);  // top-k and/or min-p set


  SamplerSettings settings_;
  Rng rng_;
  std::vector<std::pair<float, TokenId>> candidates_;  // scratch for top-p and top-k
  std::vector<TokenId> history_;                       // accepted tokens (penalties only)
};

// Two of the reference's pickers (the third, top-p, needs the sampler's scratch), for tests.
TokenId sample_argmax(std::span<const float> logits);
TokenId sample_cdf(std::span<const float> probs, float coin);

// The log-probabilities the API reports for one position: of `chosen` and of the `top` most
// likely tokens (most likely first, ties by lower id), from log-softmax(logits).
struct TokenLogprobs {
  float chosen = 0.0f;
  std::vector<std::pair<TokenId, float>> top;
};
TokenLogprobs token_logprobs(std::span<const float> logits, TokenId chosen, int top);

}  // namespace llama2
