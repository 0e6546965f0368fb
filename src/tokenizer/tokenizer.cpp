#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <queue>

#include "core/error.hpp"
#include "core/utf8.hpp"
#include "core/mapped_file.hpp"
#include "core/byte_reader.hpp"
#include "tokenizer/bpe.hpp"

namespace llama2 {

// ---------------------------------------------------------------------------
// Text units: what the encoder starts from
// ---------------------------------------------------------------------------
namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kLowLine = "\xE2\x96\x81";          // U+2581, sentencepiece's space

// Length of the well-formed UTF-8 sequence starting at text[i], or 0 if none starts there.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  std::size_t bad;
  char32_t cp;
  return utf8_sequence(text, i, bad, cp);
}

// sentencepiece's view of the text, as the Llama model's normalizer spec sets it up
// (identity rules, add_dummy_prefix, no whitespace removal): a space in front of non-empty
// text, every byte that is not part of well-formed UTF-8 read as U+FFFD, and U+2581 read as a
// space (sentencepiece stores spaces as U+2581; tokenizer.bin has them back as ' '). Also
// returns the code point boundaries: unit k is normalized[starts[k], starts[k+1]).
struct NormalizedText {
  std::string bytes;
  std::vector<std::uint32_t> starts;  // one per code point, plus the end
};

NormalizedText normalize(std::string_view text) {
  NormalizedText n;
  if (text.empty()) return n;
  // uint32 offsets keep the symbol arrays small; 4 GB of prompt is not a use case.
  if (text.size() > std::numeric_limits<std::uint32_t>::max() / 4)
    throw Error("text of " + std::to_string(text.size()) + " bytes is too long to tokenize");
  n.bytes.reserve(text.size() + 1);
  n.starts.reserve(text.size() + 2);
  n.starts.push_back(0);
  n.bytes.push_back(' ');
  for (std::size_t i = 0; i < text.size();) {
    n.starts.push_back(static_cast<std::uint32_t>(n.bytes.size()));
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      n.bytes.append(kReplacementChar);
      i += 1;  // one bad byte, one replacement: the next byte gets its own chance
    } else if (text.substr(i, length) == kLowLine) {
      n.bytes.push_back(' ');
      i += length;
    } else {
      n.bytes.append(text.substr(i, length));
      i += length;
    }
  }
  n.starts.push_back(static_cast<std::uint32_t>(n.bytes.size()));
  return n;
}

// A piece spelled exactly "<0xHH>" is a byte token; returns its byte, or -1.
int byte_token_value(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  const int hi = hex(piece[3]), lo = hex(piece[4]);
  return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

// FNV-1a: simple, and good enough for ~32k short keys.
std::uint64_t hash_bytes(std::string_view bytes) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
  return h;
}

}  // namespace

// ---------------------------------------------------------------------------
// Construction and loading
// ---------------------------------------------------------------------------
Tokenizer::Tokenizer(std::vector<std::string> pieces, std::vector<float> scores)
    : pieces_(std::move(pieces)), scores_(std::move(scores)) {
  if (pieces_.size() != scores_.size())
    throw Error("tokenizer has " + std::to_string(pieces_.size()) + " pieces but " +
                std::to_string(scores_.size()) + " scores");
  if (pieces_.size() <= static_cast<std::size_t>(kEosToken))
    throw Error("tokenizer vocab of " + std::to_string(pieces_.size()) +
                " is too small: it needs at least <unk>, BOS and EOS");
  if (pieces_.size() > static_cast<std::size_t>(std::numeric_limits<TokenId>::max() / 4))
    throw Error("tokenizer vocab of " + std::to_string(pieces_.size()) + " entries is too large");
  for (std::size_t id = 0; id < scores_.size(); ++id)
    if (std::isnan(scores_[id]))  // merges are ordered by score: NaN has no order
      throw Error("tokenizer piece " + std::to_string(id) + " has a NaN score");

  for (int b = 0; b < 256; ++b) byte_pieces_[b] = static_cast<char>(b);
  control_.assign(pieces_.size(), false);
  control_[kUnkToken] = control_[kBosToken] = control_[kEosToken] = true;
  generation_stops_ = {kBosToken};
  reply_stops_ = {kEosToken};

  // Load factor <= 1/2 keeps probe chains short.
  piece_index_.assign(std::bit_ceil(pieces_.size() * 2), -1);
  const std::size_t mask = piece_index_.size() - 1;
  for (std::size_t id = 0; id < pieces_.size(); ++id) {
    const std::string& piece = pieces_[id];
    if (id <= static_cast<std::size_t>(kEosToken) || piece.empty() || byte_token_value(piece) >= 0) continue;
    for (std::size_t slot = hash_bytes(piece) & mask;; slot = (slot + 1) & mask) {
      const TokenId other = piece_index_[slot];
      if (other < 0) {
        piece_index_[slot] = static_cast<TokenId>(id);
        break;
      }
      if (pieces_[other] == piece) break;  // a duplicate piece: the lowest id keeps the spelling
    }
  }
}

