// The architectures beyond Llama 2 (Llama 3's RoPE frequency factors, Qwen2's q/k/v biases,
// Qwen3's per-head q/k RMSNorm and explicit head width) through every path a token can take:
// forward_batch against forward for every weight type and every SIMD kernel set this CPU has,
// the GGUF writer and reader round trip, and files or configs that must be refused.
// (Agreement with llama.cpp itself is tests/llamanode.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "core/error.hpp"
#include "core/mapped_file.hpp"
#include "core/thread_pool.hpp"
#include "dtype/dtype.hpp"
#include "format/gguf_writer.hpp"
#include "format/llama2c_writer.hpp"
#include "kernels/int8/int8_kernels.hpp"
#include "model/model.hpp"
#include "test_support.hpp"
#include "transformer/batch.hpp"
#include "transformer/transformer.hpp"

namespace llama2 {
namespace {

using namespace std::string_literals;
using testing::scratch_dir;

const char* const kShapes[] = {"micro-llama3", "micro-qwen2", "micro-qwen3"};

// The random-weight GGUF of shape `name` in `type`, written once per process (`output_gain`:
// write_random_gguf's).
std::string micro_file(const std::string& name, DType type, float output_gain = 8.0f) {
  const std::string path = scratch_dir() + "/arch_" + name + "_" + dtype_name(type) + "_g" +
                           std::to_string(static_cast<int>(output_gain)) + ".gguf";
  static std::vector<std::string> written;
  if (std::find(written.begin(), written.end(), path) == written.end()) {
    const RandomShape shape = gguf_random_shape(name);
    write_random_gguf(path, shape.config, type, 11, nullptr, shape.tied_classifier, shape.rope_freqs, output_gain);
    written.push_back(path);
  }
  return path;
}

// Every type a GGUF file can be written in.
std::vector<DType> gguf_types() {
  std::vector<DType> out;
  for (const DTypeInfo& t : all_dtypes())
    if (t.writable && t.ggml_id) out.push_back(t.type);
  return out;
}

std::vector<TokenId> some_tokens(int n, int vocab, int salt) {
  std::vector<TokenId> t(n);
  for (int i = 0; i < n; ++i) t[i] = static_cast<TokenId>((i * 97 + salt * 13 + 5) % vocab);
  return t;
}

float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  float worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

// Logits of every position of `tokens`, fed one at a time from position 0.
std::vector<float> forward_all(const Model& m, const std::vector<TokenId>& tokens, ThreadPool& pool) {
  State state(m.config(), static_cast<int>(tokens.size()));
  std::vector<float> out;
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    const auto logits = forward(m, state, tokens[i], static_cast<Position>(i), pool);
    out.insert(out.end(), logits.begin(), logits.end());
  }
  return out;
}

// The same tokens as one forward_batch: a prefix of `split` one at a time, the rest batched
// (so batched queries attend to cached keys written by forward, and to their own).
std::vector<float> forward_split(const Model& m, const std::vector<TokenId>& tokens, int split, ThreadPool& pool) {
  const int n = static_cast<int>(tokens.size());
  State state(m.config(), n);
  std::vector<float> out;
  for (int i = 0; i < split; ++i) {
    const auto logits = forward(m, state, tokens[i], i, pool);
    out.insert(out.end(), logits.begin(), logits.end());
  }
  std::vector<BatchItem> items;
  for (int i = split; i < n; ++i) items.push_back({&state, tokens[i], i, true});
  BatchScratch scratch(m.config(), n - split);
  std::vector<float> logits(static_cast<std::size_t>(n - split) * m.config().vocab_size);
  forward_batch(m, items, scratch, pool, logits.data());
  out.insert(out.end(), logits.begin(), logits.end());
  return out;
}

class ArchitectureKernelTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override { int8::force_kernel(GetParam()); }
  void TearDown() override { int8::force_kernel(""); }
};

TEST_P(ArchitectureKernelTest, BatchedPromptMatchesOneTokenAtATime) {
  ThreadPool pool(2);
  for (const char* name : kShapes)
    for (DType type : gguf_types()) {
      SCOPED_TRACE(std::string(name) + " " + dtype_name(type));
      // A batch the int8 GEMM multiplies sums in another order than one token's row kernels:
      // then, as between kernel sets (below), the files at output gain 1 and that tolerance.
      const auto probe = Model::load(micro_file(name, type));
      const bool gemm = int8::batch_uses_int8_gemm(probe->weights().layers[0].wq, 13);
      const auto m = gemm ? Model::load(micro_file(name, type, /*output_gain=*/1.0f)) : Model::load(micro_file(name, type));
      const auto tokens = some_tokens(19, m->config().vocab_size, 3);
      const auto expected = forward_all(*m, tokens, pool);
      for (float x : expected) ASSERT_TRUE(std::isfinite(x));
      for (int split : {0, 6})
        EXPECT_LE(max_abs_diff(forward_split(*m, tokens, split, pool), expected), gemm ? 2e-4f : 1e-4f) << split;
    }
}

