// The JSON Schema acceptor and the token mask: tricky JSON, refused keywords, and random walks
// whose every finished text must parse (nlohmann) and validate (python3-jsonschema, an
// independent validator).
#include "sampling/json_schema.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>

#include "sampling/constraint.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::json_schema {
namespace {

using nlohmann::ordered_json;

bool accepts(const Grammar& g, std::string_view text) {
  Acceptor a(g);
  return a.feed(text) && a.complete();
}

TEST(JsonSchema, AnyValueAcceptsTrickyJson) {
  const Grammar any = compile_schema(ordered_json(true));
  for (const char* text : {R"("a\"b\\c\/\b\f\n\r\t")", R"("\u00e9\uD83D\uDE00")", "\"h\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\"",
                           "-0.5e+3", "0", "-0", "1E-07", "123.456", "[[[]],[1,[2,[3]]]]", R"({"a":{"b":[true,false,null]}})",
                           R"({"a": 1, "b": [1, 2]})", "\"\""}) {
    EXPECT_TRUE(accepts(any, text)) << text;
    EXPECT_TRUE(nlohmann::json::accept(text)) << text;
  }
  for (const char* text : {"01", "1.", ".5", "-", "1e", "+1", "\"\\x\"", "\"\\uDC00\"", "\"\\uD800\"", "\"\\uD800\\u0041\"",
                           "\"\x01\"", "\"\xC0\x80\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "[1,]", "{\"a\":1,}",
                           "[1  ,2]", "{\"a\" :1}", " 1", "tru", "nul", "[1]]", "{}{}"}) {
    EXPECT_FALSE(accepts(any, text)) << text;
  }
}

TEST(JsonSchema, NumbersEndAtTheFirstByteNotTheirs) {
  const Grammar g = compile_schema(ordered_json::parse(R"({"type":"array","items":{"type":"integer"}})"));
  EXPECT_TRUE(accepts(g, "[1,-20,0]"));
  EXPECT_FALSE(accepts(g, "[1.5]"));
  EXPECT_FALSE(accepts(g, "[1e3]"));
  Acceptor top(compile_schema(ordered_json::parse(R"({"type":"number"})")));
  const Grammar number = compile_schema(ordered_json::parse(R"({"type":"number"})"));
  Acceptor a(number);
  ASSERT_TRUE(a.feed("12"));
  EXPECT_TRUE(a.complete());
  EXPECT_TRUE(a.can_continue());  // 123 is a number too
}

TEST(JsonSchema, ObjectsFollowTheDeclaredOrderAndRequiredKeys) {
  const Grammar g = compile_schema(ordered_json::parse(
      R"({"type":"object","properties":{"b":{"type":"string"},"a":{"type":"integer"},"c":{"type":"boolean"}},
          "required":["a"],"additionalProperties":false})"));
  EXPECT_TRUE(accepts(g, R"({"a":1})"));
  EXPECT_TRUE(accepts(g, R"({"b":"x","a":1,"c":true})"));
  EXPECT_TRUE(accepts(g, R"({"b": "x", "a": 1})"));
  EXPECT_FALSE(accepts(g, R"({"a":1,"b":"x"})"));  // out of order
  EXPECT_FALSE(accepts(g, R"({"b":"x"})"));        // a is required
  EXPECT_FALSE(accepts(g, R"({})"));
  EXPECT_FALSE(accepts(g, R"({"a":1,"d":2})"));
  EXPECT_FALSE(accepts(g, R"({"a":"1"})"));
}

TEST(JsonSchema, EnumsRefsAndCombinations) {
  const Grammar g = compile_schema(ordered_json::parse(R"({
      "$defs": {"node": {"type":"object","properties":{"v":{"enum":[1, 12, "x", null, {"k":[1]}]},
                                                      "next":{"$ref":"#/$defs/node"}},"required":["v"]}},
      "anyOf": [{"$ref":"#/$defs/node"}, {"type":"array","items":{"const":"c"},"minItems":1,"maxItems":2}]})"));
  EXPECT_TRUE(accepts(g, R"({"v":1})"));
  EXPECT_TRUE(accepts(g, R"({"v":12,"next":{"v":{"k":[1]}}})"));
  EXPECT_TRUE(accepts(g, R"({"v":"x","next":{"v":null}})"));
  EXPECT_TRUE(accepts(g, R"(["c","c"])"));
  EXPECT_FALSE(accepts(g, R"([])"));
  EXPECT_FALSE(accepts(g, R"(["c","c","c"])"));
  EXPECT_FALSE(accepts(g, R"({"v":2})"));
  EXPECT_FALSE(accepts(g, R"({"v":"y"})"));
}

TEST(JsonSchema, RefusesWhatItCannotEnforce) {
  for (const char* schema :
       {R"({"type":"string","pattern":"a+"})", R"({"type":"string","format":"date"})", R"({"type":"string","minLength":2})",
        R"({"type":"number","minimum":0})", R"({"type":"integer","multipleOf":2})", R"({"if":{},"then":{}})",
        R"({"not":{"type":"string"}})", R"({"type":"object","patternProperties":{"a":{}}})",
        R"({"type":"array","items":[{}]})", R"({"type":"array","uniqueItems":true})", R"({"$ref":"http://x/y"})",
        R"({"$ref":"#/$defs/missing"})", R"({"type":"object","required":["a"]})", R"({"oneOf":[{"type":"integer"},{"type":"number"}]})",
        R"({"allOf":[{"type":"string"},{"type":"string"}]})", R"({"type":"strange"})", R"(false)", R"({"enum":[]})",
        R"({"type":"array","minItems":3,"maxItems":2})", R"({"type":"object","minProperties":1})",
        R"({"$defs":{"r":{"type":"object","properties":{"r":{"$ref":"#/$defs/r"}},"required":["r"]}},"$ref":"#/$defs/r"})"}) {
    EXPECT_THROW((void)compile_schema(ordered_json::parse(schema)), SchemaError) << schema;
  }
  try {
    (void)compile_schema(ordered_json::parse(R"({"type":"object","properties":{"n":{"type":"string","pattern":"x"}}})"));
    FAIL();
  } catch (const SchemaError& e) {
    EXPECT_NE(std::string(e.what()).find("schema.properties.n: the keyword 'pattern' is not supported"), std::string::npos)
        << e.what();
  }
}

// Schemas for the random walks: every supported feature, nested.
const char* const kWalkSchemas[] = {
    R"(true)",
    R"({"type":"object"})",
    R"({"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"score":{"type":"number"},
        "tags":{"type":"array","items":{"enum":["a","b","\u00e9\"q"]},"maxItems":3},"ok":{"type":"boolean"},
        "none":{"type":"null"}},"required":["name","ok"],"additionalProperties":false})",
    R"({"type":"array","items":{"type":"array","items":{"type":["integer","null"]},"minItems":1},"minItems":2,"maxItems":4})",
    R"({"anyOf":[{"type":"object","properties":{"a":{"const":1}},"required":["a"]},
                 {"type":"object","properties":{"a":{"const":1},"b":{"type":"string"}},"required":["a","b"]},
                 {"type":"string","enum":["x","xy"]}]})",
    R"({"oneOf":[{"type":"string"},{"type":"integer"},{"type":"object","additionalProperties":{"type":"boolean"}}]})",
    R"({"$defs":{"tree":{"type":"object","properties":{"value":{"type":"integer"},
        "children":{"type":"array","items":{"$ref":"#/$defs/tree"}}},"required":["value"]}},"$ref":"#/$defs/tree"})",
    R"({"type":"object","properties":{"location":{"type":"string","description":"city"},
        "unit":{"type":"string","enum":["celsius","fahrenheit"]}},"required":["location","unit"]})",
};

