// UTF-8 well-formedness (Unicode table 3-7), shared by the tokenizers: each reads invalid
// bytes as U+FFFD, sentencepiece byte by byte, byte-level BPE per maximal ill-formed subpart.
#pragma once
#include <cstddef>
#include <string_view>

namespace llama2 {

// The length of the well-formed sequence at s[i], or 0 with `bad` = how many bytes form the
// maximal ill-formed subpart there (at least 1). The second byte's range depends on the
// lead byte (Unicode table 3-7): this is what excludes overlongs and surrogates.
inline std::size_t utf8_sequence(std::string_view s, std::size_t i, std::size_t& bad, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  bad = 1;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  int need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return 0;
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < lo || b > hi) return 0;
    lo = 0x80, hi = 0xBF;
    cp = (cp << 6) | (b & 0x3F);
    bad = static_cast<std::size_t>(k) + 1;
  }
  return static_cast<std::size_t>(need) + 1;
}

}  // namespace llama2
