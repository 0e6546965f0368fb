// Bad input, end to end: every malformed file or command line must end in one clear line on
// stderr ("error: ..." naming the problem) and exit status 1 (bad input) or 2 (bad usage),
// never in a crash, a hang or a huge allocation. File cases are checked through the real
// `llama2` binary and, where they apply, directly against Model::load / Tokenizer::load.
#include <gtest/gtest.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/mapped_file.hpp"
#include "model/model.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2 {
namespace {

using testing::data_path;
using testing::quote;
using testing::run_cli;
using testing::scratch_dir;
using testing::write_scratch;

// ---------------------------------------------------------------------------
// Building (broken) files
// ---------------------------------------------------------------------------

// The seven header fields, in file order.
struct Shape {
  int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};
// A small valid shape: grouped-query attention, head size 4.
constexpr Shape kSmall{8, 16, 2, 2, 1, 32, 8};

template <class T>
void append(std::string& out, T value) {
  out.append(reinterpret_cast<const char*>(&value), sizeof value);
}

std::string fields(const Shape& s) {
  std::string out;
  for (int v : {s.dim, s.hidden_dim, s.n_layers, s.n_heads, s.n_kv_heads, s.vocab_size, s.seq_len}) append(out, v);
  return out;
}

// Version 0: the seven int32 alone (vocab_size < 0 marks an unshared classifier).
std::string header_v0(const Shape& s) { return fields(s); }

// Versions 1 and 2: magic, version, the fields, shared flag, [group size], zero padding to 256.
std::string header_v1(const Shape& s, int version = 1, bool shared = true, int group_size = 0) {
  std::string out;
  append(out, std::uint32_t{0x616b3432});
  append(out, std::int32_t{version});
  out += fields(s);
  append(out, std::uint8_t{shared});
  if (version == 2) append(out, std::int32_t{group_size});
  out.resize(256, '\0');
  return out;
}

// A complete version 1 file (zero weights: loading does not look at their values).
std::string checkpoint_v1(const Shape& s) {
  const std::int64_t kv_dim = std::int64_t{s.n_kv_heads} * (s.dim / s.n_heads);
  const std::int64_t per_layer = 2 * s.dim + 2 * std::int64_t{s.dim} * s.dim + 2 * kv_dim * s.dim +
                                 3 * std::int64_t{s.hidden_dim} * s.dim;
  const std::int64_t floats = s.n_layers * per_layer + s.dim + std::int64_t{s.vocab_size} * s.dim;
  return header_v1(s) + std::string(static_cast<std::size_t>(floats) * 4, '\0');
}

// A complete version 0 file (random weights, written by the library's own writer).
std::string checkpoint_v0(const std::string& name, const Shape& s) {
  return read_file(testing::write_random_checkpoint_v0(name, s.dim, s.hidden_dim, s.n_layers, s.n_heads,
                                                       s.n_kv_heads, s.vocab_size, s.seq_len));
}

// A tokenizer.bin: max_token_length, then (score, length, bytes) per entry.
struct Entry {
  float score;
  std::int32_t length;  // written as given, so it can lie about the bytes that follow
  std::string bytes;
};
std::string tokenizer_file(std::int32_t max_token_length, const std::vector<Entry>& entries) {
  std::string out;
  append(out, max_token_length);
  for (const Entry& e : entries) {
    append(out, e.score);
    append(out, e.length);
    out += e.bytes;
  }
  return out;
}
std::vector<Entry> valid_entries(int n) {
  std::vector<Entry> entries{{0, 5, "<unk>"}, {0, 5, "\n<s>\n"}, {0, 6, "\n</s>\n"}};
  for (int i = 3; i < n; ++i) entries.push_back({-static_cast<float>(i), 1, std::string(1, static_cast<char>('a' + i % 26))});
  return entries;
}

// ---------------------------------------------------------------------------
// Checking the outcome
// ---------------------------------------------------------------------------

// One line on stderr, starting with "error:", containing `needle`; nothing on stdout.
void expect_cli_error(const std::string& args, int exit_code, const std::string& needle,
                      const std::string& stdin_text = "") {
  SCOPED_TRACE("llama2 " + args);
  const auto r = run_cli(args, stdin_text, 60);
  EXPECT_EQ(r.exit_code, exit_code) << "stderr: " << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << "stderr: " << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "not a single line: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr does not mention '" << needle << "': " << r.err;
  EXPECT_EQ(r.out, "");
}

// Model::load throws llama2::Error whose message contains `needle`.
void expect_load_error(const std::string& path, const std::string& needle) {
  SCOPED_TRACE(path);
  try {
    Model::load(path);
    ADD_FAILURE() << "Model::load accepted a bad file";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(needle), std::string::npos) << "message does not mention '" << needle << "': " << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "multi-line message: " << msg;
  }
}

