#include "generation/chat.hpp"

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
    const std::string rendered = render_user_turn(options.chat_template, system, user, first_turn);
    first_turn = false;
    const std::vector<TokenId> prompt = tokenizer.encode(rendered, /*bos=*/true, /*eos=*/false);
    if (pos + static_cast<int>(prompt.size()) >= steps) {
      out << "\n[context full: " << steps << " positions used]\n";
      return;
    }

    // ---- feed the turn, then the assistant replies until EOS ----
    out << "Assistant: " << std::flush;
    for (std::size_t i = 0; i < prompt.size(); ++i) forward(model, state, prompt[i], pos++, pool);
    token = prompt.back();
    for (;;) {
      const TokenId next = sampler.sample(state.logits);
      if (next == kEosToken) break;
      const std::string_view piece = tokenizer.decode(token, next);
      if (Tokenizer::is_printable(piece)) out << piece << std::flush;
      token = next;
      if (pos >= steps) {
        out << "\n[context full: " << steps << " positions used]\n";
        return;
      }
      forward(model, state, token, pos++, pool);
    }
    // The reference feeds the EOS too, so the next turn sees the end of this one, and draws
    // one more sample after it (which it prints; we only draw it, to keep the random stream
    // and so the following turns identical to run.c's for the same seed).
    if (pos < steps) {
      forward(model, state, kEosToken, pos++, pool);
      sampler.sample(state.logits);
    }
    out << "\n";
  }
  out << "[context full: " << steps << " positions used]\n";
}

}  // namespace llama2
