// ============================================================================
// llama2 quantize IN OUT --type T: quantize a model's weight matrices.
//   q8_0 to OUT not ending in .gguf -> llama2.c version 2 (int8 in groups; llama2.c's runq.c
//                                      reads it too), group size 64 halved until it divides dim
//   any type to OUT.gguf, and the other types (q4_0, q4_1, q4_k, q5_k, q6_k, f16, bf16)
//                                   -> GGUF through format/gguf_writer
// Then the output is loaded back and every matrix compared with the input's, so the report is
// the error the file really carries: per tensor, the RMS error and the largest absolute error,
// both relative to the tensor's RMS.
// ============================================================================
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "cli/cli_util.hpp"
#include "cli/commands.hpp"
#include "core/mapped_file.hpp"
#include "format/gguf.hpp"
#include "tokenizer/vocabulary.hpp"
#include "format/gguf_writer.hpp"
#include "format/llama2c_writer.hpp"
#include "model/model.hpp"
#include "tokenizer/tokenizer.hpp"

namespace llama2::cli {

namespace {

struct ErrorStats {
  double sum_sq = 0, err_sq = 0, max_abs = 0;
  std::uint64_t n = 0;
  void add(const ErrorStats& o) {
    sum_sq += o.sum_sq, err_sq += o.err_sq, n += o.n;
    max_abs = std::max(max_abs, o.max_abs);
  }
  double rms() const { return n ? std::sqrt(sum_sq / static_cast<double>(n)) : 0.0; }
  double rel_rms_error() const { return sum_sq > 0 ? std::sqrt(err_sq / sum_sq) : 0.0; }
  double rel_max_error() const { return rms() > 0 ? max_abs / rms() : 0.0; }
};

ErrorStats compare(const Tensor& original, const Tensor& quantized) {
  if (original.rows != quantized.rows || original.cols != quantized.cols)
    throw Error("the output's tensor shapes differ from the input's");
  ErrorStats s;
  std::vector<float> a(static_cast<std::size_t>(original.cols)), b(a.size());
  for (std::int64_t r = 0; r < original.rows; ++r) {
    dequantize_row(original, r, a.data());
    dequantize_row(quantized, r, b.data());
    for (std::size_t i = 0; i < a.size(); ++i) {
      const double d = static_cast<double>(b[i]) - a[i];
      s.sum_sq += static_cast<double>(a[i]) * a[i];
      s.err_sq += d * d;
      s.max_abs = std::max(s.max_abs, std::fabs(d));
    }
  }
  s.n = static_cast<std::uint64_t>(original.size());
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

int quantize_command(int argc, char** argv) {
  CLI::App app{
      "llama2 quantize: quantize a model's weight matrices (norms stay fp32).\n"
      "  llama2 quantize IN OUT.bin --type q8_0       llama2.c version 2 (int8, one scale per group)\n"
      "  llama2 quantize IN OUT.gguf --type q4_0      GGUF: f16 bf16 q8_0 q4_0 q4_1 q4_k q5_k q6_k\n"
      "Progress and the error introduced (per tensor, relative to its RMS) go to stderr."};
  app.name("llama2 quantize");
  std::string in, out, type_name, tokenizer_path;
  std::vector<std::string> tensor_type_specs;
  int group_size = 0;
  app.add_option("in", in, "input model (llama2.c checkpoint or GGUF)")->required();
  app.add_option("out", out, "output file")->required();
  app.add_option("--type", type_name, "weight type")
      ->required()
      ->check(CLI::IsMember(writable_type_names(/*with_f32=*/false)));
  app.add_option("--group-size", group_size, "version 2 only: values per scale (default: 64, halved until it divides dim)")
      ->check(CLI::Range(1, 1 << 16));
  app.add_option("--tensor-type", tensor_type_specs,
                 "GGUF only: PATTERN=TYPE stores the matrices whose names match the regular expression "
                 "in TYPE instead (e.g. attn_v=f32, token_embd=q8_0; f32 too); repeatable, first match wins")
      ->allow_extra_args(false);  // one rule per --tensor-type, so IN OUT after it stay positionals
  app.add_option("-z,--tokenizer", tokenizer_path, "GGUF only: tokenizer.bin to embed as the vocabulary");
  if (auto status = parse(app, argc, argv)) return *status;

  const DType type = parse_weight_type(type_name, "--type");
  const auto tensor_types = parse_tensor_type_rules(tensor_type_specs);
  const bool llama2c_v2 = type == DType::Q8_0 && !ends_with(out, ".gguf");
  if (!llama2c_v2 && group_size) throw UsageError("--group-size applies to llama2.c version 2 output only");
  if (llama2c_v2 && !tokenizer_path.empty()) throw UsageError("-z applies to GGUF output only");
  if (llama2c_v2 && !tensor_types.empty()) throw UsageError("--tensor-type applies to GGUF output only");

  const auto start = std::chrono::steady_clock::now();
  const auto model = Model::load(in);
  check_tensor_type_rules(*model, tensor_types);
  const Config& c = model->config();
  if (llama2c_v2) {
    const int gs = group_size ? group_size : llama2c_group_size(c.dim);
    std::fprintf(stderr, "writing %s: llama2.c version 2, int8 in groups of %d\n", out.c_str(), gs);
    write_llama2c_v2(*model, out, gs, [](const std::string& name, int index, int count) {
      std::fprintf(stderr, "[%3d/%3d] %s\n", index, count, name.c_str());
    });
  } else {
    std::fprintf(stderr, "writing %s: GGUF, %s\n", out.c_str(), type_name.c_str());
    std::optional<Vocabulary> vocabulary = model->vocabulary();
    if (!tokenizer_path.empty()) vocabulary = vocabulary_from_tokenizer(Tokenizer::load(tokenizer_path, c.vocab_size));
    GgufExportOptions options;
    options.type = type;
    options.tensor_types = tensor_types;
    options.name = in.substr(in.find_last_of('/') + 1);
    options.vocabulary = vocabulary ? &*vocabulary : nullptr;
    for (const auto& note : write_gguf_model(*model, out, options)) std::fprintf(stderr, "note: %s\n", note.c_str());
  }
  const double write_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Read the result back and measure what it lost, tensor by tensor.
  const auto quantized = Model::load(out);
  const auto before = llama2c_matrices(model->weights());
  const auto after = llama2c_matrices(quantized->weights());
  std::fprintf(stderr, "error introduced (relative to each tensor's RMS):\n");
  std::fprintf(stderr, "%-18s %-10s %12s %12s %12s\n", "tensor", "type", "weight RMS", "RMS error", "max |error|");
  ErrorStats total;
  double worst_max = 0;
  for (std::size_t i = 0; i < before.size(); ++i) {
    // A GGUF output may store a shared classifier apart (or the reverse): compare by name.
    const Tensor* q = nullptr;
    for (const auto& [name, t] : after)
      if (name == before[i].first) q = t;
    if (!q && before[i].first == "wcls") q = &quantized->weights().wcls;
    if (!q) throw Error("the output has no tensor " + before[i].first);
    const ErrorStats s = compare(*before[i].second, *q);
    total.add(s);
    worst_max = std::max(worst_max, s.rel_max_error());
    std::fprintf(stderr, "%-18s %-10s %12.6f %12.6f %12.6f\n", before[i].first.c_str(),
                 q->type == DType::Q8_GROUPED ? "q8_grouped" : dtype_name(q->type), s.rms(), s.rel_rms_error(),
                 s.rel_max_error());
  }
  std::fprintf(stderr, "all matrices: RMS error %.6f of the RMS, worst max |error| %.6f of its tensor's RMS; %.1f s\n",
               total.rel_rms_error(), worst_max, write_s);
  drop_from_page_cache(out);  // so it is read back in 2 MB pages (see mapped_file.hpp)
  std::fprintf(stderr, "wrote %s (%llu bytes, from %llu)\n", out.c_str(),
               static_cast<unsigned long long>(quantized->file_size()),
               static_cast<unsigned long long>(model->file_size()));
  return 0;
}

}  // namespace llama2::cli
