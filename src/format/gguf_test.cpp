// GGUF: the container round trip, conversions that must give the same answers as the llama2.c
// file they came from, the `llama2 convert` command, and a hostile-file suite (a valid tiny
// file corrupted one field at a time: every case must throw llama2::Error, never crash).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "core/mapped_file.hpp"
#include "core/thread_pool.hpp"
#include "format/gguf.hpp"
#include "tokenizer/vocabulary.hpp"
#include "format/gguf_writer.hpp"
#include "generation/generate.hpp"
#include "model/model.hpp"
#include "sampling/sampler.hpp"
#include "test_support.hpp"
#include "tokenizer/tokenizer.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {
namespace {

using testing::data_path;
using testing::quote;
using testing::run_cli;
using testing::scratch_dir;

std::span<const std::byte> as_bytes(const std::string& s) { return std::as_bytes(std::span(s.data(), s.size())); }

std::string to_bytes(const GgufWriter& w) {
  std::ostringstream out;
  w.write(out);
  return out.str();
}

// ---------------------------------------------------------------------------
// Container round trip
// ---------------------------------------------------------------------------
TEST(GgufContainer, WriterOutputReadsBackExactly) {
  GgufWriter w(64);
  w.add_uint32("test.u32", 7);
  w.add_int32("test.i32", -3);
  w.add_uint64("test.u64", 1ull << 40);
  w.add_float32("test.f32", 0.25f);
  w.add_bool("test.flag", true);
  w.add_string("test.name", "hello");
  w.add_string_array("test.strings", {"a", "", "ccc"});
  const std::vector<float> floats{1.5f, -2.0f};
  const std::vector<std::int32_t> ints{1, -1, 6};
  w.add_float32_array("test.floats", floats);
  w.add_int32_array("test.ints", ints);
  std::vector<float> values(3 * 64);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.5f - 7.0f;
  w.add_tensor("m.f32", DType::F32, {64, 3}, [&](std::span<std::byte> out) {
    std::memcpy(out.data(), values.data(), out.size());
  });
  w.add_tensor("v.q8", DType::Q8_0, {64}, [&](std::span<std::byte> out) { encode_row(DType::Q8_0, values.data(), out.data(), 64); });
  w.add_tensor("m.q4k", DType::Q4_K, {256, 2}, [&](std::span<std::byte> out) { std::memset(out.data(), 0, out.size()); });
  const std::string bytes = to_bytes(w);

  const GgufFile f = parse_gguf(as_bytes(bytes), "test");
  EXPECT_EQ(f.version, 3u);
  EXPECT_EQ(f.alignment, 64u);
  EXPECT_EQ(f.get_uint("general.alignment"), 64u);
  EXPECT_EQ(f.get_uint("test.u32"), 7u);
  EXPECT_EQ(f.find("test.i32")->i, -3);
  EXPECT_EQ(f.get_uint("test.u64"), 1ull << 40);
  EXPECT_EQ(f.get_float("test.f32"), 0.25);
  EXPECT_TRUE(f.get_bool("test.flag"));
  EXPECT_EQ(f.get_string("test.name"), "hello");
  EXPECT_EQ(f.get_string_array("test.strings"), (std::vector<std::string_view>{"a", "", "ccc"}));
  EXPECT_EQ(f.get_float_array("test.floats"), floats);
  EXPECT_EQ(f.get_int_array("test.ints"), ints);
  EXPECT_EQ(f.get_uint("test.absent", 5), 5u);
  EXPECT_THROW(f.get_uint("test.name"), Error);  // wrong type
  EXPECT_THROW(f.get_string("test.absent"), Error);

  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.data_offset % 64, 0u);
  for (const auto& t : f.tensors) EXPECT_EQ(t.offset % 64, 0u) << t.name;
  const GgufTensorInfo* m = f.find_tensor("m.f32");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->n_dims, 2u);
  EXPECT_EQ(m->dims[0], 64u);
  EXPECT_EQ(m->dims[1], 3u);
  EXPECT_EQ(m->type, DType::F32);
  EXPECT_EQ(m->bytes, values.size() * 4);
  EXPECT_EQ(std::memcmp(m->data.data(), values.data(), m->bytes), 0);
  EXPECT_EQ(f.find_tensor("v.q8")->bytes, 34u * 2);
  EXPECT_EQ(f.find_tensor("m.q4k")->type, DType::Q4_K);
  EXPECT_EQ(f.find_tensor("m.q4k")->bytes, 144u * 2);
}

TEST(GgufContainer, WriterRejectsWhatGgufCannotHold) {
  GgufWriter w;
  EXPECT_THROW(w.add_uint32("general.alignment", 8), Error);  // duplicate key
  EXPECT_THROW(w.add_tensor("x", DType::Q8_0, {33}, {}), Error);  // not a block multiple
  EXPECT_THROW(w.add_tensor("x", DType::Q8_GROUPED, {32}, {}), Error);
  EXPECT_THROW(GgufWriter(12), Error);
}

