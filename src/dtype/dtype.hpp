// The element types of weights, and every fact about each in one table: its name, its ggml
// type id, how many values a block holds and how many bytes it takes, and whether the writers
// can produce it. The block layouts are in dtype/blocks.hpp, the scalar codec (encoders and
// decoders, the specification of each layout) in dtype/codec.hpp.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace llama2 {

// Block types store each row as cols/block_values blocks laid out exactly as in GGUF files
// (ggml's layouts), so GGUF tensors are used in place.
enum class DType : std::uint8_t {
  F32,         // float
  F16,         // IEEE half
  BF16,        // bfloat16
  Q8_0,        // blocks of 32: f16 scale d, 32 x int8 q;               x = d*q          (34 bytes)
  Q4_0,        // blocks of 32: f16 d, 16 bytes of nibbles;             x = d*(q-8)      (18 bytes)
  Q4_1,        // blocks of 32: f16 d, f16 m, 16 bytes of nibbles;      x = d*q + m      (20 bytes)
  Q4_K,        // super-blocks of 256 (144 bytes), ggml's layout
  Q5_K,        // super-blocks of 256 (176 bytes), ggml's layout
  Q6_K,        // super-blocks of 256 (210 bytes), ggml's layout
  Q8_GROUPED,  // llama2.c version 2: int8 values, and apart from them one fp32 scale per
               // group of `group_size` values (group_size divides cols: groups never
               // straddle rows, see format/llama2c.cpp)
};

struct DTypeInfo {
  DType type;
  const char* name;              // "q8_0": file formats' and the command line's spelling
  std::int64_t block_values;     // values per block (1 for F32/F16/BF16 and Q8_GROUPED)
  std::int64_t block_bytes;      // bytes per block (Q8_GROUPED: the int8 values only)
  std::optional<std::uint32_t> ggml_id;  // ggml_type in GGUF files; none for Q8_GROUPED
  bool writable;                 // `quantize` / `convert` can write it (GGUF or llama2.c)
};

// Every DType, in enum order.
std::span<const DTypeInfo> all_dtypes();
const DTypeInfo& dtype_info(DType t);

inline const char* dtype_name(DType t) { return dtype_info(t).name; }
inline std::int64_t dtype_block_values(DType t) { return dtype_info(t).block_values; }
inline std::int64_t dtype_block_bytes(DType t) { return dtype_info(t).block_bytes; }

// The DType of a name ("q4_k") or of a ggml type id; nothing for one this engine lacks.
std::optional<DType> dtype_from_name(std::string_view name);
std::optional<DType> dtype_from_ggml_id(std::uint32_t ggml_id);

}  // namespace llama2