// A bad checkpoint, checked both ways. --ids keeps the tokenizer out of it.
void expect_bad_checkpoint(const std::string& name, const std::string& bytes, const std::string& needle) {
  const std::string path = write_scratch(name, bytes);
  expect_load_error(path, needle);
  expect_cli_error(quote(path) + " --ids -i 1 -n 2", 1, needle);
}

std::string stories260k() { return data_path("models/stories260K.bin"); }

// ---------------------------------------------------------------------------
// Files that are not there or not files
// ---------------------------------------------------------------------------

TEST(BadCheckpoint, MissingFile) {
  const std::string path = scratch_dir() + "/does_not_exist.bin";
  std::filesystem::remove(path);
  expect_load_error(path, "cannot open");
  expect_cli_error(quote(path), 1, "does_not_exist.bin");
}

TEST(BadCheckpoint, DirectoryIsNotAModel) {
  expect_load_error(scratch_dir(), "not a regular file");
  expect_cli_error(quote(scratch_dir()), 1, "not a regular file");
}

TEST(BadCheckpoint, EmptyFile) { expect_bad_checkpoint("empty.bin", "", "empty"); }

// ---------------------------------------------------------------------------
// Truncated files
// ---------------------------------------------------------------------------

TEST(BadCheckpoint, V0TruncatedByOneByte) {
  const std::string full = checkpoint_v0("v0_full.bin", kSmall);
  ASSERT_NO_THROW(Model::load(scratch_dir() + "/v0_full.bin"));
  expect_bad_checkpoint("v0_minus1.bin", full.substr(0, full.size() - 1), "truncated");
}

TEST(BadCheckpoint, V0TruncatedInTheMiddle) {
  const std::string full = checkpoint_v0("v0_full_mid.bin", kSmall);
  expect_bad_checkpoint("v0_half.bin", full.substr(0, full.size() / 2), "truncated");
}

TEST(BadCheckpoint, V0TruncatedInsideTheHeader) {
  expect_bad_checkpoint("v0_header_part.bin", header_v0(kSmall).substr(0, 10), "truncated");
  expect_bad_checkpoint("v0_three_bytes.bin", "abc", "truncated");
}

TEST(BadCheckpoint, V1TruncatedByOneByte) {
  const std::string full = checkpoint_v1(kSmall);
  const std::string full_path = write_scratch("v1_full.bin", full);
  ASSERT_NO_THROW(Model::load(full_path));
  expect_bad_checkpoint("v1_minus1.bin", full.substr(0, full.size() - 1), "truncated");
}

TEST(BadCheckpoint, V1TruncatedInTheMiddle) {
  const std::string full = checkpoint_v1(kSmall);
  expect_bad_checkpoint("v1_half.bin", full.substr(0, full.size() / 2), "truncated");
}