TEST(GgufContainer, StorageTypeFallsBackForRowsThatDoNotFitBlocks) {
  EXPECT_EQ(storage_type(DType::Q4_K, 512), DType::Q4_K);
  EXPECT_EQ(storage_type(DType::Q4_K, 64), DType::Q4_1);
  EXPECT_EQ(storage_type(DType::Q6_K, 64), DType::Q8_0);
  EXPECT_EQ(storage_type(DType::Q8_0, 172), DType::F16);
  EXPECT_EQ(storage_type(DType::F32, 172), DType::F32);
}

TEST(GgufContainer, VocabularySpellingRoundTrips) {
  EXPECT_EQ(piece_from_gguf("\xE2\x96\x81the", 10, 1, 2), " the");
  EXPECT_EQ(piece_from_gguf("<s>", 1, 1, 2), "\n<s>\n");
  EXPECT_EQ(piece_to_gguf(" the", 10, 1, 2), "\xE2\x96\x81the");
  EXPECT_EQ(piece_to_gguf("\n</s>\n", 2, 1, 2), "</s>");
  EXPECT_EQ(piece_to_gguf("<0x0A>", 13, 1, 2), "<0x0A>");
}

// ---------------------------------------------------------------------------
// Same answers as the llama2.c file
// ---------------------------------------------------------------------------
std::vector<float> all_logits(const Model& m, const std::vector<TokenId>& tokens) {
  State s(m.config(), static_cast<int>(tokens.size()));
  ThreadPool pool(2);
  std::vector<float> out;
  for (std::size_t pos = 0; pos < tokens.size(); ++pos) {
    const auto logits = forward(m, s, tokens[pos], static_cast<Position>(pos), pool);
    out.insert(out.end(), logits.begin(), logits.end());
  }
  return out;
}

std::vector<TokenId> greedy(const Model& m, int steps) {
  State s(m.config(), steps);
  Sampler sampler(m.config().vocab_size, {0.0f, 0.9f, 1});
  ThreadPool pool(2);
  const std::vector<TokenId> prompt{kBosToken};
  return generate(m, s, sampler, prompt, steps, pool).tokens;
}

std::string convert(const Model& m, DType type, const std::string& name, const Vocabulary* vocab = nullptr) {
  const std::string path = scratch_dir() + "/" + name;
  GgufExportOptions o;
  o.type = type;
  o.name = name;
  o.vocabulary = vocab;
  write_gguf_model(m, path, o);
  return path;
}

TEST(GgufModel, F32ConversionGivesIdenticalTokensAndLogits) {
  const auto bin = Model::load(data_path("models/stories260K.bin"));
  const auto gguf = Model::load(convert(*bin, DType::F32, "stories260K_f32.gguf"));
  EXPECT_EQ(gguf->format(), ModelFormat::Gguf);
  EXPECT_FALSE(gguf->vocabulary().has_value());
  const Config &a = bin->config(), &b = gguf->config();
  EXPECT_EQ(std::tie(a.dim, a.hidden_dim, a.n_layers, a.n_heads, a.n_kv_heads, a.vocab_size, a.seq_len),
            std::tie(b.dim, b.hidden_dim, b.n_layers, b.n_heads, b.n_kv_heads, b.vocab_size, b.seq_len));
  EXPECT_EQ(b.rope_theta, 10000.0f);
  EXPECT_EQ(b.norm_eps, 1e-5f);
  EXPECT_EQ(gguf->weights().wcls.data, gguf->weights().token_embedding.data);  // tied stays tied
  const auto tokens = greedy(*bin, 256);
  EXPECT_EQ(greedy(*gguf, 256), tokens);
  EXPECT_EQ(all_logits(*gguf, tokens), all_logits(*bin, tokens));  // bit for bit
}

// Greedy agreement of the lossy types with the fp32 model. Two measures: the common prefix of
// free-running greedy generation (one flip diverges everything after it), and top-1 agreement
// under teacher forcing (every position fed the fp32 model's token).
struct Agreement {
  int prefix = 0;
  double top1 = 0;
  double rel_rms = 0;  // relative RMS error of all teacher-forced logits
};

