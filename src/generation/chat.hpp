// Chat mode: alternate user turns (read from a stream) and assistant replies in one shared
// context, as llama2.c's chat loop does, without its fixed-size buffers.
#pragma once
#include <iosfwd>
#include <string>
#include <vector>

#include "core/thread_pool.hpp"
#include "generation/chat_template.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "tokenizer/tokenizer.hpp"
#include "transformer/state.hpp"

namespace llama2 {

struct ChatOptions {
  int steps = 0;               // positions the whole conversation may use
  std::string system_prompt;   // empty: ask for one on the first turn (as run.c), if interactive
  bool ask_system_prompt = true;
  std::string first_user_prompt;  // non-empty: the first user turn (run.c's -i in chat mode)
  ChatFormat format;  // with a Jinja template, each turn re-renders the whole conversation
  // Tokens that end a reply besides EOS (a template's end-of-turn, e.g. ChatML's <|im_end|>);
  // the one that ended it is fed back, as run.c feeds the EOS.
  std::vector<TokenId> stop_tokens;
};

// Reads user turns line by line from `in` and streams replies to `out`. Ends cleanly at the
// end of input or when the context is full (saying so on `out`).
void chat(const Model& model, const Tokenizer& tokenizer, State& state, Sampler& sampler, const ChatOptions& options,
          std::istream& in, std::ostream& out, ThreadPool& pool);

}  // namespace llama2
