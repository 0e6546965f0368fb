// Speculative decoding: guess several tokens cheaply, then check them all in one batched pass
// of the model, so a token costs less than one read of the weights when the guesses are good.
//
// Two sources of guesses ("drafts"):
//  - prompt lookup: the text so far often repeats itself (code, a summary of a document, a
//    story's refrain); the tokens that followed the last earlier occurrence of the current
//    n-gram are proposed, at no cost at all;
//  - a draft model: a small model of the same vocabulary (a 15M model for a 110M one)
//    generates the guesses one token at a time.
// Verification feeds the last accepted token and the k drafts to forward_batch with logits
// for each position. By default each position is drawn exactly as plain decoding draws it
// (the same Sampler and random stream, every sampling control) and a draft is kept while the
// draw equals it, so the random stream is consumed as plain decoding consumes it. For a
// draft model sampling with temperature / top-p alone, the standard rejection rule is used
// instead (keep draft d with probability min(1, p(d)/q(d)); on rejection draw from
// max(0, p - q), renormalised): it keeps more sampled drafts and leaves the output distributed
// exactly as plain sampling from p, though not draw for draw.
#pragma once
#include <span>

#include "core/thread_pool.hpp"
#include "generation/generate.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "transformer/state.hpp"

namespace llama2 {

struct SpeculativeOptions {
  int max_draft = 8;               // drafts checked per pass (1..64)
  int lookup_ngram = 0;            // prompt lookup: longest n-gram to match (0 = off)
  const Model* draft = nullptr;    // draft model (null = none); same vocabulary as the model
  std::vector<TokenId> stops{kBosToken};  // tokens that end the run (see generate())
};

struct SpeculativeStats {
  int passes = 0;    // verification passes over the model
  int drafted = 0;   // draft tokens checked
  int accepted = 0;  // draft tokens kept
};

// Throws UsageError for options out of range or for neither/both draft sources.
void validate(const SpeculativeOptions& options);

// Throws Error unless the draft model's vocabulary has the size of the model's (its ids are
// read as the model's).
void check_draft_vocabulary(const Config& draft, const Config& model);

// generate() with speculative decoding: the same contract (steps positions, prompt checks,
// BOS ends the run, on_token for every token after the first). Greedy settings give the
// tokens of generate(); sampled ones follow its distribution, and (but for a draft model
// sampling by temperature / top-p alone) are token for token those of plain decoding over
// forward_batch with the same seed. (generate() decodes with forward(), whose kernels round
// differently in the last bits, so now and then a draw lands on a neighbouring token.)
// `stats` (optional) counts drafts.
GenerationResult generate_speculative(const Model& model, State& state, const SamplerSettings& sampling,
                                      std::span<const TokenId> prompt, int steps, ThreadPool& pool,
                                      const SpeculativeOptions& options, const TokenCallback& on_token = {},
                                      SpeculativeStats* stats = nullptr);

namespace detail {
// The prompt-lookup proposal: for n from `max_ngram` down to 1, find the latest earlier
// occurrence of the last n tokens of `history` and return the `max_tokens` tokens that
// followed it, read on periodically past the end of the history. Empty when nothing matches.
std::vector<TokenId> lookup_draft(std::span<const TokenId> history, int max_ngram, int max_tokens);

// The distribution the Sampler draws from for these logits (temperature softmax, cut to the
// top-p nucleus and renormalised); a one-hot argmax for temperature 0. `logits` is consumed.
void sampling_distribution(std::span<float> logits, const SamplerSettings& settings, std::vector<float>& probs);

// One position of the rejection rule: keep draft d (drawn from q) with probability
// min(1, p(d)/q(d)), else draw from the residual max(0, p - q) renormalised. The result is
// distributed as p whatever q is. `p` is used as scratch.
struct Pick {
  TokenId token;
  bool accepted;
};
Pick pick_or_reject(std::vector<float>& p, const float* q, TokenId d, Rng& rng);
}  // namespace detail

}  // namespace llama2