TEST(BadCheckpoint, V1TruncatedInsideThe256ByteHeader) {
  expect_bad_checkpoint("v1_header_only_40.bin", header_v1(kSmall).substr(0, 40), "truncated");
  expect_bad_checkpoint("v1_header_only_6.bin", header_v1(kSmall).substr(0, 6), "truncated");
}

TEST(BadCheckpoint, V2TruncatedByOneByte) {
  // Quantized layout: norms, then int8 values and one fp32 scale per group, per tensor.
  const Shape s = kSmall;
  const std::int64_t kv_dim = std::int64_t{s.n_kv_heads} * (s.dim / s.n_heads);
  const std::int64_t values = std::int64_t{s.vocab_size} * s.dim +
                              s.n_layers * (2 * s.dim * s.dim + 2 * kv_dim * s.dim + 3 * s.hidden_dim * s.dim);
  const int gs = 8;
  const std::int64_t bytes = 4 * (2 * s.n_layers * s.dim + s.dim) + values + 4 * (values / gs);
  const std::string full = header_v1(s, 2, true, gs) + std::string(static_cast<std::size_t>(bytes), '\0');
  ASSERT_NO_THROW(Model::load(write_scratch("v2_full.bin", full)));
  expect_bad_checkpoint("v2_minus1.bin", full.substr(0, full.size() - 1), "truncated");
}

// A header whose sizes are each in range but whose tensors would take terabytes: the size
// arithmetic must not overflow, and the file is simply too short.
TEST(BadCheckpoint, HugeButValidSizesAreTruncatedNotOverflowed) {
  const Shape huge{65536, 1 << 18, 1024, 1024, 1024, 1 << 22, 1 << 20};
  expect_bad_checkpoint("huge_v0.bin", header_v0(huge) + std::string(64, '\0'), "truncated");
  expect_bad_checkpoint("huge_v1.bin", header_v1(huge) + std::string(64, '\0'), "truncated");
}

// ---------------------------------------------------------------------------
// Bad headers
// ---------------------------------------------------------------------------

TEST(BadCheckpoint, UnknownVersion) {
  expect_bad_checkpoint("version7.bin", header_v1(kSmall, 7) + std::string(4096, '\0'), "unknown checkpoint version 7");
  expect_bad_checkpoint("version_neg.bin", header_v1(kSmall, -1) + std::string(64, '\0'), "version -1");
}

// Without the "ak42" magic a file is read as version 0, so any other file lands on the header
// check; the message must say so rather than crash or allocate.
TEST(BadCheckpoint, NotACheckpointAtAll) {
  expect_bad_checkpoint("text.bin", std::string("Once upon a time, there was a text file.\n") + std::string(200, 'x'),
                        "invalid model header");
  // "GGUF" magic with nonsense after it goes to the GGUF reader: any clean one-line error.
  expect_bad_checkpoint("gguf_like.bin", std::string("GGUF\x03\0\0\0", 8) + std::string(200, '\0'), "");
}

TEST(BadCheckpoint, ZeroDim) {
  Shape s = kSmall;
  s.dim = 0;
  expect_bad_checkpoint("dim0.bin", header_v0(s) + std::string(1024, '\0'), "dim 0");
  expect_bad_checkpoint("dim0_v1.bin", header_v1(s) + std::string(1024, '\0'), "dim 0");
}

TEST(BadCheckpoint, NegativeDim) {
  Shape s = kSmall;
  s.dim = -5;
  expect_bad_checkpoint("dim_neg.bin", header_v0(s) + std::string(1024, '\0'), "dim -5");
}

