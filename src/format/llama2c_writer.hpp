// Writing llama2.c version 2 checkpoints (int8 weights in groups, one fp32 scale per group):
// the layout of llama2.c's `export.py --version 2`, which its int8 runner (runq.c) reads.
// (Version 0, fp32, is written by format/gguf_writer.hpp's write_llama2c_v0.)
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/model.hpp"

namespace llama2 {

// Throws Error unless llama2.c's format can hold `model` unchanged: architecture llama with
// head size dim / n_heads, RoPE base 10000 unscaled, RMS epsilon 1e-5.
void check_llama2c_expressible(const Model& model);

// The group size llama2.c's exporter picks: 64, halved until it divides dim.
int llama2c_group_size(int dim);

// The weight matrices of `w` in version 2 file order, named "token_embedding", "wq[0]", ...,
// "w3[L-1]", then "wcls" unless the classifier is the token embedding.
std::vector<std::pair<std::string, const Tensor*>> llama2c_matrices(const Weights& w);

// Called after each tensor is written: its name ("wq[3]", "token_embedding", ...), its
// 1-based position and the number of tensors.
using TensorProgressFn = std::function<void(const std::string& name, int index, int count)>;

// Writes `model` (any format: every weight is read back as fp32 with dequantize_row first) as
// a version 2 checkpoint quantized in groups of `group_size` consecutive values of each
// tensor, like the exporter: groups may straddle rows (e.g. w2 of stories42M, hidden_dim 1376
// with groups of 64); the loader handles that exactly. Throws UsageError unless group_size
// divides dim (which llama2.c requires), Error if the model's RoPE base or RMS epsilon are not
// llama2.c's fixed ones, or on a write failure. Writes to a temporary file renamed at the end,
// so a failed run never leaves a truncated checkpoint under `path`.
void write_llama2c_v2(const Model& model, const std::string& path, int group_size,
                      const TensorProgressFn& progress = {});

}  // namespace llama2
