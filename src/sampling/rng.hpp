// llama2.c's xorshift* random number generator: the same seed gives the same stream, so the
// same seed gives the same story as the reference.
#pragma once
#include <cstdint>

namespace llama2 {

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint32_t next_u32() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<std::uint32_t>((state_ * 0x2545F4914F6CDD1Dull) >> 32);
  }
  // Uniform in [0, 1) with 24 bits of precision.
  float next_f32() { return static_cast<float>(next_u32() >> 8) / 16777216.0f; }

 private:
  std::uint64_t state_;
};

}  // namespace llama2
