// The `llama2` command as a user runs it: tokenize, generate with a tokenizer, chat on piped
// input, -n 0, and that threads and seeds do what they promise.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/mapped_file.hpp"
#include "test_support.hpp"

namespace llama2 {
namespace {

using testing::data_path;
using testing::parse_ids;
using testing::quote;
using testing::run_cli;
using testing::write_scratch;

template <class T>
void append(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

// Files are named per process: ctest runs tests as parallel processes sharing one folder.
std::string per_process(const std::string& name) { return std::to_string(::getpid()) + "_" + name; }

// stories260K's own 512-token tokenizer is not available. The first 512 entries of the Llama 2
// tokenizer have the same special and byte tokens (ids 0..258) and 253 real merges, which is
// a valid (if not matching) vocabulary for it: text in, ids in range, text out.
std::string tokenizer_512() {
  static const std::string path = [] {
    const std::string full = read_file(data_path("models/tokenizer.bin"));
    std::size_t offset = 4;  // max_token_length
    for (int id = 0; id < 512; ++id) {
      std::int32_t length = 0;
      if (offset + 8 > full.size()) throw Error("tokenizer.bin is too short");
      std::memcpy(&length, full.data() + offset + 4, 4);
      offset += 8 + static_cast<std::size_t>(length);
    }
    return write_scratch(per_process("tokenizer512.bin"), full.substr(0, offset));
  }();
  return path;
}

// A version 0 model whose greedy choice is always EOS: zero attention and feed-forward weights
// leave x = the embedding (all ones), so the final norm gives all ones, and only row 2 (EOS)
// of the unshared classifier is non-zero. Every chat reply is then empty and ends at once,
// which makes the turn structure of chat mode testable.
std::string eos_model() {
  static const std::string path = [] {
    const int dim = 8, hidden = 8, layers = 1, heads = 2, kv_heads = 2, vocab = 512, seq_len = 256;
    const int head_size = dim / heads;
    std::string f;
    for (int v : {dim, hidden, layers, heads, kv_heads, -vocab, seq_len}) append(f, std::int32_t{v});
    auto fill = [&](std::int64_t n, float value) {
      for (std::int64_t i = 0; i < n; ++i) append(f, value);
    };
    fill(std::int64_t{vocab} * dim, 1.0f);        // token_embedding
    fill(layers * dim, 1.0f);                      // rms_att
    fill(layers * 4 * dim * dim, 0.0f);            // wq, wk, wv, wo (kv_dim == dim)
    fill(layers * dim, 1.0f);                      // rms_ffn
    fill(layers * 3 * hidden * dim, 0.0f);         // w1, w2, w3
    fill(dim, 1.0f);                               // rms_final
    fill(std::int64_t{seq_len} * head_size, 0.0f);  // freq_cis real + imag
    for (int row = 0; row < vocab; ++row) fill(dim, row == 2 ? 1.0f : 0.0f);  // wcls
    return write_scratch(per_process("eos_model.bin"), f);
  }();
  return path;
}

std::string stories260k() { return quote(data_path("models/stories260K.bin")); }

int count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

// ---------------------------------------------------------------------------
// tokenize
// ---------------------------------------------------------------------------

TEST(CliTokenize, MatchesSentencepieceIds) {
  std::ifstream in(data_path("golden/tokenizer_cases.json"));
  ASSERT_TRUE(in.good());
  const auto cases = nlohmann::json::parse(in)["cases"];
  ASSERT_GE(cases.size(), 8u);
  // Empty text, plain English, multi-line with indentation, accents, a leading space.
  for (int i : {0, 1, 3, 4, 6, 7}) {
    const std::string text = cases[i]["text"].get<std::string>();
    SCOPED_TRACE(text);
    const auto r = run_cli("tokenize -z " + quote(data_path("models/tokenizer.bin")), text);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(parse_ids(r.out), cases[i]["ids"].get<std::vector<TokenId>>());
    EXPECT_EQ(r.err, "");
  }
}

TEST(CliTokenize, NoBos) {
  const auto r = run_cli("tokenize --no-bos -z " + quote(data_path("models/tokenizer.bin")), "Once upon a time");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(parse_ids(r.out), (std::vector<TokenId>{9038, 2501, 263, 931}));
}

TEST(CliTokenize, FiveHundredTwelveEntryTokenizer) {
  const auto r = run_cli("tokenize --vocab 512 -z " + quote(tokenizer_512()), "Once upon a time");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ids = parse_ids(r.out);
  ASSERT_GE(ids.size(), 2u);
  EXPECT_EQ(ids[0], 1);
  for (TokenId id : ids) EXPECT_LT(id, 512);
}

// ---------------------------------------------------------------------------
// generate
// ---------------------------------------------------------------------------

TEST(CliGenerate, TextToStdoutSpeedToStderr) {
  const auto r = run_cli(stories260k() + " -z " + quote(tokenizer_512()) + " -i 'Once upon a time' -n 48 -s 7");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The prompt is echoed as its pieces are fed, then the story continues.
  EXPECT_EQ(r.out.rfind("Once upon a time", 0), 0u) << r.out;
  EXPECT_GT(r.out.size(), std::string("Once upon a time").size() + 1) << r.out;
  EXPECT_EQ(r.out.find("tok/s"), std::string::npos);
  EXPECT_NE(r.err.find("achieved tok/s:"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST(CliGenerate, EmptyPromptStartsFromBos) {
  const auto r = run_cli(stories260k() + " -z " + quote(tokenizer_512()) + " -n 16 -s 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
}

// -n 0, like -n above the context, means the model's whole context (seq_len 512); greedy
// stories260K runs to the end of it without a BOS.
TEST(CliGenerate, StepsZeroMeansTheModelsContext) {
  const auto zero = run_cli(stories260k() + " --ids -i 1 -n 0 -t 0");
  ASSERT_EQ(zero.exit_code, 0) << zero.err;
  EXPECT_EQ(parse_ids(zero.out).size(), 513u);
  const auto beyond = run_cli(stories260k() + " --ids -i 1 -n 100000 -t 0");
  ASSERT_EQ(beyond.exit_code, 0) << beyond.err;
  EXPECT_EQ(beyond.out, zero.out);
  const auto short_run = run_cli(stories260k() + " --ids -i 1 -n 5 -t 0");
  EXPECT_EQ(parse_ids(short_run.out).size(), 6u);
}

// As in run.c, the forward pass of the last prompt token still yields one sampled token.
TEST(CliGenerate, PromptExactlyFillsTheContext) {
  const auto r = run_cli(stories260k() + " --ids -i '1 2 3 4' -n 4 -t 0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ids = parse_ids(r.out);
  ASSERT_EQ(ids.size(), 5u) << r.out;
  EXPECT_EQ(std::vector<TokenId>(ids.begin(), ids.begin() + 4), (std::vector<TokenId>{1, 2, 3, 4}));
}

TEST(CliGenerate, ThreadCountDoesNotChangeTokens) {
  const std::string args = stories260k() + " --ids -i '1 300 301' -n 120 -t 1 -p 0.9 -s 42";
  const auto one = run_cli(args + " --threads 1");
  const auto two = run_cli(args + " --threads 2");
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  EXPECT_GT(parse_ids(one.out).size(), 3u);
  EXPECT_EQ(one.out, two.out);
}

// Speculative decoding from the command line: greedy tokens as without it, for each draft source.
TEST(CliGenerate, SpeculativeGreedyGivesTheSameTokens) {
  const std::string args = stories260k() + " --ids -i '1 300 301' -n 200 -t 0";
  const auto plain = run_cli(args);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  for (const std::string& extra : std::vector<std::string>{" --lookup 3", " --lookup 1 --draft-max 2", " --draft " + stories260k()}) {
    const auto r = run_cli(args + extra);
    ASSERT_EQ(r.exit_code, 0) << extra << ": " << r.err;
    EXPECT_EQ(r.out, plain.out) << extra;
    EXPECT_NE(r.err.find("speculative: "), std::string::npos) << r.err;
  }
}

TEST(CliGenerate, SameSeedSameOutputDifferentSeedDifferentOutput) {
  const std::string args = stories260k() + " --ids -i 1 -n 64 -t 1 -p 0.9";
  const auto a = run_cli(args + " -s 42");
  const auto b = run_cli(args + " -s 42");
  const auto c = run_cli(args + " -s 43");
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  // The same holds for text output.
  const std::string text_args = stories260k() + " -z " + quote(tokenizer_512()) + " -n 64 -t 1";
  EXPECT_EQ(run_cli(text_args + " -s 5").out, run_cli(text_args + " -s 5").out);
  EXPECT_NE(run_cli(text_args + " -s 5").out, run_cli(text_args + " -s 6").out);
}

// ---------------------------------------------------------------------------
// chat
// ---------------------------------------------------------------------------

// Two user turns on piped stdin: one reply each, then end of input ends the chat cleanly.
TEST(CliChat, TwoTurnsThenEndOfInput) {
  const auto r = run_cli(quote(eos_model()) + " -z " + quote(tokenizer_512()) +
                             " -m chat -y 'You are terse.' -t 0",
                         "hello\nhow are you?\n", 60);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "Assistant:"), 2) << r.out;
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
  // Piped input is not asked for a system prompt.
  EXPECT_EQ(r.out.find("system prompt"), std::string::npos) << r.out;
}

TEST(CliChat, NoInputAtAllEndsCleanly) {
  const auto r = run_cli(quote(eos_model()) + " -z " + quote(tokenizer_512()) + " -m chat -t 0", "", 60);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "Assistant:"), 0) << r.out;
}

TEST(CliChat, FirstTurnFromPromptFlag) {
  const auto r = run_cli(quote(eos_model()) + " -z " + quote(tokenizer_512()) + " -m chat -i hi -t 0",
                         "second\n", 60);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "Assistant:"), 2) << r.out;
}

// stories260K never says EOS, so its first reply runs into the end of the context.
TEST(CliChat, ReachingTheEndOfTheContextEndsCleanly) {
  const auto r = run_cli(stories260k() + " -z " + quote(tokenizer_512()) + " -m chat -y sys -n 80 -t 0",
                         "hello\nmore\nand more\n", 60);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(count(r.out, "Assistant:"), 1) << r.out;
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
}

TEST(CliChat, ContextSmallerThanTheFirstTurnEndsCleanly) {
  for (const char* steps : {"1", "8"}) {
    const auto r = run_cli(stories260k() + " -z " + quote(tokenizer_512()) + " -m chat -y sys -n " + steps +
                               " -t 1 -s 3",
                           "hello\n", 60);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(count(r.out, "Assistant:"), 0) << r.out;
  }
}

TEST(CliChat, SampledRepliesUntilContextEnd) {
  // Temperature 1: whatever the model samples (EOS or not), the chat must end cleanly.
  for (const char* seed : {"1", "2", "3"}) {
    const auto r = run_cli(quote(eos_model()) + " -z " + quote(tokenizer_512()) + " -m chat -y s -n 120 -t 1 -s " +
                               seed,
                           "a\nb\nc\nd\ne\nf\n", 60);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_GE(count(r.out, "Assistant:"), 1) << r.out;
  }
}

// A Jinja template (--chat-template-file here; a GGUF file's own one by default) writes the
// conversation. tests/chat/templates/llama2.jinja writes the first turn as the built-in llama2
// format does, so the same seed gives the same reply.
TEST(CliChat, JinjaTemplateFileRendersTheConversation) {
  const std::string jinja = quote(std::string(LLAMA2_SOURCE_DIR) + "/tests/chat/templates/llama2.jinja");
  const std::string args = stories260k() + " -z " + quote(tokenizer_512()) + " -m chat -y sys -n 100 -t 1 -s 3";
  const auto builtin = run_cli(args + " --chat-template llama2", "hello\n", 60);
  const auto templated = run_cli(args + " --chat-template-file " + jinja, "hello\n", 60);
  ASSERT_EQ(templated.exit_code, 0) << templated.err;
  EXPECT_EQ(templated.out, builtin.out);
  EXPECT_EQ(templated.err.find("warning"), std::string::npos) << templated.err;

  // Several turns: each re-renders the whole conversation and feeds what the cache lacks.
  const auto turns = run_cli(quote(eos_model()) + " -z " + quote(tokenizer_512()) + " -m chat -y terse -t 0" +
                                 " --chat-template-file " + jinja,
                             "hello\nhow are you?\nbye\n", 60);
  ASSERT_EQ(turns.exit_code, 0) << turns.err;
  EXPECT_EQ(count(turns.out, "Assistant:"), 3) << turns.out;

  // A template that does not parse is an error naming the file and the line, before any turn.
  const std::string bad = testing::write_scratch("bad.jinja", "ok\n{% for m in messages %}{{ m.content }");
  const auto refused = run_cli(stories260k() + " -z " + quote(tokenizer_512()) + " -m chat --chat-template-file " +
                                   quote(bad),
                               "hello\n", 60);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("bad.jinja': chat template line 2"), std::string::npos) << refused.err;
  EXPECT_EQ(count(refused.err, "\n"), 1) << refused.err;
}

// --tensor-type takes one rule per occurrence, so the files may follow it (CLI11 would
// otherwise take IN and OUT as more rules); quantize reports each rule's matrices.
TEST(CliQuantize, TensorTypeRulesBeforeTheFiles) {
  const std::string out = testing::scratch_dir() + "/" + per_process("rules.gguf");
  const auto r = run_cli("quantize --tensor-type 'blk\\.1\\.attn_k=f32' --tensor-type ffn_up=f16 " +
                         quote(data_path("models/stories260K.bin")) + " " + quote(out) + " --type q8_0");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("blk.1.attn_k.weight: f32 (rule 'blk\\.1\\.attn_k')"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("blk.4.ffn_up.weight: f16 (rule 'ffn_up')"), std::string::npos) << r.err;
  // The error table lists the matrices by their llama2.c names, in the type they got.
  EXPECT_NE(r.err.find("\nwk[1]              f32 "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("\nwk[0]              q8_0 "), std::string::npos) << r.err;
}

}  // namespace
}  // namespace llama2
