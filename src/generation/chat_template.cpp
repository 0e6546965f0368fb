#include "generation/chat_template.hpp"

namespace llama2 {

std::string render_user_turn(ChatTemplate tmpl, std::string_view system, std::string_view user, bool first) {
  switch (tmpl) {
    case ChatTemplate::Llama2:
      if (first && !system.empty())
        return "[INST] <<SYS>>\n" + std::string(system) + "\n<</SYS>>\n\n" + std::string(user) + " [/INST]";
      return "[INST] " + std::string(user) + " [/INST]";
  }
  return std::string(user);
}

}  // namespace llama2
