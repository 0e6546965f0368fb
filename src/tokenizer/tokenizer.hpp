// The engine's tokenizer: the Llama sentencepiece-style BPE of llama2.c's tokenizer.bin (and
// of GGUF files whose tokenizer.ggml.model is "llama"), or a byte-level BPE vocabulary (GGUF
// "gpt2": Llama 3, Qwen, SmolLM) behind the same interface. The generation loops, chat and the
// server see only this class: ids in, bytes out, and which ids begin and end things.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace llama2 {

class Tokenizer;
class BpeTokenizer;

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

  // A byte-level BPE vocabulary. `token_types` are GGUF's (3 = control: never printed; the
  // end-of-turn ones among them, with EOS, end generation). Throws Error for ids outside it.
  Tokenizer(BpeTokenizer bpe, std::vector<std::int32_t> token_types, TokenId bos, TokenId eos, bool add_bos);

  int vocab_size() const { return static_cast<int>(pieces_.size()); }
  // The piece's bytes as stored: tokenizer.bin's spelling for sentencepiece vocabularies, the
  // raw bytes (special tokens: their text) for byte-level ones.
  std::string_view piece(TokenId id) const { return pieces_[id]; }
  float score(TokenId id) const { return scores_[id]; }
  bool is_byte_level() const { return bpe_ != nullptr; }

  // The ids that begin and end things. Sentencepiece vocabularies: Llama's BOS 1 and EOS 2.
  TokenId bos() const { return bos_; }
  TokenId eos() const { return eos_; }
  // Whether a sequence starts with BOS (the vocabulary's choice: Qwen's does not).
  bool adds_bos() const { return add_bos_; }
  // Special tokens that are never text (BOS, EOS, <unk>, control tokens of a BPE vocabulary).
  bool is_control(TokenId id) const { return id >= 0 && id < vocab_size() && control_[id]; }
  // What ends a generated text: for sentencepiece vocabularies, as in run.c, a BOS (the start
  // of the next story); for byte-level ones EOS and every end-of-turn token the vocab marks
  // (<|eot_id|>, <|im_end|>, <|endoftext|>, ...), as llama.cpp's end-of-generation set.
  const std::vector<TokenId>& generation_stops() const { return generation_stops_; }
  // What ends an assistant reply: EOS, and for byte-level vocabularies the same
  // end-of-turn tokens as generation_stops().
  const std::vector<TokenId>& reply_stops() const { return reply_stops_; }

  // sentencepiece-compatible encoding: optional BOS, a dummy-prefix space for non-empty
  // text, code points (byte fallback for unknown ones), then merges best-score-first.
  // Like sentencepiece, each byte of invalid UTF-8 is read as U+FFFD and U+2581 ("▁") as a
  // space. Runs in O(n log n).
  // A byte-level vocabulary cuts the text with its pre-tokenizer and merges bytes (bpe.hpp);
  // its BOS is added only when the vocabulary asks for it (Qwen's does not). With
  // `parse_special`, control and user-defined tokens written in the text ("<|im_start|>")
  // become their ids, as llama.cpp and Hugging Face read a prompt; without, they stay text.
  // Sentencepiece vocabularies have none to parse.
  std::vector<TokenId> encode(std::string_view text, bool bos, bool eos, bool parse_special = false) const;

  // A prompt as llama.cpp reads one: BOS if the vocabulary uses it, special tokens written in
  // the text parsed; never empty (a vocabulary without BOS, given no text, starts from BOS).
  std::vector<TokenId> encode_prompt(std::string_view text) const;

  // The bytes of `token` when it follows `prev`, as llama2.c prints them: the leading space
  // of a piece right after BOS is dropped; a piece "<0xHH>" is the single byte HH.
  // Throws Error for an id outside the vocab. Byte-level vocabularies: the token's bytes
  // (nothing for a control token), whatever `prev` is.
  std::string_view decode(TokenId prev, TokenId token) const;

  // Text-exact decoding of a whole sequence (for tests and the server): concatenation of
  // decode(prev, token) for every token after the first (the first is only context, normally
  // BOS). BOS/EOS contribute nothing.
  std::string decode_all(std::span<const TokenId> tokens) const;

  // llama2.c's safe_printf rule: false for a piece that is a single byte which is neither
  // printable nor whitespace (a lone byte of a byte-fallback sequence). Byte-level
  // vocabularies print every non-empty piece: their UTF-8 characters are often split over
  // several tokens, and a terminal joins the bytes.
  bool is_printable(std::string_view piece) const;

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

  TokenId bos_ = kBosToken, eos_ = kEosToken;
  bool add_bos_ = true;
  std::vector<bool> control_;
  std::vector<TokenId> generation_stops_, reply_stops_;
  std::shared_ptr<const BpeTokenizer> bpe_;  // set for a byte-level vocabulary (shared by copies)
};

}  // namespace llama2