std::vector<std::uint8_t> allowed_bytes(const Acceptor& a) {
  std::vector<std::uint8_t> bytes;
  std::vector<Stack> to;
  for (int b = 0; b < 256; ++b)
    if (a.step(a.stacks(), static_cast<std::uint8_t>(b), to)) bytes.push_back(static_cast<std::uint8_t>(b));
  return bytes;
}

// Past the soft length, closing bytes first, then scalars, so that every walk ends.
template <class T, class Byte>
T pick(const std::vector<T>& options, Byte first_byte, std::size_t length, std::mt19937_64& rng) {
  if (length > 120) {
    for (std::string_view preferred : {std::string_view("\"]}"), std::string_view("0123456789tfnx"), std::string_view(",:u")})
      for (char c : preferred)
        for (const T& o : options)
          if (first_byte(o) == static_cast<std::uint8_t>(c)) return o;
  }
  return options[std::uniform_int_distribution<std::size_t>(0, options.size() - 1)(rng)];
}

struct Walks {
  std::ofstream out;
  int count = 0;
  void record(const char* schema, const std::string& text) {
    ordered_json line = {{"schema", ordered_json::parse(schema)}, {"instance", text}};
    out << line.dump() << "\n";
    ++count;
  }
};

void validate_with_python(const std::string& path) {
  if (std::system("python3 -c 'import jsonschema' 2>/dev/null") != 0) GTEST_SKIP() << "python3-jsonschema is not installed";
  const std::string script = std::string(LLAMA2_SOURCE_DIR) + "/tests/validate_json_schema.py";
  const int status = std::system(("python3 " + testing::quote(script) + " " + testing::quote(path) + " >&2").c_str());
  EXPECT_EQ(status, 0) << "python3-jsonschema rejected some walks (listed above)";
}

