// How a conversation turn is rendered into the text (and tokens) the model was trained on.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"
#include "generation/jinja.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2 {

enum class ChatTemplate {
  Llama2,  // [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST]
  Zephyr,  // <|system|>\n{system}</s>\n<|user|>\n{user}</s>\n<|assistant|>\n   (TinyLlama-Chat)
  ChatML,  // <|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n
  Llama3,  // <|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n
};

// Renders one user turn. `first` is true for the first turn of the conversation, the only
// one that carries the system prompt. Later Zephyr/ChatML turns start with the newline that
// follows the previous reply's end marker.
std::string render_user_turn(ChatTemplate tmpl, std::string_view system, std::string_view user, bool first);

// The tokens of one user turn. Template markers that are one piece of the vocabulary ("</s>"
// is always EOS; "<|im_start|>", "<|im_end|>", "<|user|>", ... when the model has them) are fed
// as those tokens, the text around them is encoded normally (each run of text after a marker
// gets sentencepiece's dummy-prefix space, as llama.cpp does). BOS starts every Llama 2 turn
// (as in run.c) but only the first turn of the others. For Llama2 this equals
// tokenizer.encode(render_user_turn(...), true, false).
std::vector<TokenId> encode_user_turn(const Tokenizer& tokenizer, ChatTemplate tmpl, std::string_view system,
                                      std::string_view user, bool first);

// Tokens that end an assistant reply: the vocabulary's (Tokenizer::reply_stops: EOS, and a
// byte-level vocabulary's end-of-turn tokens), and the template's end-of-turn piece.
std::vector<TokenId> chat_stop_tokens(const Tokenizer& tokenizer, ChatTemplate tmpl);

// The token that closes a turn of this template, fed after a reply: ChatML's <|im_end|>,
// Llama 3's <|eot_id|> when the vocabulary has them, else EOS.
TokenId chat_end_of_turn(const Tokenizer& tokenizer, ChatTemplate tmpl);

// Recognizes a Jinja chat template (GGUF's tokenizer.chat_template) by its distinctive markers;
// nothing for a template of another family.
std::optional<ChatTemplate> detect_chat_template(std::string_view jinja);

// How a model's conversations are written: its own Jinja template (GGUF tokenizer.chat_template)
// when there is one this interpreter renders, else a built-in family.
struct ChatFormat {
  ChatFormat() = default;
  ChatFormat(ChatTemplate family) : builtin(family) {}  // a built-in format (implicit: it is one)
  ChatTemplate builtin = ChatTemplate::Llama2;    // also the family whose end-of-turn marker stops replies
  std::shared_ptr<const jinja::Template> jinja;  // null: the built-in one renders
  std::string describe() const;                  // "jinja", or the built-in's name
};

// The chat format to use. `forced` (--chat-template NAME) picks a built-in one; else `jinja`
// (a file's template, or --chat-template-file's) if it parses and renders a one-message
// conversation; else the family detect_chat_template recognises; else Llama 2. A template that
// cannot be used is reported in `warning` (why, and what is used instead); empty otherwise.
ChatFormat choose_chat_format(std::string_view forced, std::string_view jinja, const Tokenizer& tokenizer,
                              std::string& warning);

// A whole conversation (messages: [{"role", "content"}, ...]) in tokens, as the Jinja template
// writes it: rendered with bos_token/eos_token, then special tokens written in the text
// (<|im_start|>, <s>, ...) become those tokens and the text between them is encoded normally.
// A leading BOS is added when the vocabulary starts sequences with one and the text did not.
std::vector<TokenId> encode_conversation(const Tokenizer& tokenizer, const jinja::Template& tmpl,
                                         const jinja::Json& messages, bool add_generation_prompt);

// "llama2", "zephyr", "chatml", "llama3" <-> ChatTemplate (names for --chat-template). The parser throws
// UsageError for another name.
ChatTemplate chat_template_from_name(std::string_view name);
const char* chat_template_name(ChatTemplate tmpl);

}  // namespace llama2
