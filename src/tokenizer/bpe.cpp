// Byte-level BPE: pre-tokenizer regexes (PCRE2), the byte-level spelling, and the ranked
// merge loop. See bpe.hpp for what each step is for.
#include "tokenizer/bpe.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <array>
#include <queue>

#include "core/error.hpp"
#include "core/utf8.hpp"

namespace llama2 {

// ---------------------------------------------------------------------------
// UTF-8
// ---------------------------------------------------------------------------
namespace {

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// GPT-2's byte <-> code point table: printable Latin-1 bytes stand for themselves, the other
// 68 bytes take the code points from 256 on, in byte order.
struct ByteLevelTable {
  std::array<char32_t, 256> code_of{};
  std::array<int, 512> byte_of{};
  ByteLevelTable() {
    byte_of.fill(-1);
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
      code_of[b] = printable ? static_cast<char32_t>(b) : next++;
      byte_of[code_of[b]] = b;
    }
  }
};
const ByteLevelTable& byte_level() {
  static const ByteLevelTable table;
  return table;
}

}  // namespace

std::string sanitize_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t bad;
    char32_t cp;
    if (const std::size_t n = utf8_sequence(text, i, bad, cp)) {
      out.append(text.substr(i, n));
      i += n;
    } else {
      out.append("\xEF\xBF\xBD");
      i += bad;
    }
  }
  return out;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  for (char c : bytes) append_utf8(out, byte_level().code_of[static_cast<unsigned char>(c)]);
  return out;
}

