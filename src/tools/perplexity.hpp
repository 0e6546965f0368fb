// Perplexity of a model over a token sequence, and how far a (quantized) model's next-token
// distributions are from a base model's: the numbers that say what quantization cost.
#pragma once
#include <cstdint>
#include <functional>
#include <span>

#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "model/model.hpp"

namespace llama2 {

// Sum of -log p(actual next token) over the predictions made.
struct NllStats {
  std::int64_t predictions = 0;
  double nll = 0.0;
  double mean_nll() const { return predictions ? nll / static_cast<double>(predictions) : 0.0; }
  double perplexity() const;  // exp(mean_nll)
};

struct PerplexityResult {
  NllStats model;
  // Filled only when a base model is given:
  NllStats base;
  double kl_sum = 0.0;           // sum over positions of KL(base || model), in nats
  double kl_max = 0.0;           // the largest single-position KL
  std::int64_t top1_agree = 0;   // positions where both models' most likely token is the same
  double mean_kl() const { return model.predictions ? kl_sum / static_cast<double>(model.predictions) : 0.0; }
  double top1_agreement() const {  // fraction in [0, 1]
    return model.predictions ? static_cast<double>(top1_agree) / static_cast<double>(model.predictions) : 0.0;
  }
};

// Called after each window with the window's 1-based index, the number of windows and the
// totals so far.
using PerplexityProgressFn = std::function<void(int window, int windows, const PerplexityResult& so_far)>;

// Scores every token of `tokens` given the ones before it, in windows run from position 0 with
// an empty KV cache: the tokens are cut into documents before each `document_start` token
// (BOS; -1: never), so no document is context for the next (llama2.c's models end a text at
// BOS), and each document into consecutive windows of `context` tokens (0: the model's
// seq_len; the last window may be shorter). Within a window the logits at position i score
// token i+1, so a window of n tokens makes n-1 predictions. With `base`, the base model runs
// the same windows and every position's distributions are compared. Log-probabilities are
// computed in double from the fp32 logits. Throws Error if no prediction can be made, a token
// is outside the vocabulary, or the two models' vocabularies differ in size.
PerplexityResult evaluate_perplexity(const Model& model, const Model* base, std::span<const TokenId> tokens,
                                     int context, ThreadPool& pool, const PerplexityProgressFn& progress = {},
                                     TokenId document_start = kBosToken);

}  // namespace llama2
