// Helpers shared by the subcommands: argument parsing with one-line errors, and printing.
#pragma once
#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/types.hpp"
#include "generation/chat_template.hpp"
#include "model/model.hpp"
#include "format/gguf_writer.hpp"
#include "model/tensor.hpp"

namespace llama2::cli {

// Parses argv into `app`. Returns an exit status to stop with (0 after --help), or nothing to
// go on. Parse errors become UsageError (one line, exit status 2).
inline std::optional<int> parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::fputs(app.help().c_str(), stdout);
    return 0;
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    throw UsageError(msg);
  }
  return std::nullopt;
}

// A numeric range check with a short message. CLI11's own NonNegativeNumber spells its upper
// bound (DBL_MAX) out in 300 digits, and its Range lets NaN through (every comparison with NaN
// is false); this accepts only lo <= v <= hi, so "nan" and "inf" (with a finite hi) fail here,
// before the model is loaded. `range` is shown in --help and in the error.
inline CLI::Validator number_in(double lo, double hi, const std::string& range) {
  return CLI::Validator(
      [lo, hi, range](std::string& input) -> std::string {
        double v = 0;
        if (!CLI::detail::lexical_cast(input, v) || !(v >= lo && v <= hi))
          return "'" + input + "' is not in " + range;
        return {};
      },
      range);
}

// Speculative decoding (llama2 and llama2 serve): the two draft sources (prompt lookup's n-gram
// length, a draft model's path) and the drafts checked per pass.
inline void add_speculative_options(CLI::App& app, int& ngram, std::string& draft_model, int& draft_max) {
  app.add_option("--lookup", ngram,
                 "speculative decoding with prompt lookup: drafts follow the last earlier match of up to N tokens")
      ->check(CLI::Range(1, 16));
  app.add_option("--draft", draft_model, "speculative decoding with a small draft model of the same vocabulary");
  app.add_option("--draft-max", draft_max, "drafts checked per pass of the model (speculative decoding)")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
}

// Before any file is opened: the draft sources exclude each other.
inline void check_one_draft_source(int ngram, const std::string& draft_model) {
  if (ngram > 0 && !draft_model.empty()) throw UsageError("--lookup and --draft are two draft sources: give one");
}

// --chat-template and --chat-template-file, for chat and serve alike.
inline void add_chat_template_options(CLI::App& app, std::string& name, std::string& file) {
  auto* builtin = app.add_option("--chat-template", name,
                                 "built-in chat format instead of the model's own template: llama2, zephyr, chatml or "
                                 "llama3 (default: the GGUF file's Jinja template, else llama2)")
                      ->check(CLI::IsMember({"llama2", "zephyr", "chatml", "llama3"}));
  app.add_option("--chat-template-file", file, "a Jinja chat template to use instead of the model's")
      ->check(CLI::ExistingFile)
      ->excludes(builtin);
}

// The chat format those options (and the model file) select; a template that cannot be used
// falls back to a built-in one with a warning on stderr.
inline ChatFormat chat_format(const Model& model, const Tokenizer& tokenizer, const std::string& name,
                              const std::string& file) {
  std::string jinja = model.vocabulary() ? model.vocabulary()->chat_template : "";
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream text;
    if (!in || !(text << in.rdbuf())) throw Error("cannot read the chat template '" + file + "'");
    jinja = text.str();
    try {
      jinja::Template::parse(jinja);
    } catch (const Error& e) {
      throw Error("chat template '" + file + "': " + e.what());
    }
  }
  std::string warning;
  ChatFormat format = choose_chat_format(name, jinja, tokenizer, warning);
  if (!file.empty() && !format.jinja) throw Error("chat template '" + file + "': " + warning);
  if (!warning.empty()) std::fprintf(stderr, "warning: %s\n", warning.c_str());
  return format;
}

// Parses a list of token ids separated by spaces and/or commas. Whether an id is inside the
// model's vocabulary is checked later, against the model (generate()).
inline std::vector<TokenId> parse_token_ids(std::string_view text) {
  constexpr std::string_view kSeparators = " ,\t\n\r";
  std::vector<TokenId> ids;
  std::size_t i = 0;
  while ((i = text.find_first_not_of(kSeparators, i)) != std::string_view::npos) {
    std::size_t end = text.find_first_of(kSeparators, i);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view word = text.substr(i, end - i);
    TokenId id = 0;
    // from_chars rejects signs other than '-', garbage after the digits, and values that do
    // not fit a TokenId.
    const auto [ptr, ec] = std::from_chars(word.data(), word.data() + word.size(), id);
    if (ec != std::errc{} || ptr != word.data() + word.size())
      throw UsageError("--ids: '" + std::string(word) + "' is not a token id");
    ids.push_back(id);
    i = end;
  }
  return ids;
}

// The names ("q8_0") of the weight types the writers produce (quantize, convert and
// --tensor-type offer these), for an option's list of choices; F32 left out where it makes no
// sense.
inline std::vector<std::string> writable_type_names(bool with_f32) {
  std::vector<std::string> names;
  for (const DTypeInfo& t : all_dtypes())
    if (t.writable && (with_f32 || t.type != DType::F32)) names.emplace_back(t.name);
  return names;
}

// A writable type by name; `flag` names the option in the error.
inline DType parse_weight_type(const std::string& name, const std::string& flag) {
  const auto t = dtype_from_name(name);
  if (!t || !dtype_info(*t).writable) throw UsageError(flag + ": unknown type '" + name + "'");
  return *t;
}

// --tensor-type PATTERN=TYPE, given any number of times (the pattern may itself hold '=').
inline std::vector<TensorTypeRule> parse_tensor_type_rules(const std::vector<std::string>& specs) {
  std::vector<TensorTypeRule> rules;
  for (const auto& spec : specs) {
    const std::size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0)
      throw UsageError("--tensor-type: '" + spec + "' is not PATTERN=TYPE");
    rules.push_back({spec.substr(0, eq), parse_weight_type(spec.substr(eq + 1), "--tensor-type")});
  }
  return rules;
}

// Writes bytes to stdout and flushes, so text streams as it is generated.
inline void emit(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

}  // namespace llama2::cli
