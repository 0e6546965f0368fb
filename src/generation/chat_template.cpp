#include "generation/chat_template.hpp"

#include <algorithm>

#include "core/error.hpp"

namespace llama2 {

namespace {

// A rendered turn as runs of text and template markers (markers may become single tokens).
struct Segment {
  bool marker;
  std::string text;
};

std::vector<Segment> render_segments(ChatTemplate tmpl, std::string_view system, std::string_view user,
                                     bool first) {
  const std::string sys(system), usr(user);
  switch (tmpl) {
    case ChatTemplate::Llama2:
      if (first && !system.empty())
        return {{false, "[INST] <<SYS>>\n" + sys + "\n<</SYS>>\n\n" + usr + " [/INST]"}};
      return {{false, "[INST] " + usr + " [/INST]"}};
    case ChatTemplate::Zephyr: {
      std::vector<Segment> s;
      if (!first) s.push_back({false, "\n"});
      if (first && !system.empty())
        s.insert(s.end(), {{true, "<|system|>"}, {false, "\n" + sys}, {true, "</s>"}, {false, "\n"}});
      s.insert(s.end(), {{true, "<|user|>"}, {false, "\n" + usr}, {true, "</s>"}, {false, "\n"},
                         {true, "<|assistant|>"}, {false, "\n"}});
      return s;
    }
    case ChatTemplate::ChatML: {
      std::vector<Segment> s;
      if (!first) s.push_back({false, "\n"});
      if (first && !system.empty())
        s.insert(s.end(), {{true, "<|im_start|>"}, {false, "system\n" + sys}, {true, "<|im_end|>"}, {false, "\n"}});
      s.insert(s.end(), {{true, "<|im_start|>"}, {false, "user\n" + usr}, {true, "<|im_end|>"}, {false, "\n"},
                         {true, "<|im_start|>"}, {false, "assistant\n"}});
      return s;
    }
    case ChatTemplate::Llama3: {
      std::vector<Segment> s;
      auto header = [&](const char* role) {
        s.insert(s.end(), {{true, "<|start_header_id|>"}, {false, role}, {true, "<|end_header_id|>"}});
      };
      if (first && !system.empty()) {
        header("system");
        s.insert(s.end(), {{false, "\n\n" + sys}, {true, "<|eot_id|>"}});
      }
      header("user");
      s.insert(s.end(), {{false, "\n\n" + usr}, {true, "<|eot_id|>"}});
      header("assistant");
      s.push_back({false, "\n\n"});
      return s;
    }
  }
  return {{false, usr}};
}

// The id of the vocabulary piece spelled exactly `marker`, or -1. "</s>" is EOS whatever its
// spelling in the vocabulary (tokenizer.bin writes it "\n</s>\n").
TokenId marker_token(const Tokenizer& tokenizer, std::string_view marker) {
  if (marker == "</s>" && !tokenizer.is_byte_level()) return kEosToken;
  for (TokenId id = 0; id < tokenizer.vocab_size(); ++id)
    if (tokenizer.piece(id) == marker) return id;
  return -1;
}

// How a template names BOS and EOS: their pieces in a byte-level vocabulary; "<s>" and "</s>"
// in a sentencepiece one (tokenizer.bin spells them "\n<s>\n").
std::string special_text(const Tokenizer& tokenizer, TokenId id) {
  if (!tokenizer.is_byte_level()) return id == kBosToken ? "<s>" : "</s>";
  return std::string(tokenizer.piece(id));
}

// Rendered text to tokens, special tokens written in it parsed as llama.cpp does. A byte-level
// vocabulary does this itself; a sentencepiece one has only <s> and </s> to find, and each run
// of text between them gets its dummy-prefix space.
std::vector<TokenId> encode_with_specials(const Tokenizer& tokenizer, std::string_view text) {
  if (tokenizer.is_byte_level()) return tokenizer.encode(text, /*bos=*/false, /*eos=*/false, /*parse_special=*/true);
  std::vector<TokenId> out;
  while (!text.empty()) {
    const std::size_t bos = text.find("<s>"), eos = text.find("</s>");
    const std::size_t at = std::min(bos, eos);
    const std::vector<TokenId> run = tokenizer.encode(text.substr(0, at), false, false);
    out.insert(out.end(), run.begin(), run.end());
    if (at == std::string_view::npos) break;
    out.push_back(at == bos ? kBosToken : kEosToken);
    text.remove_prefix(at + (at == bos ? 3 : 4));
  }
  return out;
}

}  // namespace

std::string render_user_turn(ChatTemplate tmpl, std::string_view system, std::string_view user, bool first) {
  std::string out;
  for (const Segment& s : render_segments(tmpl, system, user, first)) out += s.text;
  return out;
}

std::vector<TokenId> encode_user_turn(const Tokenizer& tokenizer, ChatTemplate tmpl, std::string_view system,
                                      std::string_view user, bool first) {
  const bool bos = (first || tmpl == ChatTemplate::Llama2) && tokenizer.adds_bos();
  std::vector<TokenId> out;
  if (bos) out.push_back(tokenizer.bos());
  std::string pending;  // text (and markers the vocabulary lacks) not yet encoded
  auto flush = [&] {
    if (pending.empty()) return;
    const std::vector<TokenId> ids = tokenizer.encode(pending, /*bos=*/false, /*eos=*/false);
    out.insert(out.end(), ids.begin(), ids.end());
    pending.clear();
  };
  for (const Segment& s : render_segments(tmpl, system, user, first)) {
    const TokenId id = s.marker ? marker_token(tokenizer, s.text) : -1;
    if (id < 0) {
      pending += s.text;
      continue;
    }
    flush();
    out.push_back(id);
  }
  flush();
  return out;
}

std::vector<TokenId> chat_stop_tokens(const Tokenizer& tokenizer, ChatTemplate tmpl) {
  std::vector<TokenId> stops = tokenizer.reply_stops();
  if (const TokenId id = chat_end_of_turn(tokenizer, tmpl); std::find(stops.begin(), stops.end(), id) == stops.end())
    stops.push_back(id);
  return stops;
}

TokenId chat_end_of_turn(const Tokenizer& tokenizer, ChatTemplate tmpl) {
  const char* marker = tmpl == ChatTemplate::ChatML ? "<|im_end|>" : tmpl == ChatTemplate::Llama3 ? "<|eot_id|>" : "";
  if (*marker)
    if (const TokenId id = marker_token(tokenizer, marker); id >= 0) return id;
  return tokenizer.eos();
}

std::vector<TokenId> encode_conversation(const Tokenizer& tokenizer, const jinja::Template& tmpl,
                                         const jinja::Json& messages, bool add_generation_prompt) {
  const jinja::Json context = {{"messages", messages},
                               {"add_generation_prompt", add_generation_prompt},
                               {"bos_token", special_text(tokenizer, tokenizer.bos())},
                               {"eos_token", special_text(tokenizer, tokenizer.eos())}};
  std::vector<TokenId> ids = encode_with_specials(tokenizer, tmpl.render(context));
  if (tokenizer.adds_bos() && (ids.empty() || ids.front() != tokenizer.bos())) ids.insert(ids.begin(), tokenizer.bos());
  return ids;
}

ChatFormat choose_chat_format(std::string_view forced, std::string_view jinja, const Tokenizer& tokenizer,
                              std::string& warning) {
  warning.clear();
  ChatFormat format;
  if (!forced.empty()) {
    format.builtin = chat_template_from_name(forced);
    return format;
  }
  if (jinja.empty()) return format;
  format.builtin = detect_chat_template(jinja).value_or(ChatTemplate::Llama2);
  try {
    auto parsed = std::make_shared<const jinja::Template>(jinja::Template::parse(jinja));
    // A template may parse and still not render (an unsupported filter on a path every
    // conversation takes): try one before trusting it.
    encode_conversation(tokenizer, *parsed, jinja::Json::array({{{"role", "user"}, {"content", "Hi"}}}), true);
    format.jinja = std::move(parsed);
  } catch (const Error& e) {
    warning = std::string("the chat template cannot be used (") + e.what() + "); using the built-in " +
              chat_template_name(format.builtin) + " format (choose one with --chat-template)";
  }
  return format;
}

std::string ChatFormat::describe() const {
  return jinja ? std::string("jinja") : std::string(chat_template_name(builtin));
}

std::optional<ChatTemplate> detect_chat_template(std::string_view jinja) {
  // Most distinctive first: a ChatML template may also mention other markers in comments.
  if (jinja.find("<|im_start|>") != std::string_view::npos) return ChatTemplate::ChatML;
  if (jinja.find("<|start_header_id|>") != std::string_view::npos) return ChatTemplate::Llama3;
  if (jinja.find("<|user|>") != std::string_view::npos && jinja.find("<|assistant|>") != std::string_view::npos)
    return ChatTemplate::Zephyr;
  if (jinja.find("[INST]") != std::string_view::npos) return ChatTemplate::Llama2;
  return std::nullopt;
}

ChatTemplate chat_template_from_name(std::string_view name) {
  for (ChatTemplate t : {ChatTemplate::Llama2, ChatTemplate::Zephyr, ChatTemplate::ChatML, ChatTemplate::Llama3})
    if (name == chat_template_name(t)) return t;
  throw UsageError("unknown chat template '" + std::string(name) + "' (known: llama2, zephyr, chatml, llama3)");
}

const char* chat_template_name(ChatTemplate tmpl) {
  switch (tmpl) {
    case ChatTemplate::Llama2: return "llama2";
    case ChatTemplate::Zephyr: return "zephyr";
    case ChatTemplate::ChatML: return "chatml";
    case ChatTemplate::Llama3: return "llama3";
  }
  return "?";
}

}  // namespace llama2
