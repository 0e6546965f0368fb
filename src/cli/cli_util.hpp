// Helpers shared by the subcommands: argument parsing with one-line errors, and printing.
#pragma once
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/types.hpp"

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

// Parses a list of token ids separated by spaces and/or commas.
inline std::vector<TokenId> parse_token_ids(std::string_view text) {
  std::vector<TokenId> ids;
  std::size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == ',' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    std::size_t j = i;
    if (text[j] == '-' || text[j] == '+') ++j;
    std::size_t digits_start = j;
    long long value = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9') {
      if (value < (1LL << 40)) value = value * 10 + (text[j] - '0');
      ++j;
    }
    if (j == digits_start || (j < text.size() && text[j] != ' ' && text[j] != ',' && text[j] != '\t' &&
                              text[j] != '\n' && text[j] != '\r'))
      throw UsageError("--ids: '" + std::string(text.substr(i, j - i + 1)) + "' is not a token id");
    if (text[i] == '-') value = -value;
    if (value < 0 || value > (1LL << 30)) throw Error("token id " + std::to_string(value) + " is out of range");
    ids.push_back(static_cast<TokenId>(value));
    i = j;
  }
  return ids;
}

// Writes bytes to stdout and flushes, so text streams as it is generated.
inline void emit(std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

}  // namespace llama2::cli