TEST(JsonSchema, RandomByteWalksParseAndValidate) {
  const std::string path = testing::scratch_dir() + "/byte_walks.jsonl";
  Walks walks{std::ofstream(path)};
  std::mt19937_64 rng(7);
  for (const char* schema : kWalkSchemas) {
    const Grammar g = compile_schema(ordered_json::parse(schema));
    for (int walk = 0; walk < 40; ++walk) {
      Acceptor a(g);
      std::string text;
      while (true) {
        const std::vector<std::uint8_t> options = allowed_bytes(a);
        if (a.complete() && (options.empty() || rng() % 4 == 0)) break;
        ASSERT_FALSE(options.empty()) << "dead end after " << text << " for " << schema;
        ASSERT_LT(text.size(), 4000u) << "no end in sight: " << text;
        const std::uint8_t b = pick(options, [](std::uint8_t x) { return x; }, text.size(), rng);
        ASSERT_TRUE(a.feed(b));
        text.push_back(static_cast<char>(b));
      }
      ASSERT_TRUE(nlohmann::json::accept(text)) << text;
      walks.record(schema, text);
    }
  }
  walks.out.close();
  validate_with_python(path);
}

TEST(TokenConstraint, RandomTokenWalksNeverRunOutOfTokens) {
  const Tokenizer tokenizer = Tokenizer::load(testing::data_path("models/tok512.bin"), 512);
  auto trie = std::make_shared<const TokenTrie>(TokenTrie::token_bytes(tokenizer));
  const std::string path = testing::scratch_dir() + "/token_walks.jsonl";
  Walks walks{std::ofstream(path)};
  std::mt19937_64 rng(11);
  for (const char* schema : kWalkSchemas) {
    auto g = std::make_shared<const Grammar>(compile_schema(ordered_json::parse(schema)));
    for (int walk = 0; walk < 15; ++walk) {
      TokenConstraint c(trie, g, {kEosToken});
      std::vector<TokenId> ids{kBosToken};
      std::string text;
      while (!c.ended()) {
        const std::vector<bool> ok = c.allowed();
        std::vector<TokenId> options;
        for (TokenId id = 0; id < 512; ++id)
          if (ok[static_cast<std::size_t>(id)] && id != kEosToken) options.push_back(id);
        EXPECT_EQ(ok[kEosToken], c.complete());
        ASSERT_TRUE(!options.empty() || c.complete()) << "no token allowed after " << text;
        ASSERT_LT(text.size(), 4000u) << text;
        TokenId next = kEosToken;
        if (!options.empty() && !(c.complete() && rng() % 3 == 0))
          next = pick(options, [&](TokenId id) { return static_cast<std::uint8_t>(trie->bytes(id)[0]); }, text.size(), rng);
        c.accept(next);
        if (next != kEosToken) text += trie->bytes(next);
        ids.push_back(next);
      }
      // The tokens decode to the text the constraint saw (the mask is about real output).
      EXPECT_EQ(tokenizer.decode_all(std::span(ids).subspan(0)), text);
      ASSERT_TRUE(nlohmann::json::accept(text)) << text;
      walks.record(schema, text);
    }
  }
  walks.out.close();
  validate_with_python(path);
}

