// How a conversation turn is rendered into the text the model was trained on.
#pragma once
#include <string>
#include <string_view>

namespace llama2 {

enum class ChatTemplate {
  Llama2,  // [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]
};

// Renders one user turn. `first` is true for the first turn of the conversation, the only
// one that carries the system prompt.
std::string render_user_turn(ChatTemplate tmpl, std::string_view system, std::string_view user, bool first);

}  // namespace llama2
