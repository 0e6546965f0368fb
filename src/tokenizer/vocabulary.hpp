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
// is needed. Two kinds, as GGUF's tokenizer.ggml.model names them:
//   "llama": sentencepiece pieces spelled as tokenizer.bin spells them (real spaces, BOS/EOS as
//            "\n<s>\n" / "\n</s>\n"), with merge scores;
//   "gpt2":  byte-level BPE tokens as the file spells them ("Ġthe"), ranked merges and the
//            pre-tokenizer's name (tokenizer.ggml.pre).
struct Vocabulary {
  std::string model = "llama";
  std::vector<std::string> pieces;
  std::vector<float> scores;
  std::vector<std::int32_t> token_types;  // GGUF's: 1 normal, 2 unknown, 3 control, 6 byte, ...
  TokenId bos = kBosToken;
  TokenId eos = kEosToken;
  bool add_bos = true;
  std::string chat_template;  // the file's Jinja chat template; empty if none
  std::vector<std::string> merges;  // gpt2: "left right", best first
  std::string pre;                  // gpt2: the pre-tokenizer ("llama-bpe", "qwen2", ...)
  bool ignore_merges = false;       // gpt2: a word that is a token is taken whole (Llama 3)

  bool byte_level() const { return model == "gpt2"; }
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
// The engine's Tokenizer for an embedded vocabulary. Throws Error when a sentencepiece
// vocabulary's special ids are not the Llama ones (<unk> 0, BOS 1, EOS 2), which its
// tokenizer assumes, or a byte-level one is inconsistent (see BpeTokenizer).
Tokenizer make_tokenizer(const Vocabulary& vocabulary);

// A byte-level vocabulary from a Hugging Face tokenizer.json (and, if not empty, the
// tokenizer_config.json beside it, for the BOS/EOS tokens and the chat template), read as
// llama.cpp's converter reads it: tokens in id order (gaps unused), added special tokens as
// control, other added tokens user-defined, merges as "left right". The pre-tokenizer is
// recognised from the tokenizer's own split regex (Llama 3, Qwen2, SmolLM, GPT-2); `pre`,
// when not empty, names it instead. BOS is added when the post-processor adds it. Throws
// Error for a file that is not a byte-level BPE tokenizer or a pre-tokenizer not recognised.
Vocabulary vocabulary_from_hf_tokenizer(const std::string& tokenizer_json, const std::string& config_json,
                                        const std::string& pre = "");

}  // namespace llama2