std::string byte_level_to_bytes(std::string_view spelled) {
  std::string out;
  for (std::size_t i = 0; i < spelled.size();) {
    std::size_t bad;
    char32_t cp;
    const std::size_t n = utf8_sequence(spelled, i, bad, cp);
    if (n == 0 || cp >= 512 || byte_level().byte_of[cp] < 0)
      throw Error("byte-level token '" + std::string(spelled) + "' has a character that stands for no byte");
    out.push_back(static_cast<char>(byte_level().byte_of[cp]));
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Pre-tokenizers
// ---------------------------------------------------------------------------
namespace {

// The patterns as the vocabularies' tokenizer.json files write them.
constexpr const char* kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr const char* kDigitPattern = R"(\p{N})";

std::vector<const char*> patterns_of(PreTokenizer pre) {
  switch (pre) {
    case PreTokenizer::Llama3: return {kLlama3Pattern};
    case PreTokenizer::Qwen2: return {kQwen2Pattern};
    case PreTokenizer::Gpt2: return {kGpt2Pattern};
    case PreTokenizer::SmolLM: return {kDigitPattern, kGpt2Pattern};
  }
  return {};
}

}  // namespace

PreTokenizer pre_tokenizer_from_name(std::string_view name) {
  if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::Llama3;
  if (name == "qwen2" || name == "deepseek-r1-qwen") return PreTokenizer::Qwen2;
  if (name == "gpt2" || name == "default") return PreTokenizer::Gpt2;
  if (name == "smollm") return PreTokenizer::SmolLM;
  throw Error("unsupported tokenizer.ggml.pre '" + std::string(name) +
              "' (supported: llama-bpe, qwen2, deepseek-r1-qwen, gpt2, smollm)");
}

// Compiled once per tokenizer (PCRE2 code is shared between threads; match data is not).
struct BpeTokenizer::Regexes {
  std::vector<pcre2_code*> codes;
  ~Regexes() {
    for (pcre2_code* c : codes) pcre2_code_free(c);
  }
};

namespace {

// Cuts each piece into the regex's matches and the gaps between them ("Isolated").
std::vector<std::string_view> split(pcre2_code* code, const std::vector<std::string_view>& pieces) {
  std::vector<std::string_view> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  for (std::string_view piece : pieces) {
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(piece.data());
    std::size_t start = 0, last = 0;
    while (start < piece.size()) {
      const int rc = pcre2_match(code, subject, piece.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
      if (rc < 0) break;
      const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
      if (ov[1] == ov[0]) {  // an empty match: try again one character on
        start = ov[0] + 1;
        while (start < piece.size() && (static_cast<unsigned char>(piece[start]) & 0xC0) == 0x80) ++start;
        continue;
      }
      if (ov[0] > last) out.push_back(piece.substr(last, ov[0] - last));
      out.push_back(piece.substr(ov[0], ov[1] - ov[0]));
      last = start = ov[1];
    }
    if (last < piece.size()) out.push_back(piece.substr(last));
  }
  pcre2_match_data_free(md);
  return out;
}

std::uint64_t pair_key(TokenId left, TokenId right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

}  // namespace

// ---------------------------------------------------------------------------
// The tokenizer
// ---------------------------------------------------------------------------
BpeTokenizer::BpeTokenizer(std::vector<std::string> tokens, const std::vector<std::string>& merges,
                           std::vector<std::int32_t> token_types, PreTokenizer pre, bool ignore_merges)
    : regexes_(std::make_unique<Regexes>()), ignore_merges_(ignore_merges) {
  if (!token_types.empty() && token_types.size() != tokens.size())
    throw Error("BPE vocabulary: " + std::to_string(token_types.size()) + " token types for " +
                std::to_string(tokens.size()) + " tokens");
  bytes_.reserve(tokens.size());
  byte_token_.assign(256, -1);
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto id = static_cast<TokenId>(i);
    const std::int32_t type = token_types.empty() ? 1 : token_types[i];
    if (type == 3 || type == 4) {  // control / user-defined: spelled as plain text
      bytes_.push_back(tokens[i]);
      if (!tokens[i].empty()) specials_.emplace_back(tokens[i], id);
      continue;
    }
    bytes_.push_back(byte_level_to_bytes(tokens[i]));
    if (!ids_.emplace(bytes_.back(), id).second)
      throw Error("BPE vocabulary: token " + std::to_string(i) + " ('" + tokens[i] + "') appears twice");
    if (bytes_.back().size() == 1) byte_token_[static_cast<unsigned char>(bytes_.back()[0])] = id;
  }
  for (int b = 0; b < 256; ++b)
    if (byte_token_[b] < 0) throw Error("BPE vocabulary: no token for byte " + std::to_string(b));
  std::sort(specials_.begin(), specials_.end(),
            [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  special_start_.assign(256, false);
  for (const auto& s : specials_) special_start_[static_cast<unsigned char>(s.first[0])] = true;

  merges_.reserve(merges.size());
  for (std::size_t rank = 0; rank < merges.size(); ++rank) {
    const std::string& m = merges[rank];
    const std::size_t space = m.find(' ', 1);
    auto id_of = [&](std::string_view spelled) {
      const auto it = ids_.find(byte_level_to_bytes(spelled));
      if (it == ids_.end())
        throw Error("BPE merge " + std::to_string(rank) + " ('" + m + "') names a token not in the vocabulary");
      return it->second;
    };
    if (space == std::string::npos || m.find(' ', space + 1) != std::string::npos)
      throw Error("BPE merge " + std::to_string(rank) + " ('" + m + "') is not two tokens");
    const std::string_view left = std::string_view(m).substr(0, space), right = std::string_view(m).substr(space + 1);
    const TokenId merged = id_of(std::string(left) + std::string(right));
    merges_.try_emplace(pair_key(id_of(left), id_of(right)), static_cast<int>(rank), merged);
  }

  for (const char* pattern : patterns_of(pre)) {
    int err;
    PCRE2_SIZE offset;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
    if (!code) throw Error("pre-tokenizer regex does not compile");
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // where JIT is missing, the interpreter runs
    regexes_->codes.push_back(code);
  }
}

BpeTokenizer::~BpeTokenizer() = default;
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;

std::string BpeTokenizer::decode(const std::vector<TokenId>& ids) const {
  std::string out;
  for (TokenId id : ids) out.append(decode(id));
  return out;
}

// One word: its bytes as tokens, then the lowest-ranked adjacent pair merged (the leftmost
// among equals) until no pair has a merge. A heap of candidate pairs keeps this O(n log n);
// a popped pair whose sides have changed since it was pushed is stale and skipped.
void BpeTokenizer::encode_word(std::string_view word, std::vector<TokenId>& out) const {
  if (ignore_merges_) {
    if (const auto it = ids_.find(std::string(word)); it != ids_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  struct Symbol {
    TokenId id;
    int prev, next;  // neighbours in the list; -1 at the ends
  };
  std::vector<Symbol> symbols(word.size());
  for (std::size_t i = 0; i < word.size(); ++i)
    symbols[i] = {byte_token_[static_cast<unsigned char>(word[i])], static_cast<int>(i) - 1,
                  i + 1 < word.size() ? static_cast<int>(i) + 1 : -1};
  struct Candidate {
    int rank, left;
    TokenId left_id, right_id, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto offer = [&](int left) {
    if (left < 0 || symbols[left].next < 0) return;
    const TokenId a = symbols[left].id, b = symbols[symbols[left].next].id;
    if (const auto it = merges_.find(pair_key(a, b)); it != merges_.end())
      heap.push({it->second.first, left, a, b, it->second.second});
  };
  for (int i = 0; i + 1 < static_cast<int>(word.size()); ++i) offer(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Symbol& left = symbols[c.left];
    if (left.id != c.left_id || left.next < 0 || symbols[left.next].id != c.right_id) continue;
    const int gone = left.next;
    left.id = c.merged;
    left.next = symbols[gone].next;
    if (left.next >= 0) symbols[left.next].prev = c.left;
    symbols[gone].id = -1;  // dead: no candidate can match it again
    offer(left.prev);
    offer(c.left);
  }
  for (int i = word.empty() ? -1 : 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

void BpeTokenizer::encode_text(std::string_view text, std::vector<TokenId>& out) const {
  std::vector<std::string_view> pieces = {text};
  for (pcre2_code* code : regexes_->codes) pieces = split(code, pieces);
  for (std::string_view word : pieces) encode_word(word, out);
}

std::vector<TokenId> BpeTokenizer::encode(std::string_view raw, bool parse_special) const {
  const std::string text = sanitize_utf8(raw);
  std::vector<TokenId> out;
  std::size_t plain = 0;  // start of the text not yet encoded
  if (parse_special && !specials_.empty()) {
    for (std::size_t i = 0; i < text.size();) {
      if (!special_start_[static_cast<unsigned char>(text[i])]) {
        ++i;
        continue;
      }
      const auto it = std::find_if(specials_.begin(), specials_.end(),
                                   [&](const auto& s) { return std::string_view(text).substr(i).starts_with(s.first); });
      if (it == specials_.end()) {
        ++i;
        continue;
      }
      encode_text(std::string_view(text).substr(plain, i - plain), out);
      out.push_back(it->second);
      i += it->first.size();
      plain = i;
    }
  }
  encode_text(std::string_view(text).substr(plain), out);
  return out;
}

}  // namespace llama2
