// The generate loop on its own: the prompt starts the result, the step budget, BOS ending a
// run (generated, or inside the prompt), the callback's pairs, resolve_steps, and bad input.
#include "generation/generate.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <utility>

#include "core/error.hpp"
#include "test_support.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {
namespace {

std::shared_ptr<const Model> stories260k() {
  static const auto model = Model::load(testing::data_path("models/stories260K.bin"));
  return model;
}

struct Outcome {
  GenerationResult result;
  std::vector<std::pair<TokenId, TokenId>> calls;
};

Outcome run(const std::vector<TokenId>& prompt, int steps, SamplerSettings s = {0.0f, 0.9f, 1}) {
  const auto m = stories260k();
  ThreadPool pool(1);
  State state(m->config(), steps);
  Sampler sampler(m->config().vocab_size, s);
  Outcome r;
  r.result = generate(*m, state, sampler, prompt, steps, pool, [&](TokenId a, TokenId b) { r.calls.emplace_back(a, b); });
  return r;
}

TEST(Generate, PromptThenOneTokenPerPositionUpToTheBudget) {
  const std::vector<TokenId> prompt = {1, 300, 301};
  const Outcome r = run(prompt, 40);
  ASSERT_GE(r.result.tokens.size(), prompt.size());
  EXPECT_EQ(std::vector<TokenId>(r.result.tokens.begin(), r.result.tokens.begin() + 3), prompt);
  // steps positions are run; the token sampled after the last one ends the sequence, so at
  // most steps + 1 tokens (fewer only when a BOS ended the story).
  EXPECT_LE(r.result.tokens.size(), 41u);
  // A generated BOS ends the story and is not part of it.
  EXPECT_EQ(std::find(r.result.tokens.begin() + 3, r.result.tokens.end(), kBosToken), r.result.tokens.end());
  // The callback gets every consecutive pair after the first token, in order.
  ASSERT_EQ(r.calls.size(), r.result.tokens.size() - 1);
  for (std::size_t i = 0; i < r.calls.size(); ++i)
    EXPECT_EQ(r.calls[i], std::make_pair(r.result.tokens[i], r.result.tokens[i + 1])) << i;
}

TEST(Generate, GreedyTokensAreTheArgmaxOfEachForward) {
  const auto m = stories260k();
  const std::vector<TokenId> prompt = {1, 403};
  const Outcome r = run(prompt, 30);
  // Replayed one position at a time with forward(): each generated token is the argmax after
  // the tokens before it.
  ThreadPool pool(1);
  State state(m->config(), 30);
  for (std::size_t i = 0; i + 1 < r.result.tokens.size(); ++i) {
    const auto logits = forward(*m, state, r.result.tokens[i], static_cast<Position>(i), pool);
    if (i + 1 >= prompt.size()) {
      EXPECT_EQ(sample_argmax(logits), r.result.tokens[i + 1]) << "position " << i;
    }
  }
}

TEST(Generate, PenaltiesLookBackOnThePromptAndTheReply) {
  // A greedy run with a strong frequency penalty over all tokens: each generated token is the
  // argmax of the logits less 2 per earlier occurrence (prompt included) of each token.
  const auto m = stories260k();
  const std::vector<TokenId> prompt = {1, 403, 35, 403, 477, 477, 477, 477};
  SamplerSettings s{0.0f, 0.9f, 1};
  s.frequency_penalty = 2.0f;
  s.penalty_last_n = -1;
  const Outcome r = run(prompt, 40, s);
  EXPECT_NE(r.result.tokens, run(prompt, 40).result.tokens) << "the penalty must change a greedy story";
  ThreadPool pool(1);
  State state(m->config(), 40);
  for (std::size_t i = 0; i + 1 < r.result.tokens.size(); ++i) {
    auto logits = forward(*m, state, r.result.tokens[i], static_cast<Position>(i), pool);
    if (i + 1 < prompt.size()) continue;
    std::vector<float> penalised(logits.begin(), logits.end());
    for (std::size_t j = 0; j <= i; ++j) penalised[r.result.tokens[j]] -= 2.0f;
    EXPECT_EQ(sample_argmax(penalised), r.result.tokens[i + 1]) << "position " << i;
  }
}

TEST(Generate, ABosInsideThePromptEndsTheRunThere) {
  const Outcome r = run({1, 300, 1, 301}, 20);
  // The reference feeds the prompt one position at a time and stops at the BOS: the tokens
  // are the prompt, nothing generated, and the callback saw only the pair before the BOS.
  EXPECT_EQ(r.result.tokens, (std::vector<TokenId>{1, 300, 1, 301}));
  EXPECT_EQ(r.calls, (std::vector<std::pair<TokenId, TokenId>>{{1, 300}}));
}

TEST(Generate, AVocabularysStopTokensEndTheRunInsteadOfBos) {
  const Outcome plain = run({1, 300}, 24);
  ASSERT_GE(plain.result.tokens.size(), 8u);
  // Stop at the 6th token: the run is the tokens before its first occurrence.
  const TokenId stop = plain.result.tokens[5];
  const auto first = std::find(plain.result.tokens.begin() + 2, plain.result.tokens.end(), stop);
  const std::vector<TokenId> want(plain.result.tokens.begin(), first);
  const auto m = stories260k();
  ThreadPool pool(1);
  State state(m->config(), 24);
  Sampler sampler(m->config().vocab_size, {0.0f, 0.9f, 1});
  const std::vector<TokenId> stops{stop};
  const std::vector<TokenId> prompt{1, 300};
  EXPECT_EQ(generate(*m, state, sampler, prompt, 24, pool, {}, stops).tokens, want);
  // The same stop inside the prompt ends the run there.
  State state2(m->config(), 24);
  const std::vector<TokenId> prompt2{1, 300, stop, 301};
  EXPECT_EQ(generate(*m, state2, sampler, prompt2, 24, pool, {}, stops).tokens, prompt2);
}

TEST(Generate, PromptFillingTheBudgetStillSamplesOnce) {
  const Outcome r = run({1, 300, 301, 302}, 4);
  ASSERT_EQ(r.result.tokens.size(), 5u);
}

TEST(Generate, ResolveStepsFollowsRunC) {
  Config c;
  c.seq_len = 256;
  EXPECT_EQ(resolve_steps(0, c), 256);
  EXPECT_EQ(resolve_steps(100, c), 100);
  EXPECT_EQ(resolve_steps(1000, c), 256);
  EXPECT_THROW(resolve_steps(-1, c), UsageError);
}

TEST(Generate, BadPromptsAndBudgets) {
  EXPECT_THROW(run({}, 10), Error);
  EXPECT_THROW(run({1, 2, 3}, 2), Error);      // prompt longer than the budget
  EXPECT_THROW(run({1, 512}, 10), Error);      // id outside stories260K's 512
  EXPECT_THROW(run({1, -1}, 10), Error);
  const auto m = stories260k();
  ThreadPool pool(1);
  State small(m->config(), 8);
  Sampler sampler(m->config().vocab_size, {0.0f, 0.9f, 1});
  const std::vector<TokenId> prompt = {1};
  EXPECT_THROW(generate(*m, small, sampler, prompt, 9, pool), Error);  // more steps than the state holds
}

}  // namespace
}  // namespace llama2