namespace {
// The texts of end-of-turn tokens across the byte-level families (llama.cpp's end-of-generation
// list): a control token spelled like one of these ends a reply and a generation.
constexpr std::string_view kEndOfTurnTexts[] = {
    "<|eot_id|>", "<|eom_id|>", "<|end_of_text|>", "<|im_end|>", "<|endoftext|>", "<|end|>",
    "<end_of_turn>", "<|END_OF_TURN_TOKEN|>", "<EOT>", "</s>", "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"};
}  // namespace

Tokenizer::Tokenizer(BpeTokenizer bpe, std::vector<std::int32_t> token_types, TokenId bos, TokenId eos,
                     bool add_bos)
    : bos_(bos), eos_(eos), add_bos_(add_bos) {
  const int n = bpe.vocab_size();
  if (!token_types.empty() && token_types.size() != static_cast<std::size_t>(n))
    throw Error("the vocabulary has " + std::to_string(n) + " tokens but " + std::to_string(token_types.size()) +
                " token types");
  for (const TokenId id : {bos, eos})
    if (id < 0 || id >= n)
      throw Error("special token id " + std::to_string(id) + " is outside the vocab of " + std::to_string(n));
  pieces_.reserve(n);
  for (TokenId id = 0; id < n; ++id) pieces_.emplace_back(bpe.decode(id));
  scores_.assign(n, 0.0f);
  control_.assign(n, false);
  for (TokenId id = 0; id < n; ++id)
    if (!token_types.empty() && token_types[id] == 3) control_[id] = true;
  control_[bos] = control_[eos] = true;
  reply_stops_ = {eos};
  for (TokenId id = 0; id < n; ++id) {
    if (!control_[id] || id == eos) continue;
    for (const std::string_view text : kEndOfTurnTexts)
      if (pieces_[id] == text) reply_stops_.push_back(id);
  }
  generation_stops_ = reply_stops_;
  bpe_ = std::make_shared<const BpeTokenizer>(std::move(bpe));
}

Tokenizer Tokenizer::load(const std::string& path, int vocab_size) {
  const MappedFile file(path);
  return parse(file.bytes(), vocab_size, "tokenizer '" + path + "'");
}

Tokenizer Tokenizer::parse(std::span<const std::byte> bytes, int vocab_size, const std::string& what) {
  ByteReader reader(bytes, what);
  if (vocab_size <= kEosToken)
    reader.fail("the model's vocab size " + std::to_string(vocab_size) +
                " is too small: it needs at least <unk>, BOS and EOS");
  const auto max_token_length = reader.read<std::int32_t>("max_token_length");
  if (max_token_length < 0) reader.fail("negative max_token_length " + std::to_string(max_token_length));

  std::vector<std::string> pieces;
  std::vector<float> scores;
  // Each entry takes at least 8 bytes: never reserve more than the file can hold, so a huge
  // vocab_size cannot trigger a huge allocation before the size check fails.
  const auto reservable = std::min<std::uint64_t>(static_cast<std::uint64_t>(vocab_size), reader.remaining() / 8);
  pieces.reserve(reservable);
  scores.reserve(reservable);
  for (int id = 0; id < vocab_size; ++id) {
    const std::string entry = "entry " + std::to_string(id);
    if (reader.remaining() == 0)
      reader.fail("has fewer entries than the model's vocab: the file ends after " + std::to_string(id) +
                  " entries, the model has " + std::to_string(vocab_size));
    if (reader.remaining() < 8)
      reader.fail("truncated in " + entry + ": its score and length need 8 bytes, " +
                  std::to_string(reader.remaining()) + " left");
    const auto score = reader.read<float>("score");
    const auto length = reader.read<std::int32_t>("length");
    if (std::isnan(score)) reader.fail(entry + " has a NaN score");
    if (length < 0) reader.fail(entry + " has a negative length " + std::to_string(length));
    if (length > max_token_length)
      reader.fail(entry + " has length " + std::to_string(length) + ", more than the file's max_token_length " +
                  std::to_string(max_token_length));
    if (static_cast<std::uint64_t>(length) > reader.remaining())
      reader.fail("truncated in " + entry + ": its piece needs " + std::to_string(length) + " bytes, " +
                  std::to_string(reader.remaining()) + " left");
    const auto* piece = reinterpret_cast<const char*>(reader.take(static_cast<std::uint64_t>(length), "piece"));
    pieces.emplace_back(piece, static_cast<std::size_t>(length));
    scores.push_back(score);
  }
  if (reader.remaining() != 0)
    reader.fail("has more entries than the model's vocab of " + std::to_string(vocab_size) + ": " +
                std::to_string(reader.remaining()) + " bytes are left after entry " + std::to_string(vocab_size - 1));
  return Tokenizer(std::move(pieces), std::move(scores));
}

