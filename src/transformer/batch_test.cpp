// forward_batch against the one-token-at-a-time forward(): prompts from position 0 and from
// mid-context, items from several sequences in one batch, thread-count independence, errors.
#include "transformer/batch.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "test_support.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {
namespace {

std::shared_ptr<const Model> stories260k() { return Model::load(testing::data_path("models/stories260K.bin")); }

// Grouped-query attention (8 query heads on 2 KV heads), an unshared classifier, and a
// hidden width that is no multiple of the SIMD width or of the register tiles.
std::shared_ptr<const Model> random_gqa() {
  static const std::string path = testing::write_random_checkpoint_v0("batch_gqa.bin", 64, 100, 3, 8, 2, -301, 96, 7);
  return Model::load(path);
}

// Deterministic token ids spread over the vocabulary.
std::vector<TokenId> some_tokens(int n, int vocab, int salt) {
  std::vector<TokenId> t(n);
  for (int i = 0; i < n; ++i) t[i] = static_cast<TokenId>((i * 131 + salt * 17 + 1) % vocab);
  return t;
}

float max_abs_diff(const float* a, const float* b, int n) {
  float worst = 0;
  for (int i = 0; i < n; ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

// Feeds `tokens` to `state` one at a time from `start`, returning every position's logits.
std::vector<std::vector<float>> one_at_a_time(const Model& m, State& state, const std::vector<TokenId>& tokens,
                                              Position start, ThreadPool& pool) {
  std::vector<std::vector<float>> out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto logits = forward(m, state, tokens[i], start + static_cast<Position>(i), pool);
    out.emplace_back(logits.begin(), logits.end());
  }
  return out;
}

// A prefix of `start` tokens one at a time, then `batch` tokens as one forward_batch, compared
// with the same tokens one at a time on a second State.
void check_prompt(const Model& m, int start, int batch) {
  SCOPED_TRACE("start " + std::to_string(start) + ", batch " + std::to_string(batch));
  const Config& c = m.config();
  ThreadPool pool(2);
  const auto prefix = some_tokens(start, c.vocab_size, 1);
  const auto tokens = some_tokens(batch, c.vocab_size, 2);
  State expected_state(c, start + batch), state(c, start + batch);
  one_at_a_time(m, expected_state, prefix, 0, pool);
  one_at_a_time(m, state, prefix, 0, pool);
  const auto expected = one_at_a_time(m, expected_state, tokens, start, pool);

  std::vector<BatchItem> items;
  for (int i = 0; i < batch; ++i) items.push_back({&state, tokens[i], start + i, true});
  BatchScratch scratch(c, batch);
  std::vector<float> logits(static_cast<std::size_t>(batch) * c.vocab_size);
  forward_batch(m, items, scratch, pool, logits.data());
  for (int i = 0; i < batch; ++i)
    EXPECT_LE(max_abs_diff(&logits[static_cast<std::size_t>(i) * c.vocab_size], expected[i].data(), c.vocab_size),
              1e-4f)
        << "item " << i;
  // The caches must match too: later tokens attend to them.
  EXPECT_LE(max_abs_diff(state.key_cache.data(), expected_state.key_cache.data(),
                         static_cast<int>(state.key_cache.size())),
            1e-4f);
}

TEST(BatchForward, PromptMatchesForwardStories260K) {
  const auto m = stories260k();
  for (int batch : {1, 2, 7, 33}) {
    check_prompt(*m, 0, batch);
    check_prompt(*m, 40, batch);
  }
}

TEST(BatchForward, PromptMatchesForwardRandomGqa) {
  const auto m = random_gqa();
  for (int batch : {1, 2, 7, 33}) {
    check_prompt(*m, 0, batch);
    check_prompt(*m, 29, batch);
  }
}

// Three sequences at different positions, interleaved in one batch (two consecutive positions
// of one of them), logits wanted for some items only: rows come back in item order.
TEST(BatchForward, ItemsOfSeveralStatesMatchTheirSeparateForwards) {
  for (const auto& m : {stories260k(), random_gqa()}) {
    const Config& c = m->config();
    ThreadPool pool(3);
    const int lengths[3] = {5, 17, 0};
    std::vector<State> expected_states, states;
    std::vector<std::vector<TokenId>> prefixes;
    for (int s = 0; s < 3; ++s) {
      expected_states.emplace_back(c, 40);
      states.emplace_back(c, 40);
      prefixes.push_back(some_tokens(lengths[s], c.vocab_size, 10 + s));
      one_at_a_time(*m, expected_states[s], prefixes[s], 0, pool);
      one_at_a_time(*m, states[s], prefixes[s], 0, pool);
    }
    // (state, token, want): state 0 gets two consecutive positions.
    const std::vector<BatchItem> items = {
        {&states[1], 7, lengths[1], true},       {&states[0], 11, lengths[0], false},
        {&states[2], 1, lengths[2], true},       {&states[0], 12, lengths[0] + 1, true},
    };
    std::vector<std::vector<float>> expected;
    for (const BatchItem& it : items) {
      const int s = static_cast<int>(it.state - states.data());
      const auto logits = forward(*m, expected_states[s], it.token, it.pos, pool);
      if (it.want_logits) expected.emplace_back(logits.begin(), logits.end());
    }
    BatchScratch scratch(c, 8);
    std::vector<float> logits(expected.size() * c.vocab_size);
    forward_batch(*m, items, scratch, pool, logits.data());
    for (std::size_t r = 0; r < expected.size(); ++r)
      EXPECT_LE(max_abs_diff(&logits[r * c.vocab_size], expected[r].data(), c.vocab_size), 1e-4f) << "row " << r;
  }
}

TEST(BatchForward, BitIdenticalForAnyThreadCount) {
  for (const auto& m : {stories260k(), random_gqa()}) {
    const Config& c = m->config();
    const auto tokens = some_tokens(33, c.vocab_size, 3);
    std::vector<float> first_logits, first_keys;
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      State state(c, 40);
      one_at_a_time(*m, state, some_tokens(4, c.vocab_size, 4), 0, pool);
      std::vector<BatchItem> items;
      for (int i = 0; i < 33; ++i) items.push_back({&state, tokens[i], 4 + i, true});
      BatchScratch scratch(c, 33);
      std::vector<float> logits(33 * static_cast<std::size_t>(c.vocab_size));
      forward_batch(*m, items, scratch, pool, logits.data());
      if (threads == 1) {
        first_logits = logits;
        first_keys.assign(state.key_cache.begin(), state.key_cache.end());
        continue;
      }
      EXPECT_EQ(0, std::memcmp(logits.data(), first_logits.data(), logits.size() * sizeof(float)))
          << threads << " threads";
      EXPECT_EQ(0, std::memcmp(state.key_cache.data(), first_keys.data(), first_keys.size() * sizeof(float)))
          << threads << " threads";
    }
  }
}

// A sequence's logits do not depend on what else shares the pass: the server's greedy replies
// must be the same under any load. Sequence A alone, then A beside 1, 2 and 7 other sequences.
TEST(BatchForward, ASequenceGetsTheSameBitsWhateverElseIsInTheBatch) {
  for (const auto& m : {stories260k(), random_gqa()}) {
    const Config& c = m->config();
    const std::size_t vocab = static_cast<std::size_t>(c.vocab_size);
    ThreadPool pool(2);
    std::vector<float> alone;
    for (int others : {0, 1, 2, 7}) {
      std::vector<State> states;
      states.reserve(1 + others);
      for (int s = 0; s <= others; ++s) states.emplace_back(c, 16);
      BatchScratch scratch(c, 1 + others);
      std::vector<float> logits((1 + others) * vocab);
      // Two steps: the second reads the cache the first wrote.
      for (Position pos = 0; pos < 2; ++pos) {
        std::vector<BatchItem> items;
        for (int s = 0; s <= others; ++s) items.push_back({&states[s], (5 + 11 * s + pos) % c.vocab_size, pos, true});
        forward_batch(*m, items, scratch, pool, logits.data());
      }
      if (others == 0) {
        alone.assign(logits.begin(), logits.begin() + static_cast<std::ptrdiff_t>(vocab));
        continue;
      }
      EXPECT_EQ(0, std::memcmp(logits.data(), alone.data(), vocab * sizeof(float))) << others << " others";
    }
  }
}

// The server's prompt cache reuses a finished request's KV rows and feeds only the rest of the
// next prompt: that is the same sequence cut into other chunks. A sequence's bits must not
// depend on the cut: the whole prompt in one pass, against the same tokens fed 1, then 3, then
// one at a time, then the rest (as a reused prefix plus a new turn would be), bit for bit.
TEST(BatchForward, ASequenceGetsTheSameBitsHoweverItsPromptIsChunked) {
  for (const auto& m : {stories260k(), random_gqa()}) {
    const Config& c = m->config();
    const std::size_t vocab = static_cast<std::size_t>(c.vocab_size);
    ThreadPool pool(2);
    const auto tokens = some_tokens(20, c.vocab_size, 3);
    BatchScratch scratch(c, 32);
    auto run = [&](const std::vector<int>& cuts, State& state) {
      std::vector<float> logits(vocab);
      Position pos = 0;
      for (int n : cuts) {
        std::vector<BatchItem> items;
        for (int j = 0; j < n; ++j, ++pos) items.push_back({&state, tokens[pos], pos, pos + 1 == 20});
        forward_batch(*m, items, scratch, pool, pos == 20 ? logits.data() : nullptr);
      }
      return logits;
    };
    State whole_state(c, 20), cut_state(c, 20);
    const auto whole = run({20}, whole_state);
    const auto cut = run({1, 3, 1, 1, 1, 13}, cut_state);
    EXPECT_EQ(0, std::memcmp(whole.data(), cut.data(), vocab * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(whole_state.key_cache.data(), cut_state.key_cache.data(),
                             whole_state.key_cache.size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(whole_state.value_cache.data(), cut_state.value_cache.data(),
                             whole_state.value_cache.size() * sizeof(float)));
  }
}

// A batch larger than the scratch runs in chunks; the later chunks see the earlier ones' cache.
TEST(BatchForward, BatchLargerThanScratchRunsInChunks) {
  const auto m = stories260k();
  const Config& c = m->config();
  ThreadPool pool(2);
  const auto tokens = some_tokens(13, c.vocab_size, 5);
  State expected_state(c, 13), state(c, 13);
  const auto expected = one_at_a_time(*m, expected_state, tokens, 0, pool);
  std::vector<BatchItem> items;
  for (int i = 0; i < 13; ++i) items.push_back({&state, tokens[i], i, i % 3 == 0});
  BatchScratch scratch(c, 5);
  std::vector<float> logits(5 * static_cast<std::size_t>(c.vocab_size));
  forward_batch(*m, items, scratch, pool, logits.data());
  for (int r = 0; r < 5; ++r)
    EXPECT_LE(max_abs_diff(&logits[static_cast<std::size_t>(r) * c.vocab_size], expected[r * 3].data(), c.vocab_size),
              1e-4f);
}

TEST(BatchForward, RejectsBadItemsWithoutTouchingCaches) {
  const auto m = stories260k();
  const Config& c = m->config();
  ThreadPool pool(1);
  State state(c, 8);
  BatchScratch scratch(c, 4);
  std::vector<float> logits(c.vocab_size);
  const auto untouched = state.key_cache;
  const std::vector<std::vector<BatchItem>> bad = {
      {{&state, 1, 0, false}, {&state, 2, 0, false}},            // same state and position twice
      {{&state, 1, 0, false}, {&state, c.vocab_size, 1, false}},  // token out of range
      {{&state, 1, 0, false}, {&state, 2, 8, false}},            // position out of the context
      {{nullptr, 1, 0, false}},                                  // no state
      {{&state, 1, 0, true}},                                    // logits wanted, no output
  };
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_THROW(forward_batch(*m, bad[i], scratch, pool, i + 1 == bad.size() ? nullptr : logits.data()), Error)
        << "case " << i;
    EXPECT_EQ(state.key_cache, untouched) << "case " << i;
  }
  const auto other = random_gqa();
  State other_state(other->config(), 8);
  const std::vector<BatchItem> wrong_shape = {{&other_state, 1, 0, false}};
  EXPECT_THROW(forward_batch(*m, wrong_shape, scratch, pool, nullptr), Error);
  EXPECT_THROW(BatchScratch(c, 0), Error);
}

}  // namespace
}  // namespace llama2