INSTANTIATE_TEST_SUITE_P(Arch, ArchitectureKernelTest, ::testing::ValuesIn(int8::available_kernels()),
                         [](const auto& info) {  // "neon-dotprod" -> "neon_dotprod": gtest names are [A-Za-z0-9_]
                           std::string name = info.param;
                           for (char& ch : name)
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           return name;
                         });

// Every quantized kernel set computes the same model as the scalar one (fp32 weights do not
// go through these sets; their SIMD targets are kernels_test's). Integer dot products are
// exact, so what differs is only the order of the float sums, unless such a difference moves
// an activation across a rounding boundary of its int8 quantization, and every later position
// reads the moved value from the KV cache. The widened blocks of the default random files
// amplify that (micro-llama3 q4_k: 2.5e-2 on avx2, 0.18 on neon, logits ~16), so this test
// uses files at output gain 1 (logits ~37), where one such move still shows: micro-llama3 q4_k
// on the AVX-512 sets, once its leftover block pairs were summed in 512-bit vectors, agrees to
// 2e-4 up to position 4 and then differs by up to 0.05 (0.14 % of the largest logit) from
// position 5 on. Hence a bound relative to the logits; the kernels' own sums are checked to
// ~1e-6 in int8_test.cpp.
TEST(Architecture, KernelSetsAgreeWithScalarOnQuantizedWeights) {
  ThreadPool pool(1);
  for (const char* name : kShapes)
    for (DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_K}) {
      SCOPED_TRACE(std::string(name) + " " + dtype_name(type));
      const auto m = Model::load(micro_file(name, type, /*output_gain=*/1.0f));
      const auto tokens = some_tokens(9, m->config().vocab_size, 4);
      int8::force_kernel("scalar");
      const auto scalar = forward_all(*m, tokens, pool);
      for (const std::string& kernel : int8::available_kernels()) {
        if (kernel == "scalar") continue;
        SCOPED_TRACE(kernel);
        int8::force_kernel(kernel);
        const auto got = forward_all(*m, tokens, pool);
        float scale = 0;
        for (float v : scalar) scale = std::max(scale, std::fabs(v));
        EXPECT_LE(max_abs_diff(got, scalar), 2e-3f * scale);
      }
      int8::force_kernel("");
    }
}

// What each shape declares reaches the loaded model.
TEST(Architecture, MicroShapesLoadWithTheirFeatures) {
  const auto llama3 = Model::load(micro_file("micro-llama3", DType::F32));
  EXPECT_EQ(llama3->config().arch, Architecture::Llama);
  EXPECT_EQ(llama3->weights().rope_freqs.size(), static_cast<std::size_t>(llama3->config().head_size() / 2));
  const auto qwen2 = Model::load(micro_file("micro-qwen2", DType::F32));
  EXPECT_EQ(qwen2->config().arch, Architecture::Qwen2);
  EXPECT_EQ(qwen2->weights().layers[0].bq.size(), static_cast<std::size_t>(qwen2->config().q_dim()));
  EXPECT_EQ(qwen2->weights().layers[0].bk.size(), static_cast<std::size_t>(qwen2->config().kv_dim()));
  EXPECT_TRUE(qwen2->weights().layers[0].q_norm.empty());
  const auto qwen3 = Model::load(micro_file("micro-qwen3", DType::F32));
  const Config& c3 = qwen3->config();
  EXPECT_EQ(c3.arch, Architecture::Qwen3);
  EXPECT_NE(c3.q_dim(), c3.dim) << "micro-qwen3 must exercise a head width that is not dim / n_heads";
  EXPECT_EQ(qwen3->weights().layers[1].k_norm.size(), static_cast<std::size_t>(c3.head_size()));
  EXPECT_TRUE(qwen3->weights().layers[0].bq.empty());
}

