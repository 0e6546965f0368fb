#include "format/llama2c_writer.hpp"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "core/error.hpp"
#include "format/llama2c.hpp"
#include "dtype/codec.hpp"

namespace llama2 {

int llama2c_group_size(int dim) {
  int gs = 64;
  while (gs > 1 && dim % gs != 0) gs /= 2;
  return gs;
}

namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

class Output {
 public:
  explicit Output(const std::string& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    if (!f_) throw Error("cannot create '" + path + "'");
    std::setvbuf(f_.get(), nullptr, _IOFBF, 1 << 20);
  }
  void bytes(const void* p, std::size_t n) {
    if (n && std::fwrite(p, 1, n, f_.get()) != n) throw Error("writing '" + path_ + "' failed");
  }
  template <class T>
  void value(T v) {
    bytes(&v, sizeof v);
  }
  void floats(std::span<const float> v) { bytes(v.data(), v.size() * sizeof(float)); }
  long tell() { return std::ftell(f_.get()); }
  void close() {
    if (std::fflush(f_.get()) != 0 || std::fclose(f_.release()) != 0) throw Error("writing '" + path_ + "' failed");
  }

 private:
  std::string path_;
  std::unique_ptr<std::FILE, FileCloser> f_;
};

// Quantizes a stream of values in groups of `gs`, whatever row boundaries the values come in
// with: int8 values go straight to the file, scales are kept to be written after them.
class GroupStream {
 public:
  GroupStream(Output& out, int gs) : out_(out), gs_(gs), pending_(gs), q_(gs) {}

  void push(const float* x, std::int64_t n) {
    while (n > 0) {
      const std::int64_t take = std::min<std::int64_t>(n, gs_ - fill_);
      std::memcpy(pending_.data() + fill_, x, static_cast<std::size_t>(take) * sizeof(float));
      fill_ += static_cast<int>(take), x += take, n -= take;
      if (fill_ == gs_) {
        float scale;
        quant::quantize_q8_grouped(pending_.data(), q_.data(), &scale, gs_, gs_);
        out_.bytes(q_.data(), q_.size());
        scales_.push_back(scale);
        fill_ = 0;
      }
    }
  }
  // Writes the scales; every value must have been pushed (the tensor size divides by gs).
  void finish() {
    if (fill_ != 0) throw Error("internal: tensor size is not a multiple of the group size");
    out_.floats(scales_);
    scales_.clear();
  }

 private:
  Output& out_;
  int gs_;
  int fill_ = 0;
  std::vector<float> pending_;
  std::vector<std::int8_t> q_;
  std::vector<float> scales_;
};

}  // namespace

std::vector<std::pair<std::string, const Tensor*>> llama2c_matrices(const Weights& w) {
  std::vector<std::pair<std::string, const Tensor*>> tensors = {{"token_embedding", &w.token_embedding}};
  const std::pair<const char*, Tensor LayerWeights::*> kinds[] = {
      {"wq", &LayerWeights::wq}, {"wk", &LayerWeights::wk}, {"wv", &LayerWeights::wv}, {"wo", &LayerWeights::wo},
      {"w1", &LayerWeights::w1}, {"w2", &LayerWeights::w2}, {"w3", &LayerWeights::w3}};
  for (const auto& [name, member] : kinds)
    for (std::size_t l = 0; l < w.layers.size(); ++l)
      tensors.emplace_back(std::string(name) + "[" + std::to_string(l) + "]", &(w.layers[l].*member));
  if (w.wcls.data != w.token_embedding.data) tensors.emplace_back("wcls", &w.wcls);
  return tensors;
}

void check_llama2c_expressible(const Model& model) {
  const Config& c = model.config();
  if (c.arch != Architecture::Llama)
    throw Error(std::string("llama2.c checkpoints hold only the llama architecture; this model is ") +
                architecture_name(c.arch));
  if (c.head_dim != 0) throw Error("llama2.c checkpoints fix the head size at dim / n_heads; this model's differs");
  if (c.rope_scale != 1.0f || !model.weights().rope_freqs.empty())
    throw Error("llama2.c checkpoints have no RoPE scaling; this model scales RoPE");
  // Version 0 and 2 have no place for these: a model that needs other values would silently change.
  if (c.rope_theta != 10000.0f || c.norm_eps != 1e-5f)
    throw Error("llama2.c checkpoints fix the RoPE base at 10000 and the RMS epsilon at 1e-5; this model uses " +
                std::to_string(c.rope_theta) + " and " + std::to_string(c.norm_eps));
}

void write_llama2c_v2(const Model& model, const std::string& path, int group_size,
                      const TensorProgressFn& progress) {
  const Config& c = model.config();
  const Weights& w = model.weights();
  if (group_size <= 0 || c.dim % group_size != 0)
    throw UsageError("group size " + std::to_string(group_size) + " does not divide dim " + std::to_string(c.dim));
  check_llama2c_expressible(model);
  const bool shared = w.wcls.data == w.token_embedding.data;

  const std::string tmp = path + ".tmp";
  Output out(tmp);
  try {
    // Header: magic, version, the 7 sizes, shared flag, group size, zeros up to 256 bytes.
    out.value(kLlama2cMagic);
    out.value(std::int32_t{2});
    for (int v : {c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len})
      out.value(static_cast<std::int32_t>(v));
    out.value(static_cast<std::uint8_t>(shared));
    out.value(static_cast<std::int32_t>(group_size));
    const std::vector<char> pad(kLlama2cHeaderBytes - static_cast<std::size_t>(out.tell()), 0);
    out.bytes(pad.data(), pad.size());

    for (const auto& l : w.layers) out.floats(l.rms_att);
    for (const auto& l : w.layers) out.floats(l.rms_ffn);
    out.floats(w.rms_final);

    const auto tensors = llama2c_matrices(w);
    GroupStream stream(out, group_size);
    std::vector<float> row;
    int index = 0;
    for (const auto& [name, t] : tensors) {
      row.resize(static_cast<std::size_t>(t->cols));
      for (std::int64_t r = 0; r < t->rows; ++r) {
        dequantize_row(*t, r, row.data());
        stream.push(row.data(), t->cols);
      }
      stream.finish();
      if (progress) progress(name, ++index, static_cast<int>(tensors.size()));
    }
    out.close();
    std::filesystem::rename(tmp, path);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace llama2
