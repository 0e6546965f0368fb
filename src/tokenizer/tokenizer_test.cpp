// Tokenizer tests: the golden ids, sentencepiece itself as the oracle on random text, the
// fast merge loop against the reference one, decoding, and malformed tokenizer files.
#include "tokenizer/tokenizer.hpp"

#include <gtest/gtest.h>
#if LLAMA2_HAVE_SENTENCEPIECE  // always in native builds; an arm64 cross build may lack it
#include <sentencepiece_processor.h>
#endif

#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "core/error.hpp"
#include "test_support.hpp"

namespace llama2 {
namespace {

using ::llama2::testing::data_path;
using ::llama2::testing::write_scratch;

constexpr int kLlamaVocab = 32000;

// The Llama 2 tokenizer, loaded once for the whole suite.
const Tokenizer& llama_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::load(data_path("models/tokenizer.bin"), kLlamaVocab);
  return tokenizer;
}

#if LLAMA2_HAVE_SENTENCEPIECE
const sentencepiece::SentencePieceProcessor& sentencepiece_llama() {
  static const auto* processor = [] {
    auto* sp = new sentencepiece::SentencePieceProcessor();
    const auto status = sp->Load(data_path("models/tokenizer.model"));
    if (!status.ok()) throw std::runtime_error("cannot load tokenizer.model: " + status.ToString());
    return sp;
  }();
  return *processor;
}

// What sentencepiece produces, with BOS in front as llama2.c's encode(bos=true) does.
std::vector<TokenId> sentencepiece_ids(const std::string& text) {
  std::vector<int> ids;
  const auto status = sentencepiece_llama().Encode(text, &ids);
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::vector<TokenId> with_bos{kBosToken};
  with_bos.insert(with_bos.end(), ids.begin(), ids.end());
  return with_bos;
}
#endif

// Shows bytes of a test string unambiguously in failure messages.
std::string escaped(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (c >= 0x20 && c < 0x7F && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string utf8(char32_t cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Random text built from the kinds of material that stress a BPE tokenizer: words, runs of
// mixed whitespace, accented Latin, CJK, emoji (with ZWJ and skin tones), combining marks,
// other scripts, punctuation, digits and the odd random code point.
class RandomText {
 public:
  explicit RandomText(std::uint32_t seed) : rng_(seed) {}

  std::string valid_utf8(int max_fragments) {
    std::string text;
    const int fragments = pick(0, max_fragments);
    for (int f = 0; f < fragments; ++f) text += fragment();
    return text;
  }

  // Valid text with raw bytes (lone continuations, truncated or overlong sequences,
  // surrogates, F5..FF) spliced in.
  std::string with_invalid_bytes(int max_fragments) {
    static const std::vector<std::string> bad = {"\x80", "\xBF", "\xC0\x80", "\xC1\xBF", "\xE2\x82", "\xE2",
                                                 "\xED\xA0\x80", "\xED\xBF\xBF", "\xF0\x8F\xBF\xBF", "\xF4\x90\x80\x80",
                                                 "\xF5", "\xFF", "\xFE", "\xF0\x9F\x98", "\xC3"};
    std::string text;
    const int fragments = pick(1, max_fragments);
    for (int f = 0; f < fragments; ++f) text += pick(0, 2) == 0 ? bad[pick(0, bad.size() - 1)] : fragment();
    return text;
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  int pick(int lo, std::size_t hi) { return pick(lo, static_cast<int>(hi)); }

 private:
  std::string fragment() {
    static const std::vector<std::string> words = {
        "the", "of", "and", "to", "in", "is", "was", "that", "for", "it", "with", "as", "his", "on", "be",
        "at", "by", "I", "this", "had", "not", "are", "but", "from", "or", "have", "an", "they", "which",
        "Once", "upon", "time", "little", "girl", "named", "Lily", "happy", "dragon", "tokenizer",
        "supercalifragilistic", "Hello", "World", "don't", "it's", "U.S.A.", "e-mail", "x86_64", "C++",
        "café", "naïve", "Straße", "façade", "jalapeño", "Ångström", "œuvre", "smörgåsbord"};
    static const std::vector<std::string> punctuation = {".", ",", "!", "?", ";", ":", "'", "\"", "(", ")",
                                                         "-", "--", "...", "/", "\\", "#", "*", "{", "}",
                                                         "[", "]", "<", ">", "=", "+", "&", "%", "$", "@"};
    static const std::vector<char32_t> accented = {0xE9, 0xE8, 0xEA, 0xEB, 0xE0, 0xE2, 0xE4, 0xF1, 0xF6, 0xFC,
                                                   0xDF, 0xF8, 0xE5, 0xE7, 0xC0, 0xC9, 0xD6, 0xDC, 0x153, 0x142,
                                                   0x107, 0x161, 0x17E, 0x11F, 0x131, 0x15F};
    static const std::vector<std::string> emoji = {
        "😀", "🎉", "👍", "🦙", "🔥", "❤️", "✨", "🚀", "👩‍💻", "👨‍👩‍👧", "👍🏽", "🇫🇷", "🇯🇵", "☃", "⭐", "🙂"};
    switch (pick(0, 13)) {
      case 0:
      case 1:
      case 2:
        return (pick(0, 3) == 0 ? "" : " ") + words[pick(0, words.size() - 1)];
      case 3: {  // whitespace run
        static const char kSpaces[] = {' ', ' ', ' ', '\t', '\n', '\r'};
        std::string run(pick(1, 20), ' ');
        for (char& c : run) c = kSpaces[pick(0, 5)];
        return run;
      }
      case 4:
        return punctuation[pick(0, punctuation.size() - 1)];
      case 5:
        return std::to_string(pick(0, 1000000));
      case 6: {
        std::string s;
        for (int n = pick(1, 4); n > 0; --n) s += utf8(accented[pick(0, accented.size() - 1)]);
        return s;
      }
      case 7: {  // CJK ideographs, kana, hangul
        std::string s;
        for (int n = pick(1, 6); n > 0; --n) {
          switch (pick(0, 3)) {
            case 0:
            case 1: s += utf8(static_cast<char32_t>(pick(0x4E00, 0x9FFF))); break;
            case 2: s += utf8(static_cast<char32_t>(pick(0x3041, 0x30FF))); break;
            default: s += utf8(static_cast<char32_t>(pick(0xAC00, 0xD7A3))); break;
          }
        }
        return s;
      }
      case 8:
        return emoji[pick(0, emoji.size() - 1)];
      case 9: {  // a letter followed by combining marks
        std::string s(1, static_cast<char>(pick('a', 'z')));
        for (int n = pick(1, 3); n > 0; --n) s += utf8(static_cast<char32_t>(pick(0x300, 0x36F)));
        return s;
      }
      case 10: {  // Cyrillic, Greek, Arabic, Hebrew, Devanagari, Thai
        static const std::vector<std::pair<int, int>> ranges = {
            {0x410, 0x44F}, {0x3B1, 0x3C9}, {0x627, 0x64A}, {0x5D0, 0x5EA}, {0x905, 0x939}, {0xE01, 0xE2E}};
        const auto [lo, hi] = ranges[pick(0, ranges.size() - 1)];
        std::string s;
        for (int n = pick(1, 6); n > 0; --n) s += utf8(static_cast<char32_t>(pick(lo, hi)));
        return s;
      }
      case 11: {  // any valid code point, surrogates excluded
        char32_t cp;
        do cp = static_cast<char32_t>(pick(1, 0x10FFFF));
        while (cp >= 0xD800 && cp <= 0xDFFF);
        return utf8(cp);
      }
      case 12: {  // ASCII control characters other than NUL, and DEL
        const int c = pick(1, 32);
        return std::string(1, static_cast<char>(c == 32 ? 0x7F : c));
      }
      default: {  // random lowercase letters: odd words that merge in unusual ways
        std::string s;
        for (int n = pick(1, 12); n > 0; --n) s += static_cast<char>(pick('a', 'z'));
        return s;
      }
    }
  }

  std::mt19937 rng_;
};

// Serializes a tokenizer.bin.
std::string tokenizer_file(std::int32_t max_token_length, const std::vector<std::string>& pieces,
                           const std::vector<float>& scores) {
  std::string bytes(reinterpret_cast<const char*>(&max_token_length), 4);
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    const auto length = static_cast<std::int32_t>(pieces[i].size());
    bytes.append(reinterpret_cast<const char*>(&scores[i]), 4);
    bytes.append(reinterpret_cast<const char*>(&length), 4);
    bytes += pieces[i];
  }
  return bytes;
}

// A toy vocab with the Llama layout: <unk>, BOS, EOS, 256 byte tokens, then `extra` pieces.
struct ToyVocab {
  std::vector<std::string> pieces{"<unk>", "\n<s>\n", "\n</s>\n"};
  std::vector<float> scores{0, 0, 0};
  explicit ToyVocab(const std::vector<std::pair<std::string, float>>& extra = {}) {
    for (int b = 0; b < 256; ++b) {
      char name[8];
      std::snprintf(name, sizeof name, "<0x%02X>", b);
      pieces.push_back(name);
      scores.push_back(0);
    }
    for (const auto& [piece, score] : extra) {
      pieces.push_back(piece);
      scores.push_back(score);
    }
  }
  int size() const { return static_cast<int>(pieces.size()); }
  std::string file() const { return tokenizer_file(16, pieces, scores); }
};

// Expects loading `bytes` as a tokenizer with `vocab_size` entries to throw an Error whose
// message contains `fragment` and is a single line.
void expect_load_error(const std::string& name, const std::string& bytes, int vocab_size,
                       const std::string& fragment) {
  const std::string path = write_scratch(name, bytes);
  try {
    Tokenizer::load(path, vocab_size);
    ADD_FAILURE() << name << ": expected an Error containing '" << fragment << "'";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(fragment), std::string::npos) << name << ": message was: " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << name << ": message spans lines: " << message;
  }
}

// ---------------------------------------------------------------------------
// Encoding: goldens, sentencepiece, the reference merge loop
// ---------------------------------------------------------------------------
TEST(TokenizerGolden, ReproducesEveryCase) {
  std::ifstream in(data_path("golden/tokenizer_cases.json"));
  ASSERT_TRUE(in) << "cannot open golden/tokenizer_cases.json";
  const auto golden = nlohmann::json::parse(in);
  ASSERT_GE(golden["cases"].size(), 40u);
  for (const auto& c : golden["cases"]) {
    const auto text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<TokenId>>();
    EXPECT_EQ(llama_tokenizer().encode(text, /*bos=*/true, /*eos=*/false), expected) << "text: " << escaped(text);
    EXPECT_EQ(detail::encode_reference(llama_tokenizer(), text, true, false), expected) << "text: " << escaped(text);
  }
}

#if LLAMA2_HAVE_SENTENCEPIECE
TEST(TokenizerSentencepiece, MatchesOnRandomText) {
  RandomText random(20240601);
  for (int i = 0; i < 3000; ++i) {
    const std::string text = random.valid_utf8(i < 1500 ? 8 : 40);
    ASSERT_EQ(llama_tokenizer().encode(text, true, false), sentencepiece_ids(text)) << "text: " << escaped(text);
  }
}

TEST(TokenizerSentencepiece, MatchesOnInvalidUtf8) {
  // sentencepiece reads each byte that is not part of well-formed UTF-8 as U+FFFD.
  RandomText random(7);
  for (int i = 0; i < 1000; ++i) {
    const std::string text = random.with_invalid_bytes(12);
    ASSERT_EQ(llama_tokenizer().encode(text, true, false), sentencepiece_ids(text)) << "text: " << escaped(text);
  }
}

TEST(TokenizerSentencepiece, MatchesOnSpecialSpellings) {
  // U+2581 is sentencepiece's own spelling of a space; NUL, the spellings of special and
  // byte tokens, and whitespace runs longer than any whitespace piece.
  const std::vector<std::string> texts = {
      "a\xE2\x96\x81" "b", "\xE2\x96\x81", "\xE2\x96\x81\xE2\x96\x81 x", std::string("nul\0byte", 8),
      "<unk>", "<s>hi</s>", "\n<s>\n", "<0x41>", "<0x0A>x", std::string(40, ' '), std::string(33, '\n'),
      "\t\t\t\t\t\t\t\t\t", " \t \t \n\n  ", "\xEF\xBF\xBD", "x\xEF\xBF\xBD\xEF\xBF\xBD"};
  for (const std::string& text : texts)
    EXPECT_EQ(llama_tokenizer().encode(text, true, false), sentencepiece_ids(text)) << "text: " << escaped(text);
}

TEST(TokenizerSentencepiece, ScoresMatchTheModelFile) {
  const auto& sp = sentencepiece_llama();
  ASSERT_EQ(sp.GetPieceSize(), kLlamaVocab);
  for (TokenId id = 259; id < kLlamaVocab; id += 97) EXPECT_FLOAT_EQ(llama_tokenizer().score(id), sp.GetScore(id)) << id;
}
#endif

TEST(TokenizerReference, FastEncoderMatchesReferenceOnLlamaVocab) {
  RandomText random(99);
  for (int i = 0; i < 1500; ++i) {
    const std::string text = i % 3 == 2 ? random.with_invalid_bytes(10) : random.valid_utf8(30);
    ASSERT_EQ(llama_tokenizer().encode(text, true, true), detail::encode_reference(llama_tokenizer(), text, true, true))
        << "text: " << escaped(text);
  }
}

TEST(TokenizerReference, FastEncoderMatchesReferenceOnTieHeavyToyVocabs) {
  // Few distinct scores over a tiny alphabet: nearly every choice is decided by the
  // leftmost-on-ties rule, which the heap must reproduce exactly.
  std::mt19937 rng(12345);
  const std::string alphabet = "ab c";
  const auto random_string = [&](int max_length) {
    std::string s(std::uniform_int_distribution<int>(1, max_length)(rng), 'a');
    for (char& c : s) c = alphabet[std::uniform_int_distribution<std::size_t>(0, alphabet.size() - 1)(rng)];
    return s;
  };
  for (int vocab_round = 0; vocab_round < 40; ++vocab_round) {
    std::vector<std::pair<std::string, float>> extra;
    std::set<std::string> seen;
    for (int i = 0; i < 60; ++i) {
      std::string piece = random_string(5);
      if (seen.insert(piece).second)
        extra.emplace_back(piece, -static_cast<float>(std::uniform_int_distribution<int>(1, 3)(rng)));
    }
    const ToyVocab vocab(extra);
    const Tokenizer tokenizer(vocab.pieces, vocab.scores);
    for (int t = 0; t < 100; ++t) {
      const std::string text = random_string(60);
      ASSERT_EQ(tokenizer.encode(text, true, false), detail::encode_reference(tokenizer, text, true, false))
          << "vocab round " << vocab_round << ", text: '" << text << "'";
    }
  }
}

TEST(TokenizerEncode, BosEosAndEmptyText) {
  const Tokenizer& tok = llama_tokenizer();
  EXPECT_EQ(tok.encode("", true, false), std::vector<TokenId>{kBosToken});
  EXPECT_EQ(tok.encode("", false, false), std::vector<TokenId>{});
  EXPECT_EQ(tok.encode("", true, true), (std::vector<TokenId>{kBosToken, kEosToken}));
  const std::vector<TokenId> plain = tok.encode("Once upon a time", false, false);
  std::vector<TokenId> framed{kBosToken};
  framed.insert(framed.end(), plain.begin(), plain.end());
  framed.push_back(kEosToken);
  EXPECT_EQ(tok.encode("Once upon a time", true, true), framed);
}

TEST(TokenizerEncode, ByteFallbackUsesByteTokens) {
  // U+1F999 (🦙) is not a Llama piece: its 4 bytes become ids byte+3.
  const std::vector<TokenId> ids = llama_tokenizer().encode("\xF0\x9F\xA6\x99", true, false);
  EXPECT_EQ(ids, (std::vector<TokenId>{kBosToken, 29871, 0xF0 + 3, 0x9F + 3, 0xA6 + 3, 0x99 + 3}));
}

TEST(TokenizerEncode, TinyVocabFallsBackToUnk) {
  // Too small for byte tokens (a toy model): unknown bytes become <unk>, never an id past the vocab.
  const Tokenizer tok({"<unk>", "<s>", "</s>", " ", "a", " a"}, {0, 0, 0, -1, -2, -3});
  EXPECT_EQ(tok.encode("az", true, false), (std::vector<TokenId>{kBosToken, 5, kUnkToken}));
}

TEST(TokenizerEncode, LongTextIsNotQuadratic) {
  // 1 MB, with long whitespace runs and a long unbroken word; the reference's quadratic loop
  // would need hours here.
  std::string text;
  RandomText random(5);
  while (text.size() < (1u << 20)) {
    text += random.valid_utf8(20);
    if (random.pick(0, 50) == 0) text += std::string(random.pick(1, 5000), random.pick(0, 1) ? ' ' : 'x');
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<TokenId> ids = llama_tokenizer().encode(text, true, false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GT(ids.size(), 100000u);
  EXPECT_LT(seconds, 20.0) << "encoding 1 MB took " << seconds << " s";  // generous: sanitizers, busy CI
  EXPECT_EQ(llama_tokenizer().decode_all(ids), text);
}

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------
TEST(TokenizerDecode, RoundTripsValidText) {
  // encode() adds a dummy-prefix space; decoding drops the leading space of the piece right
  // after BOS, so the text comes back exactly (U+2581 excepted: it is read as a space).
  RandomText random(314);
  const Tokenizer& tok = llama_tokenizer();
  for (int i = 0; i < 2000; ++i) {
    const std::string text = random.valid_utf8(30);
    ASSERT_EQ(tok.decode_all(tok.encode(text, true, false)), text) << "text: " << escaped(text);
    ASSERT_EQ(tok.decode_all(tok.encode(text, true, true)), text) << "text: " << escaped(text);
  }
  for (const std::string text : {"", " ", "  x", " leading space", "\n", "🦙 llama", "é"})
    EXPECT_EQ(tok.decode_all(tok.encode(text, true, false)), text) << "text: " << escaped(text);
}

TEST(TokenizerDecode, LeadingSpaceAfterBosAndByteTokens) {
  const Tokenizer& tok = llama_tokenizer();
  const TokenId once = tok.encode("Once", false, false).at(0);
  EXPECT_EQ(tok.piece(once), " Once");
  EXPECT_EQ(tok.decode(kBosToken, once), "Once");
  EXPECT_EQ(tok.decode(once, once), " Once");
  EXPECT_EQ(tok.decode(once, 0x41 + 3), "A");
  EXPECT_EQ(tok.decode(once, 0x00 + 3), std::string_view("\0", 1));
  EXPECT_EQ(tok.decode(once, 0xFF + 3), "\xFF");
  EXPECT_EQ(tok.decode(once, 13), "\n");  // <0x0A>
  EXPECT_EQ(tok.decode(once, kBosToken), "\n<s>\n");  // as llama2.c prints it
  EXPECT_THROW(tok.decode(once, -1), Error);
  EXPECT_THROW(tok.decode(once, kLlamaVocab), Error);
}

TEST(TokenizerDecode, DecodeAllSkipsSpecialTokensAndUsesFirstTokenAsContext) {
  const Tokenizer& tok = llama_tokenizer();
  const std::vector<TokenId> hello = tok.encode("Hello world", false, false);
  std::vector<TokenId> seq{kBosToken};
  seq.insert(seq.end(), hello.begin(), hello.end());
  seq.push_back(kEosToken);
  EXPECT_EQ(tok.decode_all(seq), "Hello world");
  EXPECT_EQ(tok.decode_all(std::vector<TokenId>{}), "");
  EXPECT_EQ(tok.decode_all(std::vector<TokenId>{kBosToken}), "");
  // Without BOS, the first token is context only: the rest keeps its spaces.
  EXPECT_EQ(tok.decode_all(hello), " world");
}

TEST(TokenizerDecode, IsPrintableFollowsSafePrintf) {
  const Tokenizer tokenizer({"<unk>", "\n<s>\n", "\n</s>\n"}, {0, 0, 0});
  EXPECT_FALSE(tokenizer.is_printable(""));
  EXPECT_FALSE(tokenizer.is_printable(std::string_view("\0", 1)));
  EXPECT_FALSE(tokenizer.is_printable("\x01"));
  EXPECT_FALSE(tokenizer.is_printable("\x7F"));
  EXPECT_FALSE(tokenizer.is_printable("\xF0"));  // a lone byte of a byte-fallback emoji
  EXPECT_FALSE(tokenizer.is_printable("\x80"));
  for (const char* ok : {"a", " ", "~", "\t", "\n", "\v", "\f", "\r", "ab", "\xF0\x9F\xA6\x99", "\x01\x02"})
    EXPECT_TRUE(tokenizer.is_printable(ok)) << escaped(ok);
}

TEST(TokenizerDecode, CopiesAreIndependent) {
  // The piece index stores ids, not views into the source, so a copy outlives its source.
  auto source = std::make_unique<Tokenizer>(llama_tokenizer());
  const Tokenizer copy = *source;
  source.reset();
  // (The suite's tokenizer is checked against the goldens and sentencepiece above.)
  EXPECT_EQ(copy.encode("Hello, World! Ünïcode 你好", true, false), llama_tokenizer().encode("Hello, World! Ünïcode 你好", true, false));
  EXPECT_EQ(copy.decode(5, 0x41 + 3), "A");
}

// ---------------------------------------------------------------------------
// Loading, good and bad files
// ---------------------------------------------------------------------------
TEST(TokenizerLoad, ReadsTheLlamaTokenizer) {
  const Tokenizer& tok = llama_tokenizer();
  EXPECT_EQ(tok.vocab_size(), kLlamaVocab);
  EXPECT_EQ(tok.piece(kUnkToken), "<unk>");
  EXPECT_EQ(tok.piece(kBosToken), "\n<s>\n");
  EXPECT_EQ(tok.piece(kEosToken), "\n</s>\n");
  EXPECT_EQ(tok.piece(3), "<0x00>");
  EXPECT_EQ(tok.piece(259), "  ");
  EXPECT_EQ(tok.score(259), -1e9f);
  EXPECT_EQ(tok.piece(29871), " ");
}

TEST(TokenizerLoad, ParsesASyntheticFile) {
  const ToyVocab vocab({{"ab", -1.5f}, {" ", -2}, {"a", -3}, {"b", -4}, {" ab", -0.5f}});
  const std::string bytes = vocab.file();
  const Tokenizer tok = Tokenizer::parse(std::as_bytes(std::span(bytes.data(), bytes.size())), vocab.size(), "toy");
  EXPECT_EQ(tok.vocab_size(), vocab.size());
  EXPECT_EQ(tok.piece(259), "ab");
  EXPECT_EQ(tok.score(263), -0.5f);
  EXPECT_EQ(tok.encode("ab", true, false), (std::vector<TokenId>{kBosToken, 263}));
  EXPECT_EQ(tok.encode("abba", true, false), (std::vector<TokenId>{kBosToken, 263, 262, 261}));
}

TEST(TokenizerLoad, RejectsAMissingFile) {
  const std::string path = testing::scratch_dir() + "/no-such-tokenizer.bin";
  try {
    Tokenizer::load(path, 512);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot open '" + path + "'"), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoad, RejectsEmptyAndTruncatedHeaders) {
  expect_load_error("tok_empty.bin", "", 512, "empty");
  expect_load_error("tok_header.bin", std::string("\x1B\0", 2), 512, "max_token_length");
}

TEST(TokenizerLoad, RejectsBadLengths) {
  ToyVocab vocab;
  std::string bytes = vocab.file();
  const auto patch_int32 = [](std::string b, std::size_t offset, std::int32_t value) {
    std::memcpy(b.data() + offset, &value, 4);
    return b;
  };
  // Layout: [0,4) max_token_length; entry 0 at 4: score [4,8), length [8,12), "<unk>" [12,17).
  expect_load_error("tok_neg_max.bin", patch_int32(bytes, 0, -5), vocab.size(), "negative max_token_length");
  expect_load_error("tok_neg_len.bin", patch_int32(bytes, 8, -1), vocab.size(), "entry 0 has a negative length -1");
  expect_load_error("tok_long_len.bin", patch_int32(bytes, 8, 17), vocab.size(),
                    "entry 0 has length 17, more than the file's max_token_length 16");
  expect_load_error("tok_huge_len.bin", patch_int32(bytes, 8, std::numeric_limits<std::int32_t>::max()),
                    vocab.size(), "more than the file's max_token_length");
  // A length within max_token_length but past the end of the file.
  std::string tiny = tokenizer_file(1000, {"<unk>", "<s>"}, {0, 0});
  tiny = patch_int32(tiny, tiny.size() - 3 - 4, 500);
  expect_load_error("tok_past_end.bin", tiny, 3, "truncated in entry 1: its piece needs 500 bytes");
}

TEST(TokenizerLoad, RejectsATruncatedTail) {
  const ToyVocab vocab({{"hello", -1}});
  const std::string bytes = vocab.file();
  expect_load_error("tok_tail_piece.bin", bytes.substr(0, bytes.size() - 2), vocab.size(),
                    "truncated in entry 259: its piece needs 5 bytes, 3 left");
  expect_load_error("tok_tail_header.bin", bytes.substr(0, bytes.size() - 5 - 3), vocab.size(),
                    "truncated in entry 259: its score and length need 8 bytes, 5 left");
}

TEST(TokenizerLoad, RejectsAVocabSizeMismatch) {
  const ToyVocab vocab({{"hello", -1}, {"world", -2}});
  const std::string path = write_scratch("tok_mismatch.bin", vocab.file());
  EXPECT_NO_THROW(Tokenizer::load(path, vocab.size()));
  expect_load_error("tok_more.bin", vocab.file(), vocab.size() - 1,
                    "has more entries than the model's vocab of 260");
  expect_load_error("tok_fewer.bin", vocab.file(), vocab.size() + 1,
                    "has fewer entries than the model's vocab: the file ends after 261 entries, the model has 262");
  expect_load_error("tok_fewer_huge.bin", vocab.file(), std::numeric_limits<int>::max(), "fewer entries");
  expect_load_error("tok_small_vocab.bin", vocab.file(), 2, "too small");
  expect_load_error("tok_zero_vocab.bin", vocab.file(), 0, "too small");
  expect_load_error("tok_negative_vocab.bin", vocab.file(), -512, "too small");
  // The real tokenizer against a model with another vocab.
  EXPECT_THROW(Tokenizer::load(data_path("models/tokenizer.bin"), 512), Error);
  EXPECT_THROW(Tokenizer::load(data_path("models/tokenizer.bin"), kLlamaVocab + 1), Error);
}

TEST(TokenizerLoad, RejectsNaNScores) {
  ToyVocab vocab({{"x", std::numeric_limits<float>::quiet_NaN()}});
  expect_load_error("tok_nan.bin", vocab.file(), vocab.size(), "entry 259 has a NaN score");
  EXPECT_THROW(Tokenizer(vocab.pieces, vocab.scores), Error);
}

TEST(TokenizerLoad, ErrorMessagesNameTheFile) {
  const std::string path = write_scratch("tok_named.bin", std::string("\x10\0\0\0", 4));
  try {
    Tokenizer::load(path, 300);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer '" + path + "'"), std::string::npos) << e.what();
  }
}

TEST(TokenizerLoad, ConstructorChecksItsArguments) {
  EXPECT_THROW(Tokenizer({"<unk>", "<s>", "</s>"}, {0, 0}), Error);
  EXPECT_THROW(Tokenizer({"<unk>", "<s>"}, {0, 0}), Error);
  EXPECT_NO_THROW(Tokenizer({"<unk>", "<s>", "</s>"}, {0, 0, 0}));
}

}  // namespace
}  // namespace llama2
