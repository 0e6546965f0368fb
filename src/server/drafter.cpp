#include "server/drafter.hpp"

#include <algorithm>

#include "generation/speculative.hpp"
#include "sampling/sampler.hpp"

namespace llama2::server {

Drafter::Drafter(std::shared_ptr<const Model> draft, const Config& target, int max_sequences, int max_items)
    : model_(std::move(draft)), scratch_(model_->config(), std::max(1, max_items)) {
  check_draft_vocabulary(model_->config(), target);
  logits_.resize(static_cast<std::size_t>(std::max(1, max_sequences)) * model_->config().vocab_size);
}

State Drafter::make_state(int context) const {
  return State(model_->config(), std::min(context, model_->config().seq_len));
}

void Drafter::propose(std::span<DraftRequest> requests, ThreadPool& pool) {
  const std::size_t vocab = static_cast<std::size_t>(model_->config().vocab_size);
  auto row = [&](std::size_t i) { return std::span<const float>(logits_.data() + i * vocab, vocab); };

  // ---- round 0: what each draft cache has not seen, logits after the last token ----
  items_.clear();
  active_.clear();
  for (std::size_t i = 0; i < requests.size(); ++i) {
    DraftRequest& r = requests[i];
    r.drafts->clear();
    const auto n = static_cast<Position>(r.history.size());
    // Draft j (0-based) is fed at position n + j - 1 when another follows: the cache must hold
    // positions up to n + count - 2.
    r.count = std::min<int>(r.count, r.state->max_positions() - n + 1);
    if (r.count <= 0 || n == 0) continue;
    // The cache is right up to the first token that differs from the history; the last token
    // is fed again in any case, for the logits after it.
    const auto same = std::mismatch(r.cached->begin(), r.cached->end(), r.history.begin(), r.history.end()).first;
    const Position keep = std::min<Position>(static_cast<Position>(same - r.cached->begin()), n - 1);
    r.cached->resize(static_cast<std::size_t>(keep));
    r.cached->insert(r.cached->end(), r.history.begin() + keep, r.history.end());
    for (Position p = keep; p < n; ++p) items_.push_back({r.state, r.history[p], p, p + 1 == n});
    active_.push_back(i);
  }
  if (active_.empty()) return;
  forward_batch(*model_, items_, scratch_, pool, logits_.data());
  for (std::size_t k = 0; k < active_.size(); ++k) {
    DraftRequest& r = requests[active_[k]];
    r.drafts->push_back(sample_argmax(row(k)));
  }

  // ---- rounds 1..: every sequence that wants more feeds its last draft ----
  for (int round = 1;; ++round) {
    std::erase_if(active_, [&](std::size_t i) { return requests[i].count <= round; });
    if (active_.empty()) return;
    items_.clear();
    for (std::size_t i : active_) {
      DraftRequest& r = requests[i];
      items_.push_back({r.state, r.drafts->back(), static_cast<Position>(r.history.size()) + round - 1, true});
      r.cached->push_back(r.drafts->back());
    }
    forward_batch(*model_, items_, scratch_, pool, logits_.data());
    for (std::size_t k = 0; k < active_.size(); ++k) {
      DraftRequest& r = requests[active_[k]];
      r.drafts->push_back(sample_argmax(row(k)));
    }
  }
}

}  // namespace llama2::server
