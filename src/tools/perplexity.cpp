#include "tools/perplexity.hpp"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "transformer/state.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {

double NllStats::perplexity() const { return std::exp(mean_nll()); }

namespace {

// log-softmax of fp32 logits, in double; returns the index of the largest logit (first on ties).
int log_softmax(std::span<const float> logits, std::vector<double>& out) {
  out.resize(logits.size());
  int best = 0;
  for (std::size_t i = 1; i < logits.size(); ++i)
    if (logits[i] > logits[best]) best = static_cast<int>(i);
  const double max = logits[best];
  double sum = 0.0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  const double log_z = max + std::log(sum);
  for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - log_z;
  return best;
}

}  // namespace

PerplexityResult evaluate_perplexity(const Model& model, const Model* base, std::span<const TokenId> tokens,
                                     int context, ThreadPool& pool, const PerplexityProgressFn& progress,
                                     TokenId document_start) {
  const Config& c = model.config();
  if (base && base->config().vocab_size != c.vocab_size)
    throw Error("the base model's vocabulary (" + std::to_string(base->config().vocab_size) +
                ") differs from the model's (" + std::to_string(c.vocab_size) + ")");
  for (TokenId t : tokens)
    if (t < 0 || t >= c.vocab_size)
      throw Error("token id " + std::to_string(t) + " is outside the vocabulary (0.." + std::to_string(c.vocab_size - 1) + ")");
  int window = context > 0 ? context : c.seq_len;
  window = std::min(window, c.seq_len);
  if (base) window = std::min(window, base->config().seq_len);
  if (window < 2) throw Error("a context of " + std::to_string(window) + " tokens makes no predictions");

  // Windows as [begin, end) ranges: documents start at each document_start token, then are
  // cut every `window` tokens.
  std::vector<std::pair<std::size_t, std::size_t>> windows;
  for (std::size_t doc = 0; doc < tokens.size();) {
    std::size_t doc_end = doc + 1;
    while (doc_end < tokens.size() && tokens[doc_end] != document_start) ++doc_end;
    for (std::size_t b = doc; b < doc_end; b += static_cast<std::size_t>(window))
      windows.emplace_back(b, std::min(doc_end, b + static_cast<std::size_t>(window)));
    doc = doc_end;
  }
  std::size_t predictions = 0;
  for (auto [b, e] : windows) predictions += e - b - 1;
  if (predictions == 0) throw Error("perplexity needs a window of at least 2 tokens");

  State state(c, window);
  std::optional<State> base_state;
  if (base) base_state.emplace(base->config(), window);
  std::vector<double> lp, base_lp;
  PerplexityResult result;
  for (std::size_t w = 0; w < windows.size(); ++w) {
    const auto [begin, end] = windows[w];
    for (std::size_t i = begin; i + 1 < end; ++i) {
      const auto pos = static_cast<Position>(i - begin);
      const TokenId next = tokens[i + 1];
      const int top = log_softmax(forward(model, state, tokens[i], pos, pool), lp);
      result.model.nll -= lp[next];
      ++result.model.predictions;
      if (!base) continue;
      const int base_top = log_softmax(forward(*base, *base_state, tokens[i], pos, pool), base_lp);
      result.base.nll -= base_lp[next];
      ++result.base.predictions;
      double kl = 0.0;
      for (std::size_t v = 0; v < lp.size(); ++v) kl += std::exp(base_lp[v]) * (base_lp[v] - lp[v]);
      kl = std::max(kl, 0.0);  // rounding can leave -1e-17 for identical distributions
      result.kl_sum += kl;
      result.kl_max = std::max(result.kl_max, kl);
      if (top == base_top) ++result.top1_agree;
    }
    if (progress) progress(static_cast<int>(w + 1), static_cast<int>(windows.size()), result);
  }
  return result;
}

}  // namespace llama2
