#include "sampling/sampler.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>

#include "core/error.hpp"
#include "kernels/ops.hpp"
#include "kernels/fp32/reference.hpp"

namespace llama2 {

namespace {
// Largest value first; equal values by lower id, so runs are repeatable.
bool more_likely(const std::pair<float, TokenId>& a, const std::pair<float, TokenId>& b) {
  return a.first > b.first || (a.first == b.first && a.second < b.second);
}
}  // namespace

void validate(const SamplerSettings& s, int vocab_size) {
  if (!(s.temperature >= 0.0f) || !std::isfinite(s.temperature))
    throw UsageError("temperature must be >= 0, got " + std::to_string(s.temperature));
  if (!(s.topp >= 0.0f && s.topp <= 1.0f))
    throw UsageError("top-p must be in [0, 1], got " + std::to_string(s.topp));
  if (s.top_k < 0) throw UsageError("top-k must be >= 0, got " + std::to_string(s.top_k));
  if (!(s.min_p >= 0.0f && s.min_p <= 1.0f))
    throw UsageError("min-p must be in [0, 1], got " + std::to_string(s.min_p));
  if (!(s.repeat_penalty > 0.0f) || !std::isfinite(s.repeat_penalty))
    throw UsageError("repeat penalty must be > 0, got " + std::to_string(s.repeat_penalty));
  if (!(s.presence_penalty >= -2.0f && s.presence_penalty <= 2.0f))
    throw UsageError("presence penalty must be in [-2, 2], got " + std::to_string(s.presence_penalty));
  if (!(s.frequency_penalty >= -2.0f && s.frequency_penalty <= 2.0f))
    throw UsageError("frequency penalty must be in [-2, 2], got " + std::to_string(s.frequency_penalty));
  if (s.penalty_last_n < -1) throw UsageError("penalty window must be >= -1, got " + std::to_string(s.penalty_last_n));
  for (const auto& [id, bias] : s.logit_bias) {
    if (id < 0 || id >= vocab_size)
      throw UsageError("logit bias for token " + std::to_string(id) + ", outside the vocabulary");
    if (!std::isfinite(bias)) throw UsageError("logit bias for token " + std::to_string(id) + " is not finite");
  }
}

std::uint64_t seed_from_clock() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto s = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(now).count());
  return s == 0 ? 1 : s;
}

Sampler::Sampler(int vocab_size, SamplerSettings settings)
    : settings_(settings), rng_(settings.seed == 0 ? seed_from_clock() : settings.seed) {
  validate(settings, vocab_size);
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
  std::sort(candidates_.begin(), candidates_.end(), more_likely);
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
  adjust(logits);
  return pick(logits);
}

void Sampler::accept(TokenId token) {
  if (settings_.penalizes()) history_.push_back(token);
}

void Sampler::adjust(std::span<float> logits) const {
  for (const auto& [id, bias] : settings_.logit_bias) logits[id] += bias;
  if (!settings_.penalizes() || history_.empty()) return;
  // Each distinct token of the window once, with its count.
  const std::size_t n = settings_.penalty_last_n < 0
                            ? history_.size()
                            : std::min(history_.size(), static_cast<std::size_t>(settings_.penalty_last_n));
  std::vector<TokenId> window(history_.end() - static_cast<std::ptrdiff_t>(n), history_.end());
  std::sort(window.begin(), window.end());
  for (std::size_t i = 0; i < window.size();) {
    std::size_t j = i;
    while (j < window.size() && window[j] == window[i]) ++j;
    float& l = logits[window[i]];
    // Dividing a negative logit would raise it: those are multiplied instead.
    l = l > 0.0f ? l / settings_.repeat_penalty : l * settings_.repeat_penalty;
    l -= settings_.presence_penalty + static_cast<float>(j - i) * settings_.frequency_penalty;
    i = j;
  }
}

TokenId Sampler::pick_truncated(std::span<float> logits) {
  const int n = static_cast<int>(logits.size());
  constexpr float kOut = -std::numeric_limits<float>::infinity();
  if (settings_.top_k > 0 && settings_.top_k < n) {
    // The k largest (ties by lower id, as top-p orders them) stay; the rest get no mass.
    candidates_.clear();
    for (int i = 0; i < n; ++i) candidates_.emplace_back(logits[i], i);
    std::nth_element(candidates_.begin(), candidates_.begin() + (settings_.top_k - 1), candidates_.end(), more_likely);
    for (auto it = candidates_.begin() + settings_.top_k; it != candidates_.end(); ++it) logits[it->second] = kOut;
  }
  for (float& l : logits) l /= settings_.temperature;
  reference::softmax(logits.data(), n);
  if (settings_.min_p > 0.0f) {
    const float floor = settings_.min_p * *std::max_element(logits.begin(), logits.end());
    float mass = 0.0f;
    for (float& p : logits) mass += p = p < floor ? 0.0f : p;
    for (float& p : logits) p /= mass;  // the top token always stays, so mass > 0
  }
  const float coin = rng_.next_f32();
  if (settings_.topp > 0.0f && settings_.topp < 1.0f) return sample_topp(logits, coin);
  // The CDF pick, but a coin past the (rounded) total lands on the last token with mass, never
  // on one that was cut.
  float cdf = 0.0f;
  TokenId last = 0;
  for (int i = 0; i < n; ++i) {
    if (logits[i] == 0.0f) continue;
    cdf += logits[i];
    last = i;
    if (coin < cdf) return i;
  }
  return last;
}

TokenId Sampler::pick(std::span<float> logits) {
  if (settings_.temperature == 0.0f) return sample_argmax(logits);
  if (settings_.top_k > 0 || settings_.min_p > 0.0f) return pick_truncated(logits);
  for (float& l : logits) l /= settings_.temperature;
  reference::softmax(logits.data(), static_cast<int>(logits.size()));
  const float coin = rng_.next_f32();
  if (settings_.topp <= 0.0f || settings_.topp >= 1.0f) return sample_cdf(logits, coin);
  return sample_topp(logits, coin);
}

TokenLogprobs token_logprobs(std::span<const float> logits, TokenId chosen, int top) {
  // log p_i = l_i - (max + log sum exp(l - max)); in double, so a 128k vocabulary sums exactly
  // enough that the top alternatives' order and values survive.
  const float mx = *std::max_element(logits.begin(), logits.end());
  double z = 0.0;
  for (float l : logits) z += std::exp(static_cast<double>(l) - mx);
  const double log_z = mx + std::log(z);
  TokenLogprobs out;
  out.chosen = static_cast<float>(logits[chosen] - log_z);
  top = std::clamp(top, 0, static_cast<int>(logits.size()));
  std::vector<std::pair<float, TokenId>> all;
  all.reserve(logits.size());
  for (std::size_t i = 0; i < logits.size(); ++i) all.emplace_back(logits[i], static_cast<TokenId>(i));
  std::partial_sort(all.begin(), all.begin() + top, all.end(), more_likely);
  for (int i = 0; i < top; ++i) out.top.emplace_back(all[i].second, static_cast<float>(all[i].first - log_z));
  return out;
}

}  // namespace llama2
