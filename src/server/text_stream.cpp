#include "server/text_stream.hpp"

#include <algorithm>

namespace llama2::server {

TextStream::TextStream(std::vector<std::string> stops) : stops_(std::move(stops)) {
  for (const std::string& s : stops_) longest_stop_ = std::max(longest_stop_, s.size());
}

bool TextStream::append(std::string_view piece) {
  if (stopped_) return true;
  const std::size_t old_size = text_.size();
  text_ += piece;
  if (stops_.empty()) return false;
  // A stop sequence completed by this piece starts at most longest_stop_ - 1 bytes before it.
  // The earliest match wins, so what precedes it is exactly what the client gets.
  const std::size_t from = old_size >= longest_stop_ ? old_size - (longest_stop_ - 1) : 0;
  std::size_t cut = std::string::npos;
  for (const std::string& s : stops_) cut = std::min(cut, text_.find(s, from));
  if (cut == std::string::npos) return false;
  text_.resize(cut);
  sent_ = std::min(sent_, cut);  // cannot happen (held back), but never point past the end
  stopped_ = true;
  return true;
}

std::string TextStream::take_ready() {
  std::size_t ready = text_.size();
  if (!stopped_) {
    // Hold back the longest tail that is a proper prefix of some stop sequence.
    std::size_t hold = 0;
    for (const std::string& s : stops_) {
      for (std::size_t n = std::min(s.size() - 1, text_.size()); n > hold; --n) {
        if (std::string_view(text_).substr(text_.size() - n) == std::string_view(s).substr(0, n)) {
          hold = n;
          break;
        }
      }
    }
    ready = text_.size() - hold;
    ready = complete_utf8_prefix(std::string_view(text_).substr(0, ready));
  }
  if (ready <= sent_) return {};
  std::string out = text_.substr(sent_, ready - sent_);
  sent_ = ready;
  return out;
}

std::string TextStream::take_rest() {
  std::string out = text_.substr(std::min(sent_, text_.size()));
  sent_ = text_.size();
  return out;
}

std::size_t complete_utf8_prefix(std::string_view text) {
  // Look at the last (up to) 3 bytes for a lead byte whose sequence runs past the end.
  const std::size_t n = text.size();
  for (std::size_t back = 1; back <= 3 && back <= n; ++back) {
    const auto c = static_cast<unsigned char>(text[n - back]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte: keep looking for its lead
    const std::size_t need = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return need > back ? n - back : n;
  }
  return n;  // only continuation bytes at the end: invalid anyway, send them
}

}  // namespace llama2::server