TEST(TokenConstraint, RefusesTokensOutsideTheLanguage) {
  const Tokenizer tokenizer = Tokenizer::load(testing::data_path("models/tok512.bin"), 512);
  auto trie = std::make_shared<const TokenTrie>(TokenTrie::token_bytes(tokenizer));
  auto g = std::make_shared<const Grammar>(any_object());
  TokenConstraint c(trie, g, {kEosToken});
  EXPECT_THROW(c.accept(kEosToken), Error);  // nothing yet
  const TokenId a = tokenizer.encode("a", false, false).back();
  EXPECT_THROW(c.accept(a), Error);  // an object starts with '{'
  std::vector<float> logits(512, 0.0f);
  EXPECT_GT(c.apply(logits), 0);
  EXPECT_EQ(logits[static_cast<std::size_t>(a)], -std::numeric_limits<float>::infinity());
}

// The mask's cost on the 32000-token Llama 2 vocabulary, logged (not asserted: the machine is shared).
TEST(TokenConstraint, MaskTimeOnALlama2Vocabulary) {
  const Tokenizer tokenizer = Tokenizer::load(testing::data_path("models/tokenizer.bin"), 32000);
  auto trie = std::make_shared<const TokenTrie>(TokenTrie::token_bytes(tokenizer));
  auto g = std::make_shared<const Grammar>(compile_schema(ordered_json::parse(kWalkSchemas[2])));
  TokenConstraint c(trie, g, {kEosToken});
  const std::string text = R"({"name": "Ada Lovelace, who wrote the first program", "age": 36, "ok": true})";
  double total_ms = 0;
  int steps = 0;
  // Each step takes the longest allowed token that spells the text on from here.
  for (std::size_t at = 0; at < text.size();) {
    const auto start = std::chrono::steady_clock::now();
    const std::vector<bool> ok = c.allowed();
    total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ++steps;
    TokenId best = -1;
    for (TokenId id = 0; id < 32000; ++id) {
      const std::string& b = trie->bytes(id);
      if (ok[static_cast<std::size_t>(id)] && !b.empty() && text.compare(at, b.size(), b) == 0 &&
          (best < 0 || b.size() > trie->bytes(best).size()))
        best = id;
    }
    ASSERT_GE(best, 0) << "no allowed token spells " << text.substr(at);
    c.accept(best);
    at += trie->bytes(best).size();
  }
  EXPECT_TRUE(c.complete());
  ASSERT_GT(steps, 5);
  std::printf("[ mask time ] %.3f ms per token over %d tokens (32000-token vocabulary, %zu trie nodes)\n",
              total_ms / steps, steps, trie->nodes().size());
  RecordProperty("mask_ms_per_token", std::to_string(total_ms / steps));
}

}  // namespace
}  // namespace llama2::json_schema
