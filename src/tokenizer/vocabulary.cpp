#include "tokenizer/vocabulary.hpp"

#include "core/error.hpp"
#include "tokenizer/bpe.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2 {

// ---------------------------------------------------------------------------
// Vocabulary spelling
// ---------------------------------------------------------------------------
namespace {
constexpr std::string_view kLowLine = "\xE2\x96\x81";  // U+2581, sentencepiece's space

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    if (s.substr(i, from.size()) == from) {
      out.append(to);
      i += from.size();
    } else {
      out.push_back(s[i++]);
    }
  }
  return out;
}

bool is_byte_token(std::string_view piece) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f'); };
  return piece.size() == 6 && piece.substr(0, 3) == "<0x" && piece[5] == '>' && hex(piece[3]) && hex(piece[4]);
}
}  // namespace

// llama2.c's exporter wrote BOS/EOS as "\n<s>\n" / "\n</s>\n" and every U+2581 as a space;
// doing exactly the same makes bin -> GGUF -> bin reproduce tokenizer.bin byte for byte.
std::string piece_from_gguf(std::string_view token, TokenId id, TokenId bos, TokenId eos) {
  if (id == bos) return "\n<s>\n";
  if (id == eos) return "\n</s>\n";
  return replace_all(token, kLowLine, " ");
}

std::string piece_to_gguf(std::string_view piece, TokenId id, TokenId bos, TokenId eos) {
  if (id == bos) return "<s>";
  if (id == eos) return "</s>";
  return replace_all(piece, " ", kLowLine);
}

Vocabulary vocabulary_from_tokenizer(const Tokenizer& tokenizer) {
  Vocabulary v;
  const int n = tokenizer.vocab_size();
  v.pieces.reserve(n);
  v.scores.reserve(n);
  v.token_types.reserve(n);
  for (TokenId id = 0; id < n; ++id) {
    const std::string_view piece = tokenizer.piece(id);
    v.pieces.emplace_back(piece);
    v.scores.push_back(tokenizer.score(id));
    v.token_types.push_back(id == kUnkToken                       ? kTokenUnknown
                            : id == kBosToken || id == kEosToken ? kTokenControl
                            : is_byte_token(piece)               ? kTokenByte
                                                                 : kTokenNormal);
  }
  return v;
}

Tokenizer make_tokenizer(const Vocabulary& vocabulary) {
  if (vocabulary.byte_level()) {
    BpeTokenizer bpe(vocabulary.pieces, vocabulary.merges, vocabulary.token_types,
                     pre_tokenizer_from_name(vocabulary.pre), vocabulary.ignore_merges);
    return Tokenizer(std::move(bpe), vocabulary.token_types, vocabulary.bos, vocabulary.eos, vocabulary.add_bos);
  }
  if (vocabulary.model != "llama")
    throw Error("tokenizer model '" + vocabulary.model + "' is not supported (known: llama, gpt2)");
  if (vocabulary.bos != kBosToken || vocabulary.eos != kEosToken)
    throw Error("the model's vocabulary has BOS " + std::to_string(vocabulary.bos) + " and EOS " +
                std::to_string(vocabulary.eos) + "; the Llama tokenizer needs BOS 1 and EOS 2");
  return Tokenizer(vocabulary.pieces, vocabulary.scores);
}

}  // namespace llama2