Agreement agreement(const Model& ref, const Model& m, int steps) {
  const auto expected = greedy(ref, steps), got = greedy(m, steps);
  Agreement a;
  while (a.prefix < static_cast<int>(expected.size()) && a.prefix < static_cast<int>(got.size()) &&
         expected[a.prefix] == got[a.prefix])
    ++a.prefix;
  const int vocab = ref.config().vocab_size;
  const auto lr = all_logits(ref, expected), lm = all_logits(m, expected);
  int same = 0, n = static_cast<int>(expected.size());
  for (int p = 0; p < n; ++p) {
    auto argmax = [&](const std::vector<float>& l) {
      return std::max_element(l.begin() + p * vocab, l.begin() + (p + 1) * vocab) - (l.begin() + p * vocab);
    };
    same += argmax(lr) == argmax(lm);
  }
  a.top1 = static_cast<double>(same) / n;
  double err = 0, norm = 0;
  for (std::size_t i = 0; i < lr.size(); ++i) {
    err += (lm[i] - lr[i]) * (lm[i] - lr[i]);
    norm += lr[i] * lr[i];
  }
  a.rel_rms = std::sqrt(err / norm);
  return a;
}

TEST(GgufModel, LossyTypesAgreeWithFp32) {
  const auto bin = Model::load(data_path("models/stories260K.bin"));
  // Bounds from measurements (see the printed lines). This 260K-parameter model amplifies
  // weight error about tenfold (Q8_0's 0.6 % per weight -> ~7 % on the logits; Q4_0's ~10 %
  // -> ~65 %), and its greedy path has small margins, so free-running generation already
  // differs at the first token for the 8- and 4-bit types.
  struct Case {
    DType type;
    double min_top1, max_rel_rms;
  };
  for (const Case c : {Case{DType::F16, 0.97, 0.01}, Case{DType::BF16, 0.9, 0.05}, Case{DType::Q8_0, 0.8, 0.15},
                       Case{DType::Q4_0, 0.2, 1.0}}) {
    const auto m = Model::load(convert(*bin, c.type, std::string("stories260K_") + dtype_name(c.type) + ".gguf"));
    EXPECT_EQ(m->weights().layers[0].wq.type, c.type);
    const Agreement a = agreement(*bin, *m, 256);
    std::printf("[ measured ] stories260K %-5s greedy: %3d/257 tokens before the first difference, "
                "teacher-forced top-1 agreement %.3f, logits relative RMS error %.4f\n",
                dtype_name(c.type), a.prefix, a.top1, a.rel_rms);
    EXPECT_GE(a.top1, c.min_top1) << dtype_name(c.type);
    EXPECT_LE(a.rel_rms, c.max_rel_rms) << dtype_name(c.type);
  }
}

// --tensor-type: each matrix is stored in the type of the first rule whose pattern it
// matches, the others in the base type, and a rule's matrix holds exactly what a whole-model
// conversion to that type would hold.
TEST(GgufModel, TensorTypeRulesPickEachMatrixType) {
  const auto bin = Model::load(data_path("models/stories260K.bin"));
  GgufExportOptions o;
  o.type = DType::F32;
  o.tensor_types = {{"blk\\.0\\.attn_v", DType::Q8_0}, {"attn_v", DType::F16}, {"^token_embd", DType::Q4_0}};
  const std::string path = scratch_dir() + "/stories260K_rules.gguf";
  const auto notes = write_gguf_model(*bin, path, o);
  const auto m = Model::load(path);
  const Weights& w = m->weights();
  EXPECT_EQ(w.layers[0].wv.type, DType::Q8_0);
  for (std::size_t l = 1; l < w.layers.size(); ++l) EXPECT_EQ(w.layers[l].wv.type, DType::F16) << l;
  EXPECT_EQ(w.token_embedding.type, DType::Q4_0);
  EXPECT_EQ(w.layers[0].wq.type, DType::F32);
  EXPECT_EQ(w.layers[2].w2.type, DType::F32);
  EXPECT_NE(std::find(notes.begin(), notes.end(), "blk.0.attn_v.weight: q8_0 (rule 'blk\\.0\\.attn_v')"), notes.end());
  EXPECT_EQ(notes.size(), 1u + 4u + 1u);  // one per matrix a rule changed

  const auto q8 = Model::load(convert(*bin, DType::Q8_0, "stories260K_q8_0_for_rules.gguf"));
  const Tensor &mine = w.layers[0].wv, &whole = q8->weights().layers[0].wv, &fp = w.layers[0].wq;
  std::vector<float> a(static_cast<std::size_t>(mine.cols)), b(a.size());
  for (std::int64_t r = 0; r < mine.rows; ++r) {
    dequantize_row(mine, r, a.data());
    dequantize_row(whole, r, b.data());
    EXPECT_EQ(a, b) << "row " << r;
  }
  for (std::int64_t r = 0; r < fp.rows; ++r) {
    dequantize_row(fp, r, a.data());
    dequantize_row(bin->weights().layers[0].wq, r, b.data());
    EXPECT_EQ(a, b) << "row " << r;
  }

  o.tensor_types = {{"(", DType::Q8_0}};
  EXPECT_THROW(write_gguf_model(*bin, path, o), Error);
  o.tensor_types = {{"ffn_norm", DType::Q8_0}};  // 1-D norms are never quantized
  EXPECT_THROW(write_gguf_model(*bin, path, o), Error);
}

