#include "sampling/sampler.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "core/error.hpp"
#include "kernels/ops.hpp"
#include "kernels/reference.hpp"

namespace llama2 {

void validate(const SamplerSettings& s) {
  if (!(s.temperature >= 0.0f) || !std::isfinite(s.temperature))
    throw UsageError("temperature must be >= 0, got " + std::to_string(s.temperature));
  if (!(s.topp >= 0.0f && s.topp <= 1.0f))
    throw UsageError("top-p must be in [0, 1], got " + std::to_string(s.topp));
}

std::uint64_t seed_from_clock() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto s = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  return s == 0 ? 1 : s;
}

Sampler::Sampler(int vocab_size, SamplerSettings settings)
    : settings_(settings), rng_(settings.seed == 0 ? seed_from_clock() : settings.seed) {
  validate(settings);
  candidates_.reserve(vocab_size);
}

TokenId sample_argmax(std::span<const float> logits) {
  // The first largest logit (reference::argmax is the plain loop), vectorised: greedy
  // decoding scans the whole vocabulary every token.
  return static_cast<TokenId>(ops::argmax(logits.data(), static_cast<std::int64_t>(logits.size())));
}

TokenId sample_cdf(std::span<const float> probs, float coin) {
  float cdf = 0.0f;
  for (std::size_t i = 0; i < probs.size(); ++i) {
    cdf += probs[i];
    if (coin < cdf) return static_cast<TokenId>(i);
  }
  return static_cast<TokenId>(probs.size() - 1);  // rounding left the total below the coin
}

TokenId Sampler::sample_topp(std::span<const float> probs, float coin) {
  // Ids below this probability cannot be in the nucleus; dropping them first makes the sort
  // cheap (the reference's own trick, kept so the kept set is identical).
  const int n = static_cast<int>(probs.size());
  const float cutoff = (1.0f - settings_.topp) / static_cast<float>(n - 1);
  candidates_.clear();
  for (int i = 0; i < n; ++i)
    if (probs[i] >= cutoff) candidates_.emplace_back(probs[i], i);
  // Possible only for a near-uniform distribution with a tiny topp (or a 1-token vocab,
  // where the cutoff divides by zero): no id qualifies, so sample from all of them.
  if (candidates_.empty()) return sample_cdf(probs, coin);
  // Largest probability first; equal probabilities by lower id, so runs are repeatable.
  std::sort(candidates_.begin(), candidates_.end(),
            [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  // The shortest prefix whose mass exceeds topp (all candidates if none does).
  float mass = 0.0f;
  std::size_t last = candidates_.size() - 1;
  for (std::size_t i = 0; i < candidates_.size(); ++i) {
    mass += candidates_[i].first;
    if (mass > settings_.topp) {
      last = i;
      break;
    }
  }
  const float r = coin * mass;
  float cdf = 0.0f;
  for (std::size_t i = 0; i <= last; ++i) {
    cdf += candidates_[i].first;
    if (r < cdf) return candidates_[i].second;
  }
  return candidates_[last].second;
}

void Sampler::skip_draws(int n) {
  if (settings_.temperature == 0.0f) return;  // greedy sampling draws nothing
  for (int i = 0; i < n; ++i) rng_.next_f32();
}

TokenId Sampler::sample(std::span<float> logits) {
  if (settings_.temperature == 0.0f) return sample_argmax(logits);
  for (float& l : logits) l /= settings_.temperature;
  reference::softmax(logits.data(), static_cast<int>(logits.size()));
  const float coin = rng_.next_f32();
  if (settings_.topp <= 0.0f || settings_.topp >= 1.0f) return sample_cdf(logits, coin);
  return sample_topp(logits, coin);
}

}  // namespace llama2
