#include "generation/generate.hpp"

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "transformer/batch.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {

int resolve_steps(int steps, const Config& config) {
  if (steps < 0) throw UsageError("steps must be >= 0, got " + std::to_string(steps));
  return (steps == 0 || steps > config.seq_len) ? config.seq_len : steps;
}

void check_generation_args(const Config& c, const State& state, std::span<const TokenId> prompt, int steps) {
  if (prompt.empty()) throw Error("the prompt has no tokens");
  if (steps > state.max_positions()) throw Error("steps exceed the state's context");
  if (static_cast<int>(prompt.size()) > steps)
    throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens but the context holds " +
                std::to_string(steps) + " (raise -n, at most " + std::to_string(c.seq_len) + ")");
  for (TokenId t : prompt)
    if (t < 0 || t >= c.vocab_size)
      throw Error("prompt token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                  std::to_string(c.vocab_size - 1) + ")");
}

GenerationResult generate(const Model& model, State& state, Sampler& sampler, std::span<const TokenId> prompt,
                          int steps, ThreadPool& pool, const TokenCallback& on_token, std::span<const TokenId> stops) {
  const Config& c = model.config();
  check_generation_args(c, state, prompt, steps);

  using Clock = std::chrono::steady_clock;
  GenerationResult result;
  result.tokens.assign(prompt.begin(), prompt.end());
  const int n_prompt = static_cast<int>(prompt.size());
  // ---- the prompt, in batches ----
  // Every prompt position runs through forward_batch, kDefaultBatchSize positions per pass
  // over the weights; only the last one's logits are computed (they give the first sample).
  // The tokens are the same as the reference loop's, which feeds the prompt one position at
  // a time: there the next token is given while the prompt lasts, and a BOS inside the
  // prompt ends the run right after the position before it.
  int n_feed = n_prompt;
  for (TokenId t : prompt) sampler.accept(t);  // the penalties look back on the prompt too
  for (int i = 1; i < n_prompt; ++i)
    if (std::find(stops.begin(), stops.end(), prompt[i]) != stops.end()) {
      n_feed = i;
      break;
    }
  // Speed as run.c reports it: positions run after the first forward call, over the time
  // since it ended (with a batched prompt, the first call is the first prompt chunk).
  Clock::time_point start{};
  int timed_positions = 0;
  BatchScratch scratch(c, std::min(n_feed, kDefaultBatchSize));
  std::vector<BatchItem> items;
  int pos = 0;
  while (pos < n_feed) {
    const int end = std::min(n_feed, pos + kDefaultBatchSize);
    items.clear();
    for (int p = pos; p < end; ++p) items.push_back({&state, prompt[p], p, p == n_prompt - 1});
    forward_batch(model, items, scratch, pool, state.logits.data());
    if (on_token)
      for (int p = pos; p < end && p + 1 < n_feed; ++p) on_token(prompt[p], prompt[p + 1]);
    if (start == Clock::time_point{}) {
      start = Clock::now();
    } else {
      timed_positions += end - pos;
    }
    pos = end;
  }

  // ---- generation, one token at a time ----
  if (n_feed == n_prompt) {
    TokenId token = prompt[n_prompt - 1];
    for (;;) {
      const TokenId next = sampler.sample(state.logits);
      if (std::find(stops.begin(), stops.end(), next) != stops.end()) break;
      result.tokens.push_back(next);
      sampler.accept(next);
      if (on_token) on_token(token, next);
      token = next;
      if (pos >= steps) break;
      forward(model, state, token, pos++, pool);
      ++timed_positions;
    }
  }
  if (timed_positions > 0) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (seconds > 0) result.tokens_per_second = timed_positions / seconds;
  }
  return result;
}

}  // namespace llama2
