#include "tokenizer/bpe.hpp"

#include <gtest/gtest.h>

#include <random>

#include "core/error.hpp"

namespace llama2 {
namespace {

// The 256 byte tokens in byte-level spelling (ids 0..255 = byte values), then `extra`.
std::vector<std::string> byte_vocab(const std::vector<std::string>& extra = {}) {
  std::vector<std::string> tokens;
  for (int b = 0; b < 256; ++b) tokens.push_back(bytes_to_byte_level(std::string(1, static_cast<char>(b))));
  for (const auto& t : extra) tokens.push_back(bytes_to_byte_level(t));
  return tokens;
}

// "left right" in byte-level spelling.
std::string merge(const std::string& left, const std::string& right) {
  return bytes_to_byte_level(left) + " " + bytes_to_byte_level(right);
}

TEST(Bpe, ByteLevelSpellingRoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  EXPECT_EQ(byte_level_to_bytes(bytes_to_byte_level(all)), all);
  EXPECT_EQ(bytes_to_byte_level(" "), "\xC4\xA0");   // Ġ
  EXPECT_EQ(bytes_to_byte_level("\n"), "\xC4\x8A");  // Ċ
  EXPECT_EQ(bytes_to_byte_level("a"), "a");
  EXPECT_THROW(byte_level_to_bytes("\xE2\x82\xAC"), Error);  // € stands for no byte
  EXPECT_THROW(byte_level_to_bytes("\xC4"), Error);          // cut UTF-8
}

TEST(Bpe, InvalidUtf8BecomesOneReplacementPerMaximalSubpart) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(sanitize_utf8("h\xC3\xA9llo \xF0\x9F\x98\x80"), "h\xC3\xA9llo \xF0\x9F\x98\x80");
  EXPECT_EQ(sanitize_utf8("\xFF"), r);
  EXPECT_EQ(sanitize_utf8("\xE2\x82" "a"), r + "a");        // a cut 3-byte sequence: one
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), r + r + r);      // a surrogate: three
  EXPECT_EQ(sanitize_utf8("\xC0\x80"), r + r);              // overlong: two
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98"), r);              // cut at the end: one
  EXPECT_EQ(sanitize_utf8("\xF4\x90\x80\x80"), r + r + r + r);  // past U+10FFFF
}

// The merge loop as the definition reads: rescan, merge the lowest-ranked pair (leftmost on
// ties), repeat. O(n^2); the oracle for the heap.
std::vector<TokenId> merge_reference(const std::string& word, const std::vector<std::pair<std::string, std::string>>& merges,
                                     const BpeTokenizer& bpe) {
  std::vector<std::string> parts;
  for (char c : word) parts.emplace_back(1, c);
  for (;;) {
    std::size_t best = merges.size(), at = 0;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i)
      for (std::size_t r = 0; r < best; ++r)
        if (merges[r].first == parts[i] && merges[r].second == parts[i + 1]) {
          best = r, at = i;
          break;
        }
    if (best == merges.size()) break;
    parts[at] += parts[at + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(at) + 1);
  }
  std::vector<TokenId> ids;
  for (const auto& p : parts)
    for (TokenId id = 0; id < bpe.vocab_size(); ++id)
      if (bpe.decode(id) == p) {
        ids.push_back(id);
        break;
      }
  return ids;
}

TEST(Bpe, MergesEqualTheReferenceOnRandomWords) {
  // Merges over a 3-letter alphabet, with overlapping and chained pairs and repeated letters
  // (where leftmost-first matters: "aaa").
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"a", "a"}, {"a", "b"}, {"b", "c"}, {"aa", "b"}, {"c", "c"}, {"ab", "c"}, {"aab", "cc"}, {"b", "a"},
      {"aa", "aa"}, {"c", "a"}, {"ba", "ab"}};
  std::vector<std::string> extra, spelled;
  for (const auto& [l, r] : merges) {
    if (std::find(extra.begin(), extra.end(), l + r) == extra.end()) extra.push_back(l + r);
    spelled.push_back(merge(l, r));
  }
  const BpeTokenizer bpe(byte_vocab(extra), spelled, {}, PreTokenizer::Gpt2, false);
  std::mt19937 rng(7);
  for (int trial = 0; trial < 3000; ++trial) {
    std::string word;
    const int n = 1 + static_cast<int>(rng() % 24);
    for (int i = 0; i < n; ++i) word.push_back("abc"[rng() % 3]);
    EXPECT_EQ(bpe.encode(word, false), merge_reference(word, merges, bpe)) << word;
    EXPECT_EQ(bpe.decode(bpe.encode(word, false)), word);
  }
}

