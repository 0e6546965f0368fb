// The Llama sentencepiece-style BPE tokenizer, read from llama2.c's tokenizer.bin
// (or, later, from a GGUF vocabulary).
#pragma once
#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace llama2 {

class Tokenizer;

namespace detail {
// The reference's merge loop, kept as the spec and the test oracle for Tokenizer::encode:
// rescan the whole sequence per merge, take the highest score, leftmost on ties. O(n²).
std::vector<TokenId> encode_reference(const Tokenizer& tokenizer, std::string_view text, bool bos, bool eos);
}  // namespace detail

class Tokenizer {
 public:
  // Reads tokenizer.bin. The file does not store its vocab size: `vocab_size` (the model's)
  // says how many entries to read. Throws Error on a missing, truncated or malformed file,
  // and on trailing bytes (a sign the tokenizer belongs to a model with a larger vocab).
  static Tokenizer load(const std::string& path, int vocab_size);

  // What load() does once the file is in memory; `what` names the source in error messages.
  static Tokenizer parse(std::span<const std::byte> bytes, int vocab_size, const std::string& what);

  // Builds a tokenizer from pieces (raw bytes, spaces as ' ') and their merge scores.
  // Needs at least the three special ids (<unk>, BOS, EOS); scores must not be NaN.
  Tokenizer(std::vector<std::string> pieces, std::vector<float> scores);

  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  std::string_view piece(TokenId id) const { return pieces_[id]; }
  float score(TokenId id) const { return scores_[id]; }

  // sentencepiece-compatible encoding: optional BOS, a dummy-prefix space for non-empty
  // text, code points (byte fallback for unknown ones), then merges best-score-first.
  // Like sentencepiece, each byte of invalid UTF-8 is read as U+FFFD and U+2581 ("▁") as a
  // space. Runs in O(n log n).
  std::vector<TokenId> encode(std::string_view text, bool bos, bool eos) const;

  // The bytes of `token` when it follows `prev`, as llama2.c prints them: the leading space
  // of a piece right after BOS is dropped; a piece "<0xHH>" is the single byte HH.
  // Throws Error for an id outside the vocab.
  std::string_view decode(TokenId prev, TokenId token) const;

  // Text-exact decoding of a whole sequence (for tests and the server): concatenation of
  // decode(prev, token) for every token after the first (the first is only context, normally
  // BOS). BOS/EOS contribute nothing.
  std::string decode_all(std::span<const TokenId> tokens) const;

  // llama2.c's safe_printf rule: false for a piece that is a single byte which is neither
  // printable nor whitespace (a lone byte of a byte-fallback sequence).
  static bool is_printable(std::string_view piece);

 private:
  friend std::vector<TokenId> detail::encode_reference(const Tokenizer&, std::string_view, bool, bool);

  // Id of the text piece spelled `bytes`, or -1. Special (<unk>, BOS, EOS) and byte
  // ("<0xHH>") tokens are not text pieces: as in sentencepiece, no text ever merges into them.
  TokenId find_piece(std::string_view bytes) const;
  // Appends the ids of a final symbol: its piece, or its bytes as byte tokens (id byte+3).
  void append_symbol(std::string_view bytes, std::vector<TokenId>& out) const;

  std::vector<std::string> pieces_;
  std::vector<float> scores_;
  // Open-addressing hash index of text pieces: slots hold ids (-1 = empty), compared against
  // pieces_ on lookup. Storing ids, not views, keeps copies of a Tokenizer self-contained.
  std::vector<TokenId> piece_index_;
  char byte_pieces_[256] = {};  // storage for decode()'s single-byte results
};

}  // namespace llama2