// K-quants need rows of 256: a random model whose every matrix has them.
TEST(GgufModel, KQuantsRunCloseToFp32) {
  const std::string bin_path = testing::write_random_checkpoint_v0("kq.bin", 256, 512, 2, 4, 2, 512, 64, 7);
  const auto bin = Model::load(bin_path);
  const std::vector<TokenId> tokens{1, 5, 300, 42, 7, 99, 511, 0};
  const auto ref = all_logits(*bin, tokens);
  struct Case {
    DType type;
    double max_rel_rms;
  };
  for (const Case c : {Case{DType::Q4_K, 0.25}, Case{DType::Q5_K, 0.12}, Case{DType::Q6_K, 0.06},
                       Case{DType::Q4_1, 0.25}}) {
    const auto m = Model::load(convert(*bin, c.type, std::string("kq_") + dtype_name(c.type) + ".gguf"));
    EXPECT_EQ(m->weights().layers[1].w2.type, c.type);
    const auto got = all_logits(*m, tokens);
    double err = 0, norm = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) {
      err += (got[i] - ref[i]) * (got[i] - ref[i]);
      norm += ref[i] * ref[i];
    }
    const double rel = std::sqrt(err / norm);
    std::printf("[ measured ] random 256-dim %-4s logits relative RMS error %.4f\n", dtype_name(c.type), rel);
    EXPECT_LT(rel, c.max_rel_rms) << dtype_name(c.type);
  }
}

TEST(GgufModel, RandomShapeWriterIsDeterministicAndLoads) {
  const Config t = gguf_random_shape("tinyllama").config;
  EXPECT_EQ(std::tie(t.dim, t.hidden_dim, t.n_layers, t.n_heads, t.n_kv_heads, t.vocab_size, t.seq_len),
            std::make_tuple(2048, 5632, 22, 32, 4, 32000, 2048));
  EXPECT_THROW(gguf_random_shape("huge"), UsageError);
  Config c = t;
  c.dim = 256, c.hidden_dim = 512, c.n_layers = 2, c.n_heads = 4, c.n_kv_heads = 2, c.vocab_size = 300;
  c.seq_len = 32;
  const std::string a = scratch_dir() + "/rand_a.gguf", b = scratch_dir() + "/rand_b.gguf";
  write_random_gguf(a, c, DType::Q4_K, 9);
  write_random_gguf(b, c, DType::Q4_K, 9);
  EXPECT_EQ(read_file(a), read_file(b));
  const auto m = Model::load(a);
  // A file without a vocabulary still says which tokenizer it has (none): llama.cpp refuses
  // a file that lacks the key.
  const MappedFile mapped(a);
  EXPECT_EQ(parse_gguf(mapped.bytes(), a).get_string("tokenizer.ggml.model", "missing"), "none");
  EXPECT_FALSE(m->vocabulary().has_value());
  EXPECT_EQ(m->weights().layers[0].wq.type, DType::Q4_K);
  EXPECT_NE(m->weights().wcls.data, m->weights().token_embedding.data);
  for (float x : all_logits(*m, {1, 2, 3})) ASSERT_TRUE(std::isfinite(x));
}

// ---------------------------------------------------------------------------
// Hostile files: a valid tiny model, corrupted one field at a time
// ---------------------------------------------------------------------------
Config tiny_config() {
  Config c;
  c.dim = 32, c.hidden_dim = 64, c.n_layers = 1, c.n_heads = 2, c.n_kv_heads = 1, c.vocab_size = 8, c.seq_len = 8;
  return c;
}

const std::string& tiny_gguf() {
  static const std::string bytes = [] {
    Vocabulary v;
    v.pieces = {"<unk>", "\n<s>\n", "\n</s>\n", " ", "a", "b", " a", "ab"};
    v.scores = {0, 0, 0, -1, -2, -3, -4, -5};
    v.token_types = {2, 3, 3, 1, 1, 1, 1, 1};
    v.chat_template = "{% for m in messages %}<|im_start|>{{ m.content }}<|im_end|>{% endfor %}";
    const std::string path = scratch_dir() + "/tiny.gguf";
    write_random_gguf(path, tiny_config(), DType::Q8_0, 5, &v);
    return read_file(path);
  }();
  return bytes;
}

// Position just after the GGUF string `text` (length-prefixed), i.e. at the field after a key
// (its value type) or after a tensor name (its n_dims).
std::size_t after_string(const std::string& bytes, const std::string& text) {
  std::string needle(8, '\0');
  const std::uint64_t n = text.size();
  std::memcpy(needle.data(), &n, 8);
  needle += text;
  const std::size_t at = bytes.find(needle);
  EXPECT_NE(at, std::string::npos) << text;
  return at == std::string::npos ? 0 : at + needle.size();
}