TokenId Tokenizer::find_piece(std::string_view bytes) const {
  const std::size_t mask = piece_index_.size() - 1;
  for (std::size_t slot = hash_bytes(bytes) & mask;; slot = (slot + 1) & mask) {
    const TokenId id = piece_index_[slot];
    if (id < 0) return -1;
    if (pieces_[id] == bytes) return id;
  }
}

void Tokenizer::append_symbol(std::string_view bytes, std::vector<TokenId>& out) const {
  if (const TokenId id = find_piece(bytes); id >= 0) {
    out.push_back(id);
    return;
  }
  // Byte fallback. A vocab too small to hold the byte tokens (a toy model) gets <unk>.
  for (char c : bytes) {
    const TokenId byte_id = static_cast<TokenId>(static_cast<unsigned char>(c)) + 3;
    out.push_back(byte_id < vocab_size() ? byte_id : kUnkToken);
  }
}

// ---------------------------------------------------------------------------
// Encoding: merges over a linked list of symbols, driven by a heap of adjacent pairs
// ---------------------------------------------------------------------------
namespace {

// A run of normalized bytes that is one unit of the sequence: a code point at first, then
// the union of merged neighbours. Removed symbols get length 0.
struct Symbol {
  std::uint32_t start;
  std::uint32_t length;
  std::int32_t prev;  // index of the left neighbour, or -1
  std::int32_t next;  // index of the right neighbour, or -1
};

// A pair of neighbours whose concatenation is a piece. It goes stale (and is skipped when
// popped) once either side has merged with something else; the recorded merged length
// detects that, because a symbol only ever grows.
struct MergeCandidate {
  float score;
  std::int32_t left;  // symbol index; symbol indices grow left to right
  std::int32_t right;
  std::uint32_t merged_length;
};

// Orders the heap: highest score on top, and among equal scores the leftmost pair, which is
// what the reference's "first maximum of a left-to-right scan" picks.
struct LowerPriority {
  bool operator()(const MergeCandidate& a, const MergeCandidate& b) const {
    if (a.score != b.score) return a.score < b.score;
    return a.left > b.left;
  }
};

}  // namespace

