#include "generation/chat.hpp"

#include <algorithm>
#include <istream>
#include <ostream>
#include <vector>

#include "core/error.hpp"
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
  // The Jinja path: the conversation so far, and the tokens in the KV cache. Each turn renders
  // the whole conversation; only what differs from the cache is fed (usually just the new turn;
  // more if the template writes an earlier reply differently from how it was generated).
  jinja::Json messages = jinja::Json::array();
  if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
  std::vector<TokenId> cached;
  while (pos < steps) {
    // ---- the user speaks ----
    std::string user;
    if (first_turn && !options.first_user_prompt.empty()) {
      user = options.first_user_prompt;
    } else if (out << "User: " << std::flush; !std::getline(in, user)) {
      out << "\n";
      return;  // end of input ends the conversation
    }
    std::vector<TokenId> prompt;
    if (options.format.jinja) {
      messages.push_back({{"role", "user"}, {"content", user}});
      const std::vector<TokenId> full = encode_conversation(tokenizer, *options.format.jinja, messages, true);
      if (full.empty()) throw Error("the chat template wrote nothing for this conversation");
      std::size_t keep = std::mismatch(full.begin(), full.end(), cached.begin(), cached.end()).first - full.begin();
      if (keep == full.size()) --keep;  // feed at least one token, for the logits of the reply
      cached.resize(keep);
      pos = static_cast<Position>(keep);
      prompt.assign(full.begin() + static_cast<std::ptrdiff_t>(keep), full.end());
    } else {
      prompt = encode_user_turn(tokenizer, options.format.builtin, system, user, first_turn);
    }
    first_turn = false;
    if (pos + static_cast<int>(prompt.size()) >= steps) {
      out << "\n[context full: " << steps << " positions used]\n";
      return;
    }

    // ---- feed the turn, then the assistant replies until EOS ----
    out << "Assistant: " << std::flush;
    for (std::size_t i = 0; i < prompt.size(); ++i) {
      forward(model, state, prompt[i], pos++, pool);
      sampler.accept(prompt[i]);  // what penalties, when set, look back on
    }
    cached.insert(cached.end(), prompt.begin(), prompt.end());
    // run.c draws a sample after every forward step, prompt tokens included, and throws the
    // prompt's away; skipping the same draws keeps a seed's replies identical to run.c's.
    sampler.skip_draws(static_cast<int>(prompt.size()) - 1);
    token = prompt.back();
    TokenId end_of_turn = tokenizer.eos();
    std::string reply;
    for (;;) {
      const TokenId next = sampler.sample(state.logits);
      if (next == tokenizer.eos() ||
          std::find(options.stop_tokens.begin(), options.stop_tokens.end(), next) != options.stop_tokens.end()) {
        end_of_turn = next;
        break;
      }
      const std::string_view piece = tokenizer.decode(token, next);
      if (tokenizer.is_printable(piece)) out << piece << std::flush;
      reply += piece;
      token = next;
      if (pos >= steps) {
        out << "\n[context full: " << steps << " positions used]\n";
        return;
      }
      forward(model, state, token, pos++, pool);
      cached.push_back(token);
      sampler.accept(token);
    }
    messages.push_back({{"role", "assistant"}, {"content", reply}});
    // The reference feeds the EOS too, so the next turn sees the end of this one, and draws
    // one more sample after it (which it prints, a stray token; we only skip the draw).
    if (pos < steps) {
      forward(model, state, end_of_turn, pos++, pool);
      cached.push_back(end_of_turn);
      sampler.accept(end_of_turn);
      sampler.skip_draws(1);
    }
    out << "\n";
  }
  out << "[context full: " << steps << " positions used]\n";
}

}  // namespace llama2
