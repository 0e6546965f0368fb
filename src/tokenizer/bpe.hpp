// Byte-level BPE, the tokenizer of Llama 3, Qwen2/3, SmolLM and GPT-2 vocabularies (GGUF's
// tokenizer.ggml.model = "gpt2"): text is cut into words by the vocabulary's pre-tokenizer
// regex, each word's UTF-8 bytes start as single-byte tokens, and the ranked merges join the
// best adjacent pair until none applies. Special (control) tokens are matched in the text
// first, as Hugging Face tokenizers do with added tokens.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/types.hpp"

namespace llama2 {

// The word-splitting regexes of the vocabularies llama.cpp names in tokenizer.ggml.pre.
// Several patterns run in turn: each splits the pieces the previous one left.
enum class PreTokenizer {
  Llama3,  // "llama-bpe", "llama3": digits in groups of up to 3
  Qwen2,   // "qwen2", "deepseek-r1-qwen": single digits
  Gpt2,    // "gpt2", "default"
  SmolLM,  // "smollm": single digits, then GPT-2's pattern
};
// The pre-tokenizer a tokenizer.ggml.pre names; throws Error naming an unknown one.
PreTokenizer pre_tokenizer_from_name(std::string_view name);

// GPT-2's reversible spelling of bytes as printable code points, in which byte-level
// vocabularies store their tokens ("Ġ" for a space, "Ċ" for a newline).
std::string bytes_to_byte_level(std::string_view bytes);
// The inverse; throws Error for a code point that does not stand for a byte.
std::string byte_level_to_bytes(std::string_view spelled);

// Invalid UTF-8 replaced by U+FFFD, one per maximal ill-formed subsequence (the WHATWG /
// Unicode "best practice", which JavaScript's TextDecoder and Python's decode follow).
std::string sanitize_utf8(std::string_view text);

class BpeTokenizer {
 public:
  // `tokens` as the vocabulary spells them (byte-level, e.g. "Ġthe"), `merges` as "left right"
  // in rank order, `token_types` GGUF's (3 control and 4 user-defined tokens are matched in
  // the text whole; may be empty: all normal). Every byte must have a single-byte token.
  // `ignore_merges`: a word that is a token is taken whole (Llama 3's tokenizer.json).
  // Throws Error for a merge of unknown tokens, a missing byte token, duplicate tokens.
  BpeTokenizer(std::vector<std::string> tokens, const std::vector<std::string>& merges,
               std::vector<std::int32_t> token_types, PreTokenizer pre, bool ignore_merges);
  ~BpeTokenizer();
  BpeTokenizer(BpeTokenizer&&) noexcept;
  BpeTokenizer& operator=(BpeTokenizer&&) noexcept;

  int vocab_size() const { return static_cast<int>(bytes_.size()); }
  // The token's bytes (special tokens: their text).
  std::string_view decode(TokenId id) const { return bytes_[id]; }
  std::string decode(const std::vector<TokenId>& ids) const;

  // The ids of `text` (invalid UTF-8 read as U+FFFD). With `parse_special`, control and
  // user-defined tokens written in the text become their ids; without, they are plain text.
  std::vector<TokenId> encode(std::string_view text, bool parse_special) const;

 private:
  void encode_word(std::string_view word, std::vector<TokenId>& out) const;
  void encode_text(std::string_view text, std::vector<TokenId>& out) const;

  struct Regexes;
  std::vector<std::string> bytes_;                        // id -> raw bytes
  std::unordered_map<std::string, TokenId> ids_;          // raw bytes -> id (normal tokens)
  std::vector<TokenId> byte_token_;                       // byte value -> its token
  std::unordered_map<std::uint64_t, std::pair<int, TokenId>> merges_;  // (left, right) -> rank, result
  std::vector<std::pair<std::string, TokenId>> specials_;  // matched whole, longest first
  std::vector<bool> special_start_;                       // byte value -> begins a special
  std::unique_ptr<Regexes> regexes_;
  bool ignore_merges_;
};

}  // namespace llama2
