// Generated text on its way to a client: applies stop sequences and decides which bytes are
// safe to send now. A byte may have to wait because it could be the start of a stop sequence
// (which must never reach the client) or because it ends in the middle of a UTF-8 character
// (byte-fallback tokens spell one character over several tokens, and a JSON chunk must hold
// whole characters).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace llama2::server {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stops = {});

  // Appends a decoded piece. Returns true when a stop sequence is now complete: the text is
  // cut just before it, and nothing more may be appended.
  bool append(std::string_view piece);

  // The bytes that became safe to send since the last call.
  std::string take_ready();
  // At the end of generation: everything not yet taken (held-back bytes included).
  std::string take_rest();

  // All the text kept so far (sent or not), without any stop sequence.
  const std::string& text() const { return text_; }
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::size_t longest_stop_ = 0;
  std::string text_;
  std::size_t sent_ = 0;  // bytes of text_ already taken
  bool stopped_ = false;
};

// The length of the longest prefix of `text` that does not end inside a UTF-8 character
// (a trailing lead byte whose continuation bytes have not all arrived). Invalid bytes count
// as complete: waiting would not make them valid.
std::size_t complete_utf8_prefix(std::string_view text);

}  // namespace llama2::server