TEST(Bpe, PreTokenizerSplitsWordsAndIgnoreMergesTakesThemWhole) {
  // No merges at all: only ignore_merges can produce the word tokens, so they show the cuts.
  const BpeTokenizer bpe(byte_vocab({"Hello", " world", "123", "456", "'s", " !!"}), {}, {}, PreTokenizer::Llama3, true);
  const std::vector<TokenId> ids = bpe.encode("Hello world1234567's !!", false);
  std::vector<std::string> words;
  for (TokenId id : ids) words.emplace_back(bpe.decode(id));
  EXPECT_EQ(words, (std::vector<std::string>{"Hello", " world", "123", "456", "7", "'s", " !!"}));
  // Qwen2 cuts digits one by one.
  const BpeTokenizer qwen(byte_vocab({"12"}), {}, {}, PreTokenizer::Qwen2, true);
  EXPECT_EQ(qwen.encode("12", false).size(), 2u);
}

TEST(Bpe, SpecialTokensAreMatchedOnlyWhenAsked) {
  std::vector<std::string> tokens = byte_vocab();
  tokens.push_back("<|eot|>");
  tokens.push_back("<|eot|>x");  // longest match wins
  std::vector<std::int32_t> types(tokens.size(), 1);
  types[256] = 3;
  types[257] = 4;
  const BpeTokenizer bpe(tokens, {}, types, PreTokenizer::Llama3, false);
  EXPECT_EQ(bpe.encode("a<|eot|>b<|eot|>x", true), (std::vector<TokenId>{'a', 256, 'b', 257}));
  EXPECT_EQ(bpe.encode("<|eot|>", false).size(), 7u);
  EXPECT_EQ(bpe.decode(256), "<|eot|>");
  EXPECT_EQ(bpe.decode(bpe.encode("a<|eot|>b", true)), "a<|eot|>b");
}

TEST(Bpe, EncodingIsNotQuadraticInTheWordLength) {
  // One 200k-byte word of a repeated letter with a chain of doubling merges: the heap does
  // ~n log n work; a rescan per merge would take n^2 / 2 = 2e10 steps and time out the test.
  std::vector<std::string> extra, merges;
  std::string piece = "a";
  for (int k = 0; k < 12; ++k) {
    merges.push_back(merge(piece, piece));
    piece += piece;
    extra.push_back(piece);
  }
  const BpeTokenizer bpe(byte_vocab(extra), merges, {}, PreTokenizer::Gpt2, false);
  const std::string word(200000, 'a');
  const std::vector<TokenId> ids = bpe.encode(word, false);
  EXPECT_EQ(bpe.decode(ids), word);
  // 200000 = 48 * 4096 + 2048 + 1024 + 256 + 64: equal pairs merge leftmost first.
  EXPECT_EQ(ids.size(), 52u);
}

TEST(Bpe, MalformedVocabulariesAreRefused) {
  EXPECT_THROW(BpeTokenizer(byte_vocab(), {merge("a", "b")}, {}, PreTokenizer::Gpt2, false), Error);  // no "ab"
  EXPECT_THROW(BpeTokenizer(byte_vocab({"ab"}), {"ab"}, {}, PreTokenizer::Gpt2, false), Error);   // not two tokens
  EXPECT_THROW(BpeTokenizer(byte_vocab({"a"}), {}, {}, PreTokenizer::Gpt2, false), Error);        // "a" twice
  std::vector<std::string> missing = byte_vocab();
  missing.erase(missing.begin() + 'z');
  EXPECT_THROW(BpeTokenizer(missing, {}, {}, PreTokenizer::Gpt2, false), Error);  // no byte 'z'
  EXPECT_THROW(BpeTokenizer(byte_vocab(), {}, {1, 1}, PreTokenizer::Gpt2, false), Error);  // types
  EXPECT_THROW(pre_tokenizer_from_name("falcon"), Error);
  EXPECT_EQ(pre_tokenizer_from_name("llama-bpe"), PreTokenizer::Llama3);
}

}  // namespace
}  // namespace llama2
