// llama2::Engine against the CLI (same text, same ids) and the reference's golden tokens, and
// its errors: every bad input is a std::runtime_error with the reason, never a crash.
#include "llama2/engine.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2 {
namespace {

using testing::data_path;
using testing::quote;
using testing::run_cli;

std::string model_path() { return data_path("models/stories260K.bin"); }
std::string tokenizer_path() { return data_path("models/tok512.bin"); }

Engine open_engine(int threads = 1) { return Engine(model_path(), tokenizer_path(), threads); }

GenerateOptions greedy(int steps) {
  GenerateOptions o;
  o.steps = steps;
  o.temperature = 0.0f;
  return o;
}

// The message of the exception `f` throws (fails the test if it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

TEST(Engine, GreedyTextEqualsWhatTheCliPrints) {
  Engine engine = open_engine();
  const auto cli = run_cli(quote(model_path()) + " -z " + quote(tokenizer_path()) +
                           " -t 0 -n 64 -i " + quote("Once upon a time"));
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  std::string streamed;
  const Generation g = engine.generate("Once upon a time", greedy(64), [&](std::string_view piece) {
    streamed += piece;
    return true;
  });
  EXPECT_EQ(g.text + "\n", cli.out);
  EXPECT_EQ(streamed, g.text);
  EXPECT_FALSE(g.stopped);
  EXPECT_EQ(g.text.rfind("Once upon a time", 0), 0u) << "the prompt's pieces come first, as the CLI prints them";
}

TEST(Engine, GgufWithItsOwnVocabularyPrintsWhatTheCliPrints) {
  const std::string gguf = data_path("models/stories260K.gguf");
  Engine engine(gguf, /*tokenizer_path=*/"", 1);
  const auto cli = run_cli(quote(gguf) + " -t 0 -n 64 -i " + quote("Once upon a time"));
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_EQ(engine.generate("Once upon a time", greedy(64)).text + "\n", cli.out);
}

TEST(Engine, GreedyIdsEqualTheCliIdsMode) {
  Engine engine = open_engine(2);
  const auto prompt = engine.tokenize("Once upon a time");
  std::string prompt_ids;
  for (const TokenId id : prompt) prompt_ids += std::to_string(id) + " ";
  const auto cli = run_cli(quote(model_path()) + " --ids -t 0 -n 64 -i " + quote(prompt_ids));
  ASSERT_EQ(cli.exit_code, 0) << cli.err;
  const Generation g = engine.generate("Once upon a time", greedy(64));
  EXPECT_EQ(g.tokens, testing::parse_ids(cli.out));
  EXPECT_EQ(std::vector<TokenId>(g.tokens.begin(), g.tokens.begin() + prompt.size()), prompt);
}

// The golden cases that start from BOS alone are an empty prompt: the engine reproduces the
// reference's ids for greedy and for seeded sampling.
TEST(Engine, EmptyPromptReproducesGoldenTokens) {
  std::ifstream in(data_path("golden/stories260K.json"));
  ASSERT_TRUE(in.good());
  const auto golden = nlohmann::json::parse(in);
  Engine engine = open_engine(2);
  int checked = 0;
  for (const auto& c : golden["cases"]) {
    if (c["prompt_tokens"] != nlohmann::json::array({1})) continue;
    SCOPED_TRACE(c["description"].get<std::string>());
    const GenerateOptions o{c["steps"].get<int>(), c["temperature"].get<float>(), c["topp"].get<float>(),
                            c["seed"].get<std::uint64_t>()};
    EXPECT_EQ(engine.generate("", o).tokens, c["tokens"].get<std::vector<TokenId>>());
    ++checked;
  }
  EXPECT_GE(checked, 4);
}

TEST(Engine, CallbackReturningFalseStopsAfterThatPiece) {
  Engine engine = open_engine();
  const Generation full = engine.generate("Once upon a time", greedy(64));
  int pieces = 0;
  const Generation stopped = engine.generate("Once upon a time", greedy(64), [&](std::string_view) {
    return ++pieces < 8;
  });
  EXPECT_TRUE(stopped.stopped);
  EXPECT_EQ(pieces, 8);
  EXPECT_LT(stopped.text.size(), full.text.size());
  EXPECT_EQ(full.text.rfind(stopped.text, 0), 0u);
  ASSERT_LT(stopped.tokens.size(), full.tokens.size());
  EXPECT_TRUE(std::equal(stopped.tokens.begin(), stopped.tokens.end(), full.tokens.begin()));
}

TEST(Engine, TokenizeAndDetokenizeAgreeWithTheTokenizer) {
  Engine engine = open_engine();
  const Tokenizer tokenizer = Tokenizer::load(tokenizer_path(), 512);
  for (const std::string text : {"Once upon a time", "", "The cat sat. It was happy!", "  two  spaces"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(engine.tokenize(text), tokenizer.encode(text, true, false));
    EXPECT_EQ(engine.tokenize(text, false, true), tokenizer.encode(text, false, true));
    EXPECT_EQ(engine.detokenize(engine.tokenize(text)), tokenizer.decode_all(tokenizer.encode(text, true, false)));
    // Without BOS the first token still counts (decode_all alone would skip it as context).
    EXPECT_EQ(engine.detokenize(engine.tokenize(text, false)), engine.detokenize(engine.tokenize(text)));
  }
  EXPECT_EQ(engine.detokenize(engine.tokenize("Once upon a time")), "Once upon a time");
  EXPECT_EQ(engine.detokenize({}), "");
  EXPECT_EQ(engine.vocab_size(), 512);
  EXPECT_EQ(engine.context_length(), 512);
  EXPECT_EQ(engine.threads(), 1);
}

TEST(Engine, MovedEngineKeepsWorking) {
  Engine first = open_engine();
  const auto expected = first.generate("Once", greedy(20)).tokens;
  Engine second = std::move(first);
  EXPECT_EQ(second.generate("Once", greedy(20)).tokens, expected);
}

TEST(EngineBadInput, MissingModelNamesTheFile) {
  const std::string message = error_of([] { const Engine engine("/nonexistent/model.bin", tokenizer_path()); });
  EXPECT_NE(message.find("/nonexistent/model.bin"), std::string::npos) << message;
}

TEST(EngineBadInput, MissingTokenizerNamesTheFile) {
  EXPECT_NE(error_of([] { const Engine engine(model_path(), "/nonexistent/tok.bin"); }).find("/nonexistent/tok.bin"),
            std::string::npos);
}

TEST(EngineBadInput, Llama2cModelWithoutTokenizerSaysToGiveOne) {
  EXPECT_NE(error_of([] { const Engine engine(model_path()); }).find("tokenizer"), std::string::npos);
}

TEST(EngineBadInput, TokenizerOfAnotherVocabularyIsRejected) {
  // tokenizer.bin has 32000 pieces: reading 512 of them leaves trailing bytes.
  EXPECT_FALSE(error_of([] { const Engine engine(model_path(), data_path("models/tokenizer.bin")); }).empty());
}

TEST(EngineBadInput, BadOptionsAndIdsThrow) {
  Engine engine = open_engine();
  EXPECT_FALSE(error_of([&] { engine.generate("Once", {-1, 0.0f, 0.9f, 0}); }).empty());
  EXPECT_FALSE(error_of([&] { engine.generate("Once", {16, -0.5f, 0.9f, 0}); }).empty());
  EXPECT_FALSE(error_of([&] { engine.generate("Once", {16, 1.0f, 1.5f, 0}); }).empty());
  // A prompt longer than the steps.
  EXPECT_FALSE(error_of([&] { engine.generate("Once upon a time there was", greedy(2)); }).empty());
  const std::vector<TokenId> outside{1, 512};
  EXPECT_FALSE(error_of([&] { engine.detokenize(outside); }).empty());
  // Still usable afterwards.
  EXPECT_FALSE(engine.generate("Once", greedy(16)).text.empty());
}

}  // namespace
}  // namespace llama2
