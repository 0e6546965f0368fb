// A model file's own vocabulary (GGUF's tokenizer.ggml.*) as data, and the bridge between it
// and the Tokenizer: GGUF's spelling of pieces, token types, and the conversions each way.
// The GGUF reader (format/gguf.cpp) fills a Vocabulary; the writers and the CLI convert.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace llama2 {

class Tokenizer;

// A vocabulary carried inside the model file (GGUF's tokenizer.ggml.*), so no tokenizer.bin
// is needed. Pieces are spelled as tokenizer.bin spells them (real spaces, BOS/EOS as
// "\n<s>\n" / "\n</s>\n"): ready for the Tokenizer (see make_tokenizer).
struct Vocabulary {
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<std::int32_t> token_types;  // GGUF's: 1 normal, 2 unknown, 3 control, 6 byte, ...
  TokenId bos = kBosToken;
  TokenId eos = kEosToken;
  bool add_bos = true;
  std::string chat_template;  // the file's Jinja chat template; empty if none
};

// ---------------------------------------------------------------------------
// Vocabulary spelling. GGUF stores sentencepiece's pieces (U+2581 for a space, "<s>" and
// "</s>" for BOS/EOS); llama2.c's tokenizer.bin and this engine's Tokenizer use real spaces
// and "\n<s>\n" / "\n</s>\n". These convert one piece each way.
// ---------------------------------------------------------------------------
std::string piece_from_gguf(std::string_view token, TokenId id, TokenId bos, TokenId eos);
std::string piece_to_gguf(std::string_view piece, TokenId id, TokenId bos, TokenId eos);

// GGUF token types (tokenizer.ggml.token_type).
enum GgufTokenType : std::int32_t {
  kTokenNormal = 1,
  kTokenUnknown = 2,
  kTokenControl = 3,
  kTokenUserDefined = 4,
  kTokenUnused = 5,
  kTokenByte = 6,
};

// A Vocabulary from a llama2.c tokenizer (token types inferred: <unk>, BOS/EOS control,
// "<0xHH>" byte tokens, the rest normal).
Vocabulary vocabulary_from_tokenizer(const Tokenizer& tokenizer);
// The engine's Tokenizer for an embedded vocabulary. Throws Error when its special ids are
// not the Llama ones (<unk> 0, BOS 1, EOS 2), which the tokenizer and the loops assume.
Tokenizer make_tokenizer(const Vocabulary& vocabulary);

}  // namespace llama2