// Written back as GGUF (same type: the bytes are copied or re-encoded exactly) and loaded
// again, every model gives the same logits.
TEST(Architecture, GgufRoundTripKeepsEveryLogit) {
  ThreadPool pool(1);
  for (const char* name : kShapes)
    for (DType type : {DType::F32, DType::Q8_0}) {
      SCOPED_TRACE(std::string(name) + " " + dtype_name(type));
      const auto m = Model::load(micro_file(name, type));
      const std::string again = scratch_dir() + "/arch_again.gguf";
      GgufExportOptions options;
      options.type = type;
      write_gguf_model(*m, again, options);
      const auto back = Model::load(again);
      EXPECT_EQ(back->config().arch, m->config().arch);
      EXPECT_EQ(back->config().head_size(), m->config().head_size());
      const auto tokens = some_tokens(7, m->config().vocab_size, 5);
      EXPECT_EQ(forward_all(*back, tokens, pool), forward_all(*m, tokens, pool));
    }
}

// Bad files: a loader that silently dropped biases, norms or factors would compute another
// model, so a missing or unexpected tensor must be refused, naming it.
// Loads `bytes` as a GGUF file: must throw Error whose message contains `expected`.
void expect_refused(const std::string& bytes, const std::string& expected) {
  const std::string path = testing::write_scratch("arch_bad.gguf", bytes);
  try {
    Model::load(path);
    ADD_FAILURE() << "loaded without error; expected '" << expected << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
  }
}

// Replaces the first occurrence of `from` by `to` (same length: offsets stay valid).
std::string patched(std::string bytes, const std::string& from, const std::string& to) {
  EXPECT_EQ(from.size(), to.size());
  const std::size_t at = bytes.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) bytes.replace(at, from.size(), to);
  return bytes;
}

TEST(Architecture, MissingOrUnknownArchitectureTensorsAreRefused) {
  const std::string qwen2 = read_file(micro_file("micro-qwen2", DType::Q8_0));
  expect_refused(patched(qwen2, "blk.0.attn_k.bias", "blk.0.attn_k.bia_"), "blk.0.attn_k.bias");
  const std::string qwen3 = read_file(micro_file("micro-qwen3", DType::Q8_0));
  expect_refused(patched(qwen3, "blk.1.attn_q_norm.weight", "blk.1.attn_q_norm.weigh_"), "blk.1.attn_q_norm.weight");
  // A Qwen3 file relabelled qwen2 (architecture and key prefix) has norms where biases should
  // be: refused, not run without them.
  std::string relabelled = qwen3;
  for (std::size_t at = 0; (at = relabelled.find("qwen3", at)) != std::string::npos;) relabelled[at + 4] = '2';
  expect_refused(relabelled, "attn_q.bias");
  const std::string llama3 = read_file(micro_file("micro-llama3", DType::Q8_0));
  expect_refused(patched(llama3, "general.architecture\x08\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00llama"s,
                         "general.architecture\x08\x00\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00gemma"s),
                 "architecture 'gemma' is not supported");
}

TEST(Architecture, RopeScalingOtherThanLinearIsRefused) {
  RandomShape shape = gguf_random_shape("micro-llama3");
  shape.config.rope_scale = 0.25f;  // written as rope.scaling.type "linear", factor 4
  const std::string path = scratch_dir() + "/arch_scaled.gguf";
  write_random_gguf(path, shape.config, DType::Q8_0, 3, nullptr, shape.tied_classifier, shape.rope_freqs);
  EXPECT_FLOAT_EQ(Model::load(path)->config().rope_scale, 0.25f);
  // "linear" -> "yarn\0\0": the same length, another scaling type.
  expect_refused(patched(read_file(path), "linear", "yarn\0\0"s), "RoPE scaling 'yarn\\x00\\x00' is not supported");
}

TEST(Architecture, Llama2cExportRefusesWhatItCannotExpress) {
  for (const char* name : kShapes) {
    SCOPED_TRACE(name);
    const auto m = Model::load(micro_file(name, DType::F32));
    EXPECT_THROW(check_llama2c_expressible(*m), Error);
    EXPECT_THROW(write_llama2c_v0(*m, scratch_dir() + "/arch_refused.bin"), Error);
  }
}

TEST(Architecture, ConfigValidationChecksTheHeadWidth) {
  Config c = gguf_random_shape("micro-qwen3").config;
  EXPECT_NO_THROW(validate(c));
  c.head_dim = 2000;
  EXPECT_THROW(validate(c), Error);
  c.head_dim = 0;
  c.dim = 66;  // 66 / 4 heads is no whole head
  EXPECT_THROW(validate(c), Error);
}

}  // namespace
}  // namespace llama2
