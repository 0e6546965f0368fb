// Draft tokens from a small model of the same vocabulary, for every decoding sequence of a
// server pass at once (speculative decoding with --draft MODEL).
//
// Each sequence keeps its own KV cache of the draft model and the tokens it holds. A proposal
// first feeds the history past their common prefix (the whole prompt the first time; after a
// rejected draft, the kept tokens and the correction; a reused prompt prefix is kept), then
// generates greedily one token per round, every sequence's round in one forward_batch over
// the draft's weights. The drafts are the draft model's argmax: a one-token
// proposal, which the scheduler verifies as it does prompt lookup's (plain decoding's pick,
// kept while it lands on the draft), so greedy and seeded sampled replies are unchanged.
#pragma once
#include <memory>
#include <span>
#include <vector>

#include "core/thread_pool.hpp"
#include "core/types.hpp"
#include "model/model.hpp"
#include "transformer/batch.hpp"
#include "transformer/state.hpp"

namespace llama2::server {

// One sequence's share of a proposal.
struct DraftRequest {
  State* state = nullptr;                  // the draft model's cache for this sequence
  std::vector<TokenId>* cached = nullptr;  // the token at each position `state` holds (updated)
  std::span<const TokenId> history;  // every token so far; the last is the one the pass feeds
  int count = 0;                     // drafts wanted
  std::vector<TokenId>* drafts = nullptr;  // out: up to `count` tokens to follow `history`
};

class Drafter {
 public:
  // Throws Error when the draft's vocabulary size differs from the model's.
  Drafter(std::shared_ptr<const Model> draft, const Config& target, int max_sequences, int max_items);

  // The draft cache of one sequence: the draft's own context, at most `context` positions.
  State make_state(int context) const;

  // Fills each request's drafts (fewer where the draft's cache ends).
  void propose(std::span<DraftRequest> requests, ThreadPool& pool);

 private:
  std::shared_ptr<const Model> model_;
  BatchScratch scratch_;
  std::vector<BatchItem> items_;
  std::vector<float> logits_;
  std::vector<std::size_t> active_;  // the requests still drafting in this round
};

}  // namespace llama2::server
