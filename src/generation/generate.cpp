#include "generation/generate.hpp"

#include <chrono>
#include <string>

#include "core/error.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {

int resolve_steps(int steps, const Config& config) {
  if (steps < 0) throw UsageError("steps must be >= 0, got " + std::to_string(steps));
  return (steps == 0 || steps > config.seq_len) ? config.seq_len : steps;
}

GenerationResult generate(const Model& model, State& state, Sampler& sampler, std::span<const TokenId> prompt,
                          int steps, ThreadPool& pool, const TokenCallback& on_token) {
  const Config& c = model.config();
  if (prompt.empty()) throw Error("the prompt has no tokens");
  if (steps > state.max_positions()) throw Error("steps exceed the state's context");
  if (static_cast<int>(prompt.size()) > steps)
    throw Error("the prompt has " + std::to_string(prompt.size()) + " tokens but the context holds " +
                std::to_string(steps) + " (raise -n, at most " + std::to_string(c.seq_len) + ")");
  for (TokenId t : prompt)
    if (t < 0 || t >= c.vocab_size)
      throw Error("prompt token id " + std::to_string(t) + " is outside the vocabulary (0.." +
                  std::to_string(c.vocab_size - 1) + ")");

  using Clock = std::chrono::steady_clock;
  GenerationResult result;
  result.tokens.assign(prompt.begin(), prompt.end());
  const int n_prompt = static_cast<int>(prompt.size());
  Clock::time_point start{};
  TokenId token = prompt[0];
  int pos = 0;
  while (pos < steps) {
    forward(model, state, token, pos, pool);
    // While the prompt lasts the next token is given (no random number is drawn).
    const bool in_prompt = pos < n_prompt - 1;
    const TokenId next = in_prompt ? prompt[pos + 1] : sampler.sample(state.logits);
    ++pos;
    if (next == kBosToken) break;  // the reference treats BOS as the end of a story
    if (!in_prompt) result.tokens.push_back(next);
    if (on_token) on_token(token, next);
    token = next;
    if (start == Clock::time_point{}) start = Clock::now();
  }
  if (pos > 1 && start != Clock::time_point{}) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    if (seconds > 0) result.tokens_per_second = (pos - 1) / seconds;
  }
  return result;
}

}  // namespace llama2
