#include "server/drafter.hpp"

#include <gtest/gtest.h>

#include <random>

#include "core/error.hpp"
#include "sampling/sampler.hpp"
#include "test_support.hpp"

namespace llama2::server {
namespace {

// The draft model's greedy continuation of `history`, from a fresh cache: what a proposal
// must give whatever its sequence's cache held before.
std::vector<TokenId> fresh_greedy(const Model& model, std::span<const TokenId> history, int count, ThreadPool& pool) {
  State state(model.config(), model.config().seq_len);
  BatchScratch scratch(model.config(), 64);
  std::vector<BatchItem> items;
  for (std::size_t p = 0; p < history.size(); ++p)
    items.push_back({&state, history[p], static_cast<Position>(p), p + 1 == history.size()});
  std::vector<float> logits(static_cast<std::size_t>(model.config().vocab_size));
  forward_batch(model, items, scratch, pool, logits.data());
  std::vector<TokenId> out;
  for (int j = 0; j < count; ++j) {
    out.push_back(sample_argmax(logits));
    if (j + 1 == count) break;
    const BatchItem next{&state, out.back(), static_cast<Position>(history.size()) + j, true};
    forward_batch(model, std::span(&next, 1), scratch, pool, logits.data());
  }
  return out;
}

// Three sequences drafted together, their histories changed between proposals the ways a
// server's are: some drafts kept and a correction, a prompt that reuses only a prefix, a
// sequence that skips a round. Each proposal equals the fresh greedy continuation, so each
// cache is right (reused where it agrees with the history, refed where it does not).
TEST(Drafter, ProposalsFollowEveryChangeOfTheHistory) {
  const auto model = Model::load(testing::data_path("models/stories260K.bin"));
  const Config& c = model->config();
  ThreadPool pool(2);
  Drafter drafter(model, c, 3, 16);
  std::mt19937 rng(7);
  auto token = [&] { return static_cast<TokenId>(rng() % static_cast<unsigned>(c.vocab_size)); };
  std::vector<State> states;
  std::vector<std::vector<TokenId>> cached(3), histories(3), drafts(3);
  for (int i = 0; i < 3; ++i) {
    states.push_back(drafter.make_state(c.seq_len));
    histories[i] = {1, token(), token()};
  }
  int checked = 0;
  for (int step = 0; step < 24; ++step) {
    std::vector<DraftRequest> requests;
    std::vector<int> which;
    for (int i = 0; i < 3; ++i) {
      if ((step + i) % 5 == 4) continue;  // this one decodes without drafts this time
      requests.push_back({&states[i], &cached[i], histories[i], 1 + static_cast<int>(rng() % 5), &drafts[i]});
      which.push_back(i);
    }
    drafter.propose(requests, pool);
    for (std::size_t k = 0; k < requests.size(); ++k) {
      const int i = which[k];
      SCOPED_TRACE("step " + std::to_string(step) + " sequence " + std::to_string(i));
      ASSERT_EQ(static_cast<int>(drafts[i].size()), requests[k].count);
      EXPECT_EQ(drafts[i], fresh_greedy(*model, histories[i], requests[k].count, pool));
      ++checked;
      // The verifier keeps a drafts and corrects the next one (or adds the bonus token).
      const std::size_t a = rng() % (drafts[i].size() + 1);
      histories[i].insert(histories[i].end(), drafts[i].begin(), drafts[i].begin() + static_cast<std::ptrdiff_t>(a));
      histories[i].push_back(token());
    }
    // Now and then a sequence ends and a new prompt reuses part of its history.
    const int i = step % 3;
    if (step % 4 == 3 && histories[i].size() > 4) {
      histories[i].resize(histories[i].size() / 2);
      for (int t = 0; t < 3; ++t) histories[i].push_back(token());
    }
    if (histories[i].size() > 200) histories[i].resize(3);
  }
  EXPECT_GT(checked, 50);
}

// Near the end of the draft's context the proposal shrinks to what fits; past it, none.
TEST(Drafter, StopsAtTheDraftsContext) {
  const auto model = Model::load(testing::data_path("models/stories260K.bin"));
  ThreadPool pool(1);
  Drafter drafter(model, model->config(), 1, 8);
  State state = drafter.make_state(10);
  ASSERT_EQ(state.max_positions(), 10);
  std::vector<TokenId> cached, drafts, history{1, 5, 6, 7, 8, 9, 10, 11};
  DraftRequest r{&state, &cached, history, 8, &drafts};
  drafter.propose(std::span(&r, 1), pool);
  EXPECT_EQ(drafts.size(), 3u);  // drafts 1 and 2 are fed at positions 8 and 9
  history.assign(11, 3);
  r = {&state, &cached, history, 4, &drafts};
  drafter.propose(std::span(&r, 1), pool);
  EXPECT_TRUE(drafts.empty());
}

TEST(Drafter, RefusesAnotherVocabulary) {
  const auto model = Model::load(testing::data_path("models/stories260K.bin"));
  Config other = model->config();
  other.vocab_size = 32000;
  EXPECT_THROW(Drafter(model, other, 1, 8), Error);
}

}  // namespace
}  // namespace llama2::server
