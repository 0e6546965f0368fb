// libFuzzer target for the tokenizer: parses a fuzzed tokenizer file, then encodes and
// decodes fuzzed text with it, checking the fast encoder against the reference one.
//
// Input layout:
//   byte 0      flags: bit 0 = put <unk>, BOS, EOS and the 256 byte tokens in front of the
//               fuzzed entries (so byte fallback and round trips get exercised without
//               the fuzzer having to spell 259 entries); bit 1 = add BOS; bit 2 = add EOS
//   byte 1      vocab size passed to the parser: the prefix's 259 (if any) + this byte
//   bytes 2-3   little-endian uint16 L: how many of the following bytes are the file
//   L bytes     the tokenizer file (with bit 0: its max_token_length, then the extra entries)
//   the rest    text to encode
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

constexpr std::size_t kReferenceTextLimit = 256;  // the reference encoder is quadratic

void append_entry(std::string& file, float score, std::string_view piece) {
  const auto length = static_cast<std::int32_t>(piece.size());
  file.append(reinterpret_cast<const char*>(&score), sizeof score);
  file.append(reinterpret_cast<const char*>(&length), sizeof length);
  file.append(piece);
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_tokenizer: %s\n", what);
  std::abort();
}

bool valid_utf8_without_low_line(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto b = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    std::size_t n = b(i) < 0x80 ? 1 : b(i) >= 0xC2 && b(i) <= 0xDF ? 2 : b(i) >= 0xE0 && b(i) <= 0xEF ? 3
                                  : b(i) >= 0xF0 && b(i) <= 0xF4 ? 4 : 0;
    if (n == 0 || i + n > text.size()) return false;
    for (std::size_t k = 1; k < n; ++k)
      if ((b(i + k) & 0xC0) != 0x80) return false;
    if ((b(i) == 0xE0 && b(i + 1) < 0xA0) || (b(i) == 0xED && b(i + 1) > 0x9F) ||
        (b(i) == 0xF0 && b(i + 1) < 0x90) || (b(i) == 0xF4 && b(i + 1) > 0x8F))
      return false;
    if (text.substr(i, n) == "\xE2\x96\x81") return false;  // read as a space by design
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t flags = data[0];
  const bool standard_prefix = flags & 1, bos = flags & 2, eos = flags & 4;
  const std::size_t file_length = std::min<std::size_t>(data[2] | (data[3] << 8), size - 4);
  const std::string_view fuzzed_file(reinterpret_cast<const char*>(data + 4), file_length);
  const std::string_view text(reinterpret_cast<const char*>(data + 4 + file_length), size - 4 - file_length);

  std::string file;
  int vocab_size = data[1];
  if (standard_prefix) {
    // max_token_length comes from the fuzzed file, the standard entries follow it.
    file.append(fuzzed_file.substr(0, 4));
    append_entry(file, 0, "<unk>");
    append_entry(file, 0, "\n<s>\n");
    append_entry(file, 0, "\n</s>\n");
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      append_entry(file, 0, name);
    }
    file.append(fuzzed_file.substr(std::min<std::size_t>(4, fuzzed_file.size())));
    vocab_size += 259;
  } else {
    file.append(fuzzed_file);
  }

  std::optional<llama2::Tokenizer> parsed;
  try {
    parsed.emplace(llama2::Tokenizer::parse(std::as_bytes(std::span(file.data(), file.size())), vocab_size, "fuzz"));
  } catch (const llama2::Error&) {
    return 0;  // a clean rejection is the right outcome for a malformed file
  }
  const llama2::Tokenizer& tokenizer = *parsed;

  const std::vector<llama2::TokenId> ids = tokenizer.encode(text, bos, eos);
  for (llama2::TokenId id : ids)
    if (id < 0 || id >= tokenizer.vocab_size()) fail("encode produced an id outside the vocab");
  if (text.size() <= kReferenceTextLimit && ids != llama2::detail::encode_reference(tokenizer, text, bos, eos))
    fail("fast encoder differs from the reference encoder");

  for (std::size_t i = 1; i < ids.size(); ++i) {
    const std::string_view piece = tokenizer.decode(ids[i - 1], ids[i]);
    (void)tokenizer.is_printable(piece);
  }
  const std::string decoded = tokenizer.decode_all(ids);

  // Round trip: holds when the byte tokens are the standard ones, " " is a text piece (so the
  // dummy prefix always lands at the start of a text piece, and is dropped after BOS) and
  // the text is well-formed UTF-8 without U+2581. Text starting with "<" is left out: a
  // piece " <0xHH>" right after BOS loses its space and then reads as a byte token
  // (llama2.c's decoding rule; no real vocab has such a piece).
  bool space_is_a_piece = false;
  for (llama2::TokenId id = 3; id < tokenizer.vocab_size() && !space_is_a_piece; ++id)
    space_is_a_piece = tokenizer.piece(id) == " ";
  if (standard_prefix && bos && space_is_a_piece && !text.starts_with('<') && valid_utf8_without_low_line(text) &&
      decoded != text)
    fail("decode_all(encode(text)) != text");
  return 0;
}