TEST(BadCheckpoint, AbsurdFieldsEachNamed) {
  struct Case {
    const char* name;
    Shape shape;
    const char* needle;
  };
  const Case cases[] = {
      {"dim_max.bin", {INT_MAX, 16, 2, 2, 1, 32, 8}, "dim 2147483647"},
      {"hidden0.bin", {8, 0, 2, 2, 1, 32, 8}, "hidden_dim 0"},
      {"hidden_neg.bin", {8, INT_MIN, 2, 2, 1, 32, 8}, "hidden_dim -2147483648"},
      {"layers0.bin", {8, 16, 0, 2, 1, 32, 8}, "n_layers 0"},
      {"layers_huge.bin", {8, 16, 1 << 30, 2, 1, 32, 8}, "n_layers"},
      {"heads0.bin", {8, 16, 2, 0, 1, 32, 8}, "n_heads 0"},
      {"kv0.bin", {8, 16, 2, 2, 0, 32, 8}, "n_kv_heads 0"},
      {"seq0.bin", {8, 16, 2, 2, 1, 32, 0}, "seq_len 0"},
      {"seq_neg.bin", {8, 16, 2, 2, 1, 32, -1}, "seq_len -1"},
      {"vocab_huge.bin", {8, 16, 2, 2, 1, INT_MAX, 8}, "vocab_size 2147483647"},
      {"dim_heads.bin", {10, 16, 2, 3, 1, 32, 8}, "not divisible by n_heads"},
      {"heads_kv.bin", {24, 16, 2, 3, 2, 32, 8}, "not divisible by n_kv_heads"},
      {"kv_above_heads.bin", {8, 16, 2, 2, 4, 32, 8}, "n_kv_heads 4"},
      {"odd_head.bin", {6, 16, 2, 2, 1, 32, 8}, "head size is odd"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    expect_bad_checkpoint(c.name, header_v0(c.shape) + std::string(1024, '\0'), c.needle);
  }
}

// In version 0 a negative vocab_size marks an unshared classifier; INT_MIN has no positive
// counterpart in an int32 and must be rejected, not negated into garbage.
TEST(BadCheckpoint, VocabIntMinInVersion0) {
  Shape s = kSmall;
  s.vocab_size = INT_MIN;
  expect_bad_checkpoint("vocab_int_min.bin", header_v0(s) + std::string(1024, '\0'), "vocab_size -2147483648");
}

TEST(BadCheckpoint, VocabZeroInVersion0) {
  Shape s = kSmall;
  s.vocab_size = 0;
  expect_bad_checkpoint("vocab0.bin", header_v0(s) + std::string(1024, '\0'), "vocab_size 0");
}

TEST(BadCheckpoint, Version2GroupSize) {
  expect_bad_checkpoint("gs0.bin", header_v1(kSmall, 2, true, 0) + std::string(1024, '\0'), "group_size 0");
  expect_bad_checkpoint("gs_neg.bin", header_v1(kSmall, 2, true, -64) + std::string(1024, '\0'), "group_size -64");
  expect_bad_checkpoint("gs3.bin", header_v1(kSmall, 2, true, 3) + std::string(1024, '\0'), "does not divide dim");
}

// ---------------------------------------------------------------------------
// Bad tokenizers (with a tiny random model of vocab 8)
// ---------------------------------------------------------------------------

class BadTokenizer : public ::testing::Test {
 protected:
  static constexpr int kVocab = 8;
  void SetUp() override {
    // One file per test: ctest runs tests as parallel processes sharing the scratch folder.
    const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    model_ = testing::write_random_checkpoint_v0("tok_model_" + test + ".bin", 8, 16, 1, 2, 2, kVocab, 16);
  }
  // The tokenizer is read in generate mode without --ids.
  void expect_bad(const std::string& name, const std::string& bytes, const std::string& needle) {
    const std::string path = write_scratch(name, bytes);
    SCOPED_TRACE(name);
    try {
      Tokenizer::load(path, kVocab);
      ADD_FAILURE() << "Tokenizer::load accepted a bad file";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    expect_cli_error(quote(model_) + " -z " + quote(path) + " -i hello -n 4", 1, needle);
  }
  std::string model_;
};

TEST_F(BadTokenizer, ValidOneWorks) {
  const std::string path = write_scratch("tok_ok.bin", tokenizer_file(8, valid_entries(kVocab)));
  const auto r = run_cli(quote(model_) + " -z " + quote(path) + " -i hello -n 16 -s 1");
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(BadTokenizer, MissingFile) {
  const std::string path = scratch_dir() + "/no_such_tokenizer.bin";
  std::filesystem::remove(path);
  expect_cli_error(quote(model_) + " -z " + quote(path) + " -i hello", 1, "no_such_tokenizer.bin");
  // The default -z is tokenizer.bin in the current folder: say it is the tokenizer.
  expect_cli_error(quote(model_) + " -i hello", 1, "tokenizer");
}

TEST_F(BadTokenizer, NegativeLength) {
  auto entries = valid_entries(kVocab);
  entries[4].length = -1;
  expect_bad("tok_neg.bin", tokenizer_file(8, entries), "negative length");
  entries[4].length = INT_MIN;
  expect_bad("tok_intmin.bin", tokenizer_file(8, entries), "negative length");
}

TEST_F(BadTokenizer, HugeLength) {
  auto entries = valid_entries(kVocab);
  entries[5].length = INT_MAX;
  expect_bad("tok_huge.bin", tokenizer_file(8, entries), "length 2147483647");
  // Even when max_token_length allows it, the bytes are not there.
  expect_bad("tok_huge_max.bin", tokenizer_file(INT_MAX, entries), "truncated");
}

TEST_F(BadTokenizer, NegativeMaxTokenLength) {
  expect_bad("tok_negmax.bin", tokenizer_file(-3, valid_entries(kVocab)), "max_token_length");
}

TEST_F(BadTokenizer, TruncatedTail) {
  const std::string full = tokenizer_file(8, valid_entries(kVocab));
  expect_bad("tok_cut1.bin", full.substr(0, full.size() - 1), "truncated");
  expect_bad("tok_cut6.bin", full.substr(0, full.size() - 6), "truncated");  // inside score/length
  expect_bad("tok_cut_header.bin", full.substr(0, 2), "truncated");
}

TEST_F(BadTokenizer, FewerEntriesThanTheModel) {
  expect_bad("tok_short.bin", tokenizer_file(8, valid_entries(kVocab - 2)), "fewer entries");
}

TEST_F(BadTokenizer, MoreEntriesThanTheModel) {
  expect_bad("tok_long.bin", tokenizer_file(8, valid_entries(kVocab + 3)), "more entries");
}

// The Llama 2 tokenizer (32000) with stories260K (vocab 512): not this model's tokenizer.
TEST(BadTokenizerShared, Llama2TokenizerWithStories260K) {
  expect_cli_error(quote(stories260k()) + " -z " + quote(data_path("models/tokenizer.bin")) + " -i hello", 1,
                   "vocab of 512");
  expect_cli_error(quote(stories260k()) + " -z " + quote(data_path("models/tokenizer.bin")) + " -m chat", 1,
                   "vocab of 512", "hi\n");
}

// ---------------------------------------------------------------------------
// Bad command lines: exit status 2
// ---------------------------------------------------------------------------

TEST(BadFlags, OutOfRangeOrMalformedValues) {
  struct Case {
    const char* args;
    const char* needle;
  };
  const Case cases[] = {
      {"-t -1", "--temperature"},   {"-t nan", "--temperature"}, {"-t inf", "--temperature"},
      {"-t abc", "--temperature"},  {"-p 1.5", "--topp"},        {"-p -0.1", "--topp"},
      {"-p nan", "--topp"},         {"-n -3", "--steps"},        {"-n 1.5", "--steps"},
      {"-n 99999999999", "--steps"}, {"--threads 0", "--threads"}, {"--threads -2", "--threads"},
      {"--threads 100000", "--threads"}, {"-m other", "--mode"},  {"-s abc", "--seed"},
      {"--bogus", "--bogus"},       {"-x 3", "-x"},              {"-t", "--temperature"},
      {"-i", "--prompt"},           {"--threads", "--threads"},   {"-z", "--tokenizer"},
      {"--ids -i 1 extra_positional", "extra_positional"},
  };
  for (const Case& c : cases) expect_cli_error(quote(stories260k()) + " " + c.args, 2, c.needle);
}

TEST(BadFlags, MissingCheckpoint) { expect_cli_error("", 2, "checkpoint"); }

// A usage error is reported before the model is even opened (cheap and unambiguous).
TEST(BadFlags, UsageErrorBeatsMissingFile) {
  expect_cli_error(quote(scratch_dir() + "/nope.bin") + " -p 2", 2, "--topp");
}

TEST(BadFlags, IdsWithoutPrompt) { expect_cli_error(quote(stories260k()) + " --ids", 2, "--ids"); }

TEST(BadFlags, IdsInChatMode) {
  expect_cli_error(quote(stories260k()) + " --ids -i 1 -m chat", 2, "--ids");
}

TEST(BadFlags, SpeculativeDecoding) {
  const std::string model = quote(stories260k());
  expect_cli_error(model + " --ids -i 1 --lookup 0", 2, "--lookup");
  expect_cli_error(model + " --ids -i 1 --lookup 17", 2, "--lookup");
  expect_cli_error(model + " --ids -i 1 --lookup 2 --draft-max 0", 2, "--draft-max");
  expect_cli_error(model + " --ids -i 1 --lookup 2 --draft " + model, 2, "--lookup and --draft");
  expect_cli_error(model + " -m chat --lookup 2", 2, "generate mode", "hi\n");
  expect_cli_error(model + " --ids -i 1 --draft " + quote(scratch_dir() + "/no_draft.bin"), 1, "no_draft.bin");
  expect_cli_error(model + " --ids -i 1 --draft " + quote(data_path("models/tokenizer.bin")), 1, "tokenizer.bin");
}

// llama2 serve's draft sources: one at a time, a draft file that opens, of the same vocabulary;
// each refused before the server binds a port.
TEST(BadFlags, ServeSpeculativeDecoding) {
  const std::string model = quote(data_path("models/stories260K.gguf"));
  expect_cli_error("serve " + model + " --port 0 --lookup 2 --draft " + model, 2, "--lookup and --draft");
  expect_cli_error("serve " + model + " --port 0 --lookup 17", 2, "--lookup");
  expect_cli_error("serve " + model + " --port 0 --draft " + quote(scratch_dir() + "/no_draft.bin"), 1, "no_draft.bin");
  const std::string vocab300 = testing::write_random_checkpoint_v0("serve_draft300.bin", 32, 64, 1, 4, 4, 300, 64);
  expect_cli_error("serve " + model + " --port 0 --draft " + quote(vocab300), 1, "300 tokens but the model 512");
  // bench's draft row: checked against every model before any measurement.
  expect_cli_error("bench -m " + model + " -p 0 -n 8 --draft " + quote(vocab300), 1, "300 tokens but the model 512");
  expect_cli_error("bench -m " + model + " -p 0 -n 8 --draft " + quote(scratch_dir() + "/no_draft.bin"), 2, "--draft");
  expect_cli_error("bench -m " + model + " -p 0 -n 8 --lookup 2 --draft-max 65", 2, "--draft-max");
}

TEST(BadFlags, TokenizeSubcommand) {
  expect_cli_error("tokenize --vocab 0", 2, "--vocab");
  expect_cli_error("tokenize --bogus", 2, "--bogus");
  expect_cli_error("tokenize -z " + quote(scratch_dir() + "/nope_tok.bin"), 1, "nope_tok.bin", "hi");
}

// --tensor-type PATTERN=TYPE (quantize and convert to GGUF): malformed rules are usage errors
// before anything is read; a pattern that is not a regular expression, or that names no
// matrix, fails before the output is written.
TEST(BadFlags, TensorTypeRules) {
  const std::string m = quote(stories260k()), out = quote(scratch_dir() + "/rules.gguf");
  expect_cli_error("quantize " + m + " " + out + " --type q8_0 --tensor-type attn_v", 2, "PATTERN=TYPE");
  expect_cli_error("quantize " + m + " " + out + " --type q8_0 --tensor-type =q8_0", 2, "PATTERN=TYPE");
  expect_cli_error("quantize " + m + " " + out + " --type q8_0 --tensor-type attn_v=q9", 2, "'q9'");
  expect_cli_error("quantize " + m + " " + quote(scratch_dir() + "/rules.bin") + " --type q8_0 --tensor-type attn_v=f32",
                   2, "GGUF");
  expect_cli_error("convert " + m + " " + quote(scratch_dir() + "/rules.bin") + " --tensor-type attn_v=f32", 2, "GGUF");
  expect_cli_error("convert " + m + " " + out + " --tensor-type '(=q8_0'", 1, "not a regular expression");
  expect_cli_error("convert " + m + " " + out + " --tensor-type attn_x=q8_0", 1, "matches no matrix");
  expect_cli_error("convert " + m + " " + out + " --tensor-type attn_norm=q8_0", 1, "matches no matrix");
}

// ---------------------------------------------------------------------------
// Bad token ids and prompts
// ---------------------------------------------------------------------------

TEST(BadIds, OutsideTheVocabulary) {
  expect_cli_error(quote(stories260k()) + " --ids -i 512", 1, "512");
  expect_cli_error(quote(stories260k()) + " --ids -i '1 2 100000'", 1, "100000");
  expect_cli_error(quote(stories260k()) + " --ids -i -1", 1, "-1");
  expect_cli_error(quote(stories260k()) + " --ids -i '1,-7'", 1, "-7");
}

TEST(BadIds, NotNumbers) {
  expect_cli_error(quote(stories260k()) + " --ids -i abc", 2, "'abc'");
  expect_cli_error(quote(stories260k()) + " --ids -i '1 2x 3'", 2, "'2x'");
  expect_cli_error(quote(stories260k()) + " --ids -i '1 +'", 2, "'+'");
  expect_cli_error(quote(stories260k()) + " --ids -i 99999999999999999999", 2, "99999999999999999999");
}

TEST(BadIds, PromptLongerThanTheContext) {
  expect_cli_error(quote(stories260k()) + " --ids -i '1 2 3 4 5 6 7 8 9 10' -n 4", 1, "context");
}

// Help is not an error.
TEST(Help, PrintsUsageAndExitsZero) {
  for (const char* flag : {"-h", "--help"}) {
    const auto r = run_cli(flag);
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--temperature"), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "");
  }
  const auto r = run_cli(quote(stories260k()) + " --help");
  EXPECT_EQ(r.exit_code, 0);
  const auto t = run_cli("tokenize --help");
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_NE(t.out.find("--tokenizer"), std::string::npos) << t.out;
}

// ---------------------------------------------------------------------------
// The fuzzer's seed corpus stays loadable (it is only useful if most seeds get past the
// header), except the one deliberately truncated seed.
// ---------------------------------------------------------------------------

TEST(FuzzCorpus, SeedCheckpointsLoad) {
  // From the source root CMake passes (__FILE__ is relative when ccache's base_dir rewrites it).
  const std::filesystem::path dir = std::filesystem::path(LLAMA2_SOURCE_DIR) / "fuzz/corpus/fuzz_checkpoint";
  ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
  int loaded = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    SCOPED_TRACE(name);
    if (name.find("truncated") != std::string::npos) {
      expect_load_error(entry.path().string(), "truncated");
      continue;
    }
    const auto model = Model::load(entry.path().string());
    EXPECT_GT(model->config().vocab_size, 0);
    ++loaded;
  }
  EXPECT_GE(loaded, 6);
}

}  // namespace
}  // namespace llama2