std::vector<TokenId> Tokenizer::encode(std::string_view text, bool bos, bool eos, bool parse_special) const {
  if (bpe_) {
    std::vector<TokenId> ids;
    if (bos && add_bos_) ids.push_back(bos_);
    const std::vector<TokenId> words = bpe_->encode(text, parse_special);
    ids.insert(ids.end(), words.begin(), words.end());
    if (eos) ids.push_back(eos_);
    return ids;
  }
  std::vector<TokenId> ids;
  if (bos) ids.push_back(kBosToken);
  const NormalizedText normalized = normalize(text);
  const std::string_view bytes = normalized.bytes;
  const std::size_t unit_count = normalized.starts.empty() ? 0 : normalized.starts.size() - 1;

  std::vector<Symbol> symbols(unit_count);
  for (std::size_t k = 0; k < unit_count; ++k) {
    symbols[k] = {normalized.starts[k], normalized.starts[k + 1] - normalized.starts[k],
                  static_cast<std::int32_t>(k) - 1,
                  k + 1 < unit_count ? static_cast<std::int32_t>(k + 1) : -1};
  }

  std::vector<MergeCandidate> heap_storage;
  heap_storage.reserve(unit_count);
  std::priority_queue<MergeCandidate, std::vector<MergeCandidate>, LowerPriority> candidates(
      LowerPriority{}, std::move(heap_storage));
  const auto consider_pair = [&](std::int32_t left, std::int32_t right) {
    if (left < 0 || right < 0) return;
    const Symbol& l = symbols[left];
    const Symbol& r = symbols[right];
    const TokenId merged = find_piece(bytes.substr(l.start, l.length + r.length));
    if (merged >= 0) candidates.push({scores_[merged], left, right, l.length + r.length});
  };
  for (std::size_t k = 0; k + 1 < unit_count; ++k)
    consider_pair(static_cast<std::int32_t>(k), static_cast<std::int32_t>(k + 1));

  while (!candidates.empty()) {
    const MergeCandidate top = candidates.top();
    candidates.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.length == 0 || right.length == 0 || left.next != top.right ||
        left.length + right.length != top.merged_length)
      continue;  // stale
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    consider_pair(left.prev, top.left);
    consider_pair(top.left, left.next);
  }

  ids.reserve(ids.size() + unit_count + 1);
  for (std::int32_t k = unit_count > 0 ? 0 : -1; k >= 0; k = symbols[k].next)
    append_symbol(bytes.substr(symbols[k].start, symbols[k].length), ids);
  if (eos) ids.push_back(kEosToken);
  return ids;
}

std::vector<TokenId> Tokenizer::encode_prompt(std::string_view text) const {
  std::vector<TokenId> ids = encode(text, /*bos=*/true, /*eos=*/false, /*parse_special=*/true);
  if (ids.empty()) ids.push_back(bos_);
  return ids;
}

std::vector<TokenId> detail::encode_reference(const Tokenizer& tokenizer, std::string_view text, bool bos,
                                              bool eos) {
  std::vector<TokenId> ids;
  if (bos) ids.push_back(kBosToken);
  const NormalizedText normalized = normalize(text);
  std::vector<std::string> symbols;
  for (std::size_t k = 0; k + 1 < normalized.starts.size(); ++k)
    symbols.push_back(normalized.bytes.substr(normalized.starts[k], normalized.starts[k + 1] - normalized.starts[k]));

  for (;;) {
    std::size_t best_index = 0;
    TokenId best_id = -1;
    for (std::size_t i = 0; i + 1 < symbols.size(); ++i) {
      const TokenId id = tokenizer.find_piece(symbols[i] + symbols[i + 1]);
      if (id >= 0 && (best_id < 0 || tokenizer.score(id) > tokenizer.score(best_id))) {
        best_id = id;
        best_index = i;
      }
    }
    if (best_id < 0) break;
    symbols[best_index] += symbols[best_index + 1];
    symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best_index) + 1);
  }

  for (const std::string& symbol : symbols) tokenizer.append_symbol(symbol, ids);
  if (eos) ids.push_back(kEosToken);
  return ids;
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------
std::string_view Tokenizer::decode(TokenId prev, TokenId token) const {
  if (token < 0 || token >= vocab_size())
    throw Error("token id " + std::to_string(token) + " is outside the vocab of " + std::to_string(vocab_size()));
  std::string_view piece = pieces_[token];
  if (bpe_) return control_[token] ? std::string_view() : piece;
  if (prev == kBosToken && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
  if (const int byte = byte_token_value(piece); byte >= 0) return {&byte_pieces_[byte], 1};
  return piece;
}

std::string Tokenizer::decode_all(std::span<const TokenId> tokens) const {
  std::string text;
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    if (bpe_ ? is_control(tokens[i]) : tokens[i] == kBosToken || tokens[i] == kEosToken) continue;
    text.append(decode(tokens[i - 1], tokens[i]));
  }
  return text;
}

bool Tokenizer::is_printable(std::string_view piece) const {
  if (piece.empty()) return false;
  if (piece.size() > 1 || bpe_) return true;
  const auto byte = static_cast<unsigned char>(piece[0]);
  // The C locale's isprint/isspace, spelled out so the program's locale cannot change it.
  return (byte >= 0x20 && byte <= 0x7E) || byte == '\t' || byte == '\n' || byte == '\v' || byte == '\f' ||
         byte == '\r';
}

}  // namespace llama2
