#include "generation/chat.hpp"

#include <algorithm>
#include <istream>
#include <ostream>
#include <vector>

#include "transformer/transformer.hpp"

namespace llama2 {

void chat(const Model& model, const Tokenizer& tokenizer, State& state, Sampler& sampler, const ChatOptions& options,
          std::istream& in, std::ostream& out, ThreadPool& pool) {
  const int steps = options.steps;
  std::string system = options.system_prompt;
  if (system.empty() && options.ask_system_prompt) {
    out << "Enter system prompt (optional): " << std::flush;
    if (!std::getline(in, system)) return;
  }

  Position pos = 0;
  TokenId token = 0;
  bool first_turn = true;
  while (pos < steps) {
    // ---- the user speaks ----
    std::string user;
    if (first_turn && !options.first_user_prompt.empty()) {
      user = options.first_user_prompt;
    } else if (out << "User: " << std::flush; !std::getline(in, user)) {
      out << "\n";
      return;  // end of input ends the conversation
    }
    const std::vector<TokenId> prompt = encode_user_turn(tokenizer, options.chat_template, system, user, first_turn);
    first_turn = false;
    if (pos + static_cast<int>(prompt.size()) >= steps) {
      out << "\n[context full: " << steps << " positions used]\n";
      return;
    }

    // ---- feed the turn, then the assistant replies until EOS ----
    out << "Assistant: " << std::flush;
    for (std::size_t i = 0; i < prompt.size(); ++i) forward(model, state, prompt[i], pos++, pool);
    // run.c draws a sample after every forward step, prompt tokens included, and throws the
    // prompt's away; skipping the same draws keeps a seed's replies identical to run.c's.
    sampler.skip_draws(static_cast<int>(prompt.size()) - 1);
    token = prompt.back();
    TokenId end_of_turn = tokenizer.eos();
    for (;;) {
      const TokenId next = sampler.sample(state.logits);
      if (next == tokenizer.eos() ||
          std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end()) {
        end_of_turn = next;
        break;
      }
      const std::string_view piece = tokenizer.decode(token, next);
      if (tokenizer.is_printable(piece)) out << piece << std::flush;
      token = next;
      if (pos >= steps) {
        out << "\n[context full: " << steps << " positions used]\n";
        return;
      }
      forward(model, state, token, pos++, pool);
    }
    // The reference feeds the EOS too, so the next turn sees the end of this one, and draws
    // one more sample after it (which it prints, a stray token; we only skip the draw).
    if (pos < steps) {
      forward(model, state, end_of_turn, pos++, pool);
      sampler.skip_draws(1);
    }
    out << "\n";
  }
  out << "[context full: " << steps << " positions used]\n";
}

}  // namespace llama2