template <class T>
void put(std::string& bytes, std::size_t at, T value) {
  ASSERT_LE(at + sizeof(T), bytes.size());
  std::memcpy(bytes.data() + at, &value, sizeof(T));
}

template <class T>
T get(const std::string& bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof(T));
  return value;
}

// Loads `bytes` as a model file: must throw Error whose message contains `expected`.
void expect_rejected(const std::string& bytes, const std::string& expected, const std::string& label) {
  SCOPED_TRACE(label);
  const std::string path = testing::write_scratch("hostile.gguf", bytes);
  try {
    Model::load(path);
    ADD_FAILURE() << "loaded without error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

TEST(GgufHostile, TheUncorruptedTinyFileLoads) {
  const std::string path = testing::write_scratch("tiny_ok.gguf", tiny_gguf());
  const auto m = Model::load(path);
  ASSERT_TRUE(m->vocabulary().has_value());
  EXPECT_EQ(m->vocabulary()->pieces[6], " a");
  EXPECT_EQ(m->config().kv_dim(), 16);
}

TEST(GgufHostile, EveryTruncationIsRejected) {
  const std::string& good = tiny_gguf();
  // Cutting only the padding after the last tensor leaves a complete file.
  const GgufFile f = parse_gguf(as_bytes(good), "t");
  std::uint64_t end = 0;
  for (const auto& t : f.tensors) end = std::max(end, t.offset + t.bytes);
  for (std::size_t n = 0; n < end; ++n)
    ASSERT_THROW(parse_gguf(as_bytes(good.substr(0, n)), "t"), Error) << "prefix of " << n << " bytes";
}

TEST(GgufHostile, CorruptedHeaderFieldsAreRejected) {
  const std::string& good = tiny_gguf();
  auto with = [&](std::size_t at, auto value) {
    std::string b = good;
    put(b, at, value);
    return b;
  };
  expect_rejected(with(0, std::uint32_t{0x46554746}), "", "magic");
  expect_rejected(with(4, std::uint32_t{1}), "version 1", "version 1");
  expect_rejected(with(4, std::uint32_t{4}), "unknown GGUF version", "version 4");
  expect_rejected(with(8, std::uint64_t{1} << 60), "tensor_count", "absurd tensor count");
  expect_rejected(with(16, std::uint64_t{1} << 60), "metadata_kv_count", "absurd kv count");
  expect_rejected(with(16, ~std::uint64_t{0}), "metadata_kv_count", "kv count 2^64-1");
  expect_rejected(with(24, ~std::uint64_t{0}), "longer than the limit", "key length 2^64-1");
  expect_rejected(with(24, std::uint64_t{60000}), "truncated", "key length past the end");
}

TEST(GgufHostile, CorruptedMetadataIsRejected) {
  const std::string& good = tiny_gguf();
  auto at_key = [&](const std::string& key) { return after_string(good, key); };
  auto with = [&](std::size_t at, auto value) {
    std::string b = good;
    put(b, at, value);
    return b;
  };
  const std::size_t tokens = at_key("tokenizer.ggml.tokens");
  // tokens: [u32 type = array][u32 element type][u64 count] ...
  expect_rejected(with(tokens + 8, ~std::uint64_t{0} / 2), "cannot fit", "string array count");
  expect_rejected(with(tokens + 16, ~std::uint64_t{0}), "truncated", "first token length 2^64-1");
  expect_rejected(with(tokens + 4, std::uint32_t{99}), "unknown value type", "array of unknown type");
  expect_rejected(with(tokens, std::uint32_t{13}), "unknown value type", "unknown value type");
  expect_rejected(with(tokens + 8, std::uint64_t{7}), "", "7 tokens for a vocab of 8");
  const std::size_t scores = at_key("tokenizer.ggml.scores");
  expect_rejected(with(scores + 4, std::uint32_t{5}), "not an array of floats", "scores of int32");
  expect_rejected(with(scores + 4, std::uint32_t{10}), "", "scores of uint64 (twice as long)");
  expect_rejected(with(scores + 8, std::uint64_t{1} << 62), "cannot fit", "float array count overflow");
  expect_rejected(with(scores + 16 + 4 * 3, std::numeric_limits<float>::quiet_NaN()), "NaN", "NaN score");
  expect_rejected(with(at_key("tokenizer.ggml.add_bos_token") + 4, std::uint8_t{2}), "bool", "bool of 2");
  expect_rejected(with(at_key("tokenizer.ggml.bos_token_id") + 4, std::uint32_t{8}), "outside the vocab", "bos 8");
  expect_rejected(with(at_key("llama.block_count"), std::uint32_t{6}), "expected an integer", "count as float");
  expect_rejected(with(at_key("llama.block_count") + 4, std::uint32_t{2}), "missing tensor 'blk.1", "2 layers");
  expect_rejected(with(at_key("llama.block_count") + 4, std::uint32_t{0}), "n_layers", "0 layers");
  expect_rejected(with(at_key("llama.attention.head_count") + 4, std::uint32_t{3}), "divisible", "3 heads");
  expect_rejected(with(at_key("llama.attention.head_count_kv") + 4, std::uint32_t{2}), "shape", "kv heads");
  expect_rejected(with(at_key("llama.embedding_length") + 4, std::uint32_t{0x7fffffff}), "dim", "huge dim");
  expect_rejected(with(at_key("llama.context_length") + 4, std::uint32_t{0}), "seq_len", "context 0");
  expect_rejected(with(at_key("llama.rope.dimension_count") + 4, std::uint32_t{8}), "partial RoPE", "rope dims");
  expect_rejected(with(at_key("llama.attention.layer_norm_rms_epsilon") + 4, -1.0f), "epsilon", "eps < 0");
  expect_rejected(with(at_key("llama.rope.freq_base") + 4, std::numeric_limits<float>::infinity()), "RoPE", "inf");
  expect_rejected(with(at_key("general.alignment") + 4, std::uint32_t{0}), "alignment", "alignment 0");
  expect_rejected(with(at_key("general.alignment") + 4, std::uint32_t{12}), "alignment", "alignment 12");
  expect_rejected(with(at_key("general.alignment") + 4, std::uint32_t{64}), "alignment", "alignment 64");

  auto renamed = [&](const std::string& from, const std::string& to) {
    std::string b = good;
    const std::size_t end = after_string(good, from);
    b.replace(end - from.size(), from.size(), to);
    return b;
  };
  expect_rejected(renamed("general.architecture", "general.architecturf"), "general.architecture", "no arch");
  expect_rejected(renamed("llama", "gpt2x"), "architecture 'gpt2x'", "other architecture");
  expect_rejected(renamed("llama.block_count", "llama.block_counx"), "llama.block_count", "missing key");
  expect_rejected(renamed("llama.attention.layer_norm_rms_epsilon", "llama.attention.layer_norm_rms_epsiloN"),
                  "llama.attention.layer_norm_rms_epsilon", "missing epsilon");
}

TEST(GgufHostile, DuplicateKeyIsRejected) {
  std::string b = tiny_gguf();
  // A key of the same length renamed in place: "general.file_type" -> "llama.block_count".
  const std::size_t end = after_string(b, "general.file_type");
  b.replace(end - 17, 17, "llama.block_count");
  expect_rejected(b, "duplicate metadata key 'llama.block_count'", "duplicate key");
}

TEST(GgufHostile, CorruptedTensorInfosAreRejected) {
  const std::string& good = tiny_gguf();
  // Tensor info after the name: [u32 n_dims][u64 dims...][u32 type][u64 offset].
  const std::size_t q = after_string(good, "blk.0.attn_q.weight");
  auto with = [&](std::size_t at, auto value) {
    std::string b = good;
    put(b, at, value);
    return b;
  };
  expect_rejected(with(q, std::uint32_t{5}), "dimensions", "5 dims");
  expect_rejected(with(q, std::uint32_t{0}), "dimensions", "0 dims");
  expect_rejected(with(q, std::uint32_t{1}), "", "1 dim (shifts the fields)");
  expect_rejected(with(q + 4, std::uint64_t{0}), "zero dimension", "zero dim");
  expect_rejected(with(q + 4, std::uint64_t{1} << 63), "", "dim 2^63");
  expect_rejected(with(q + 12, std::uint64_t{1} << 62), "", "dims product overflow");
  expect_rejected(with(q + 12, std::uint64_t{33}), "", "wrong rows");
  expect_rejected(with(q + 4, std::uint64_t{64}), "", "wrong cols");
  expect_rejected(with(q + 4, std::uint64_t{48}), "multiple of", "cols not a block multiple");
  expect_rejected(with(q + 20, std::uint32_t{6}), "not supported", "Q5_0");
  expect_rejected(with(q + 20, std::uint32_t{1000}), "not supported", "unknown type");
  expect_rejected(with(q + 20, std::uint32_t{0}), "", "F32 (bigger than the data)");
  const std::uint64_t offset = get<std::uint64_t>(good, q + 24);
  expect_rejected(with(q + 24, offset + 8), "not a multiple of the alignment", "misaligned offset");
  expect_rejected(with(q + 24, std::uint64_t{1} << 40), "past the end", "offset past the end");
  expect_rejected(with(q + 24, ~std::uint64_t{0} - 31), "", "offset overflow");
  const std::size_t k = after_string(good, "blk.0.attn_k.weight");
  expect_rejected(with(k + 24, offset), "overlap", "overlapping tensors");

  std::string dup = good;
  dup.replace(k - 19, 19, "blk.0.attn_q.weight");
  expect_rejected(dup, "duplicate tensor name", "duplicate tensor");
  std::string missing = good;
  const std::size_t norm = after_string(good, "output_norm.weight");
  missing.replace(norm - 18, 18, "output_norx.weight");
  expect_rejected(missing, "output_norm.weight", "missing tensor");
  // output.weight is optional (tied to the embedding); renamed, it is an unknown tensor.
  std::string extra = good;
  const std::size_t out = after_string(good, "output.weight");
  extra.replace(out - 13, 13, "outpuz.weight");
  expect_rejected(extra, "unexpected tensor 'outpuz.weight'", "unexpected tensor");
  std::string long_name = good;
  put(long_name, q - 19 - 8, std::uint64_t{65});
  expect_rejected(long_name, "", "65-byte tensor name");
}

// Every byte of the header region, set to a few telling values: loads or throws Error.
TEST(GgufHostile, SingleByteCorruptionsNeverCrash) {
  const std::string& good = tiny_gguf();
  const GgufFile f = parse_gguf(as_bytes(good), "t");
  const std::string path = testing::write_scratch("byteflip.gguf", good);
  // Patched in place: rewriting (truncating) the file per case is 20x slower than loading it.
  std::fstream file(path, std::ios::binary | std::ios::in | std::ios::out);
  auto patch = [&](std::size_t at, char value) {
    file.seekp(static_cast<std::streamoff>(at));
    file.put(value);
    file.flush();
  };
  int rejected = 0, loaded = 0;
  for (std::size_t at = 0; at < f.data_offset; ++at) {
    for (unsigned char value : {0x00, 0x01, 0x7f, 0x80, 0xff}) {
      if (static_cast<unsigned char>(good[at]) == value) continue;
      patch(at, static_cast<char>(value));
      try {
        Model::load(path);
        ++loaded;
      } catch (const Error&) {
        ++rejected;
      }
    }
    patch(at, good[at]);
  }
  std::printf("[ measured ] %d single-byte corruptions rejected, %d still loadable (score/name bytes)\n", rejected,
              loaded);
  EXPECT_GT(rejected, 0);
}

// ---------------------------------------------------------------------------
// llama2 convert
// ---------------------------------------------------------------------------
TEST(GgufCli, ConvertedStoriesGivesTheSameIdsAsTheBin) {
  const std::string out = scratch_dir() + "/cli_stories.gguf";
  const auto conv = run_cli("convert " + quote(data_path("models/stories260K.bin")) + " " + quote(out));
  ASSERT_EQ(conv.exit_code, 0) << conv.err;
  const std::string args = " --ids -i 1 -n 256 -t 0 --threads 2";
  const auto a = run_cli(quote(data_path("models/stories260K.bin")) + args);
  const auto b = run_cli(quote(out) + args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(b.exit_code, 0) << b.err;
  EXPECT_EQ(a.out, b.out);
}

TEST(GgufCli, QuantizedConvertNotesFallbacks) {
  const std::string out = scratch_dir() + "/cli_stories_q8.gguf";
  const auto conv = run_cli("convert " + quote(data_path("models/stories260K.bin")) + " " + quote(out) + " --type q8_0");
  ASSERT_EQ(conv.exit_code, 0) << conv.err;
  // hidden_dim 172 is not a multiple of 32: ffn_down rows fall back to f16.
  EXPECT_NE(conv.err.find("blk.0.ffn_down.weight: rows of 172 values do not fit q8_0 blocks, stored as f16"),
            std::string::npos)
      << conv.err;
  const auto run = run_cli(quote(out) + " --ids -i 1 -n 16 -t 0");
  EXPECT_EQ(run.exit_code, 0) << run.err;
}

// bin + tokenizer.bin -> GGUF with the vocabulary inside -> runs without -z, same text;
// -> back to bin + tokenizer.bin: the same weights and a byte-identical tokenizer.bin.
TEST(GgufCli, VocabularyTravelsInsideTheFileAndBack) {
  const std::string bin = testing::write_random_checkpoint_v0("vocab32k.bin", 64, 128, 2, 4, 2, 32000, 64, 3);
  const std::string tok = data_path("models/tokenizer.bin");
  const std::string gguf = scratch_dir() + "/vocab32k.gguf";
  auto r = run_cli("convert " + quote(bin) + " " + quote(gguf) + " -z " + quote(tok));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto model = Model::load(gguf);
  ASSERT_TRUE(model->vocabulary().has_value());
  EXPECT_EQ(model->vocabulary()->pieces[1], "\n<s>\n");
  EXPECT_EQ(model->vocabulary()->token_types[13], kTokenByte);  // <0x0A>

  const std::string args = " -i " + quote("Once upon a time, a cat") + " -n 24 -t 0";
  const auto with_bin = run_cli(quote(bin) + " -z " + quote(tok) + args);
  const auto with_gguf = run_cli(quote(gguf) + args);  // no -z: the embedded vocabulary
  ASSERT_EQ(with_bin.exit_code, 0) << with_bin.err;
  ASSERT_EQ(with_gguf.exit_code, 0) << with_gguf.err;
  EXPECT_EQ(with_gguf.out, with_bin.out);

  const std::string back = scratch_dir() + "/vocab32k_back.bin", tok_back = scratch_dir() + "/tokenizer_back.bin";
  r = run_cli("convert " + quote(gguf) + " " + quote(back) + " --tokenizer-out " + quote(tok_back));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_file(tok_back), read_file(tok));
  const auto original = Model::load(bin), returned = Model::load(back);
  EXPECT_EQ(returned->format(), ModelFormat::Llama2cV0);
  const std::vector<TokenId> ids{1, 100, 2000, 31999};
  EXPECT_EQ(all_logits(*returned, ids), all_logits(*original, ids));
}

// A GGUF's Jinja chat template writes the turns; one this interpreter cannot run warns and
// falls back to a built-in format.
TEST(GgufCli, ChatUsesTheModelsTemplateOrWarns) {
  const std::string bin = testing::write_random_checkpoint_v0("chat32k.bin", 64, 128, 1, 4, 2, 32000, 64, 4);
  const auto model = Model::load(bin);
  Vocabulary v = vocabulary_from_tokenizer(Tokenizer::load(data_path("models/tokenizer.bin"), 32000));
  v.chat_template = "{% for m in messages %}{{ '<|user|>\n' + m['content'] + eos_token }}{% endfor %}<|assistant|>";
  const std::string zephyr = convert(*model, DType::F32, "chat_zephyr.gguf", &v);
  v.chat_template = "{% macro turn(m) %}<start_of_turn>{{ m.content }}{% endmacro %}";
  const std::string unknown = convert(*model, DType::F32, "chat_unknown.gguf", &v);
  const std::string args = " -m chat -n 40 -t 0 -i hello -y sys";
  const auto a = run_cli(quote(zephyr) + args);
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.err.find("warning"), std::string::npos) << a.err;
  const auto b = run_cli(quote(unknown) + args);
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_NE(b.err.find("warning: the chat template cannot be used (chat template line 1: unsupported tag 'macro')"),
            std::string::npos)
      << b.err;
  const auto c = run_cli(quote(unknown) + args + " --chat-template chatml");
  EXPECT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(c.err.find("warning"), std::string::npos) << c.err;
  EXPECT_EQ(run_cli(quote(unknown) + args + " --chat-template alpaca").exit_code, 2);
}

TEST(GgufCli, StoriesBinToGgufToBinKeepsEveryWeight) {
  const std::string gguf = scratch_dir() + "/rt_stories.gguf", back = scratch_dir() + "/rt_stories.bin";
  ASSERT_EQ(run_cli("convert " + quote(data_path("models/stories260K.bin")) + " " + quote(gguf)).exit_code, 0);
  ASSERT_EQ(run_cli("convert " + quote(gguf) + " " + quote(back)).exit_code, 0);
  const std::string a = read_file(data_path("models/stories260K.bin")), b = read_file(back);
  ASSERT_EQ(a.size(), b.size());
  // Everything but freq_cis (unused by readers, recomputed by us in double) is identical.
  const Config c = Model::load(back)->config();
  const std::size_t freq_floats = static_cast<std::size_t>(c.seq_len) * c.head_size();
  const std::size_t freq_end = a.size(), freq_begin = freq_end - freq_floats * 4;  // shared classifier
  EXPECT_EQ(a.substr(0, freq_begin), b.substr(0, freq_begin));
  for (std::size_t i = freq_begin; i < freq_end; i += 4) {
    float x, y;
    std::memcpy(&x, a.data() + i, 4);
    std::memcpy(&y, b.data() + i, 4);
    ASSERT_NEAR(x, y, 1e-4) << "freq_cis float " << (i - freq_begin) / 4;
  }
}

TEST(GgufCli, ConvertUsageErrors) {
  const std::string bin = quote(data_path("models/stories260K.bin"));
  EXPECT_EQ(run_cli("convert " + bin).exit_code, 2);
  EXPECT_EQ(run_cli("convert " + bin + " " + quote(scratch_dir() + "/x.bin") + " --type q8_0").exit_code, 2);
  EXPECT_EQ(run_cli("convert " + bin + " " + quote(scratch_dir() + "/x.gguf") + " --type q3_k").exit_code, 2);
  EXPECT_EQ(run_cli("convert --random-shape huge " + quote(scratch_dir() + "/x.gguf")).exit_code, 2);
  // A tokenizer whose size differs from the model's vocab is bad input (status 1).
  EXPECT_EQ(run_cli("convert " + bin + " " + quote(scratch_dir() + "/x.gguf") + " -z " +
                    quote(data_path("models/tokenizer.bin")))
                .exit_code,
            1);
}

}  // namespace
}  // namespace llama2
