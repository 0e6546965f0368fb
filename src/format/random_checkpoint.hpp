// Deterministic random-weight checkpoints of any shape, so tests and benchmarks can use
// models the size of stories15M/42M/110M (or TinyLlama) without downloading anything.
#pragma once
#include <cstdint>
#include <string>

#include "model/config.hpp"

namespace llama2 {

// Shapes of published models, by name: "15M", "42M", "110M" (llama2.c's stories models).
// Throws UsageError for an unknown name.
Config published_shape(const std::string& name);

// Writes a version 0 (fp32) llama2.c checkpoint with weights drawn uniformly from a fixed
// xorshift stream seeded by `seed`, scaled like a trained model's (norm weights near 1,
// matrices ~ 1/sqrt(fan_in)) so that activations stay in a realistic range.
void write_random_checkpoint(const std::string& path, const Config& config, bool shared_classifier,
                             std::uint64_t seed);

}  // namespace llama2
