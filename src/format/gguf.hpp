// GGUF (ggml's model file format, versions 2 and 3): a header, typed metadata key/value pairs,
// tensor descriptions, then aligned tensor data. This is the container layer: it parses and
// validates the structure without interpreting it; format/gguf_model.cpp turns a parsed file
// of architecture "llama" into a Model. Layout facts: ggml's docs/gguf.md.
//
// Everything parsed is a view into the caller's bytes (strings, arrays, tensor data): nothing
// is copied, so a hostile multi-gigabyte array costs no memory, and the bytes must outlive
// the GgufFile.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/mapped_file.hpp"
#include "model/model.hpp"
#include "model/tensor.hpp"

namespace llama2 {

class Tokenizer;
class GgufParser;

inline constexpr std::uint32_t kGgufMagic = 0x46554747;  // the bytes "GGUF" read as little-endian
inline constexpr std::uint32_t kGgufDefaultAlignment = 32;
inline constexpr std::uint32_t kGgufMaxDims = 4;

// Metadata value types (gguf_metadata_value_type).
enum class GgufValueType : std::uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};
const char* gguf_value_type_name(GgufValueType t);

// ggml's tensor type ids for the types this engine reads (ggml_type).
enum class GgmlType : std::uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};
// The DType of a ggml type id, or nothing for ids this engine does not support.
std::optional<DType> dtype_from_ggml(std::uint32_t ggml_type);
// The ggml id of a DType. Throws Error for Q8_GROUPED (llama2.c's own layout, not in GGUF).
GgmlType ggml_from_dtype(DType t);

// One metadata value. Scalars are decoded; strings and arrays stay views into the file.
struct GgufValue {
  GgufValueType type = GgufValueType::UInt8;
  std::uint64_t u = 0;       // UInt*, Bool
  std::int64_t i = 0;        // Int*
  double f = 0;              // Float32/64
  std::string_view str;      // String
  // Array: element type, count, and the raw bytes of the elements (already validated).
  GgufValueType element_type = GgufValueType::UInt8;
  std::uint64_t count = 0;
  std::span<const std::byte> raw;
};

struct GgufKeyValue {
  std::string_view key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string_view name;
  std::uint32_t n_dims = 0;
  std::array<std::uint64_t, kGgufMaxDims> dims{1, 1, 1, 1};  // ne[0] (fastest, = columns) first
  DType type = DType::F32;
  std::uint64_t offset = 0;  // from the start of the file (the file stores it from the data section)
  std::uint64_t bytes = 0;
  std::span<const std::byte> data;
};

class GgufFile {
 public:
  std::uint32_t version = 0;
  std::uint64_t alignment = kGgufDefaultAlignment;
  std::uint64_t data_offset = 0;  // start of the tensor data section
  std::vector<GgufKeyValue> metadata;  // in file order
  std::vector<GgufTensorInfo> tensors;  // in file order

  const GgufValue* find(std::string_view key) const;
  const GgufTensorInfo* find_tensor(std::string_view name) const;

  // Typed access; each throws Error naming the key when it is absent or of another type.
  // Integers of any width are accepted when the value fits (the spec allows uint32 or uint64
  // for counts); floats accept float32 and float64.
  std::uint64_t get_uint(std::string_view key) const;
  double get_float(std::string_view key) const;
  bool get_bool(std::string_view key) const;
  std::string_view get_string(std::string_view key) const;
  // The same, with a default for an absent key (a present key of the wrong type still throws).
  std::uint64_t get_uint(std::string_view key, std::uint64_t fallback) const;
  double get_float(std::string_view key, double fallback) const;
  bool get_bool(std::string_view key, bool fallback) const;
  std::string_view get_string(std::string_view key, std::string_view fallback) const;
  // Arrays, decoded; the element type must match (int32 arrays accept any integer width).
  std::vector<std::string_view> get_string_array(std::string_view key) const;
  std::vector<float> get_float_array(std::string_view key) const;
  std::vector<std::int32_t> get_int_array(std::string_view key) const;

  std::string what;  // names the source in error messages

 private:
  friend class GgufParser;
  std::unordered_map<std::string_view, std::size_t> key_index_;
  std::unordered_map<std::string_view, std::size_t> tensor_index_;
  [[noreturn]] void fail(const std::string& msg) const;
};

// Parses and validates a whole GGUF file held in `bytes`: every count, length, type, shape
// and offset is checked against the file before use, and any problem throws Error prefixed
// with `what`. Never reads outside `bytes`.
GgufFile parse_gguf(std::span<const std::byte> bytes, const std::string& what);

// True when the bytes start with the GGUF magic.
bool is_gguf(std::span<const std::byte> bytes);

// What a GGUF file of architecture "llama" holds, as the engine uses it (format/gguf_model.cpp):
// weights are views into the parsed bytes; `owned` holds the few converted ones (non-F32 norms).
// The vocabulary is read when tokenizer.ggml.model is "llama". Throws Error on anything the
// engine cannot run exactly (other architectures, RoPE scaling, unknown tensors, bad shapes).
struct GgufLlama {
  Config config;
  Weights weights;
  std::vector<std::unique_ptr<std::byte[]>> owned;
  std::optional<Vocabulary> vocabulary;
};
GgufLlama read_gguf_llama(const GgufFile& file);

// Parses a mapped GGUF file and builds its Model (which keeps the mapping alive).
std::shared_ptr<const Model> load_gguf(MappedFile file);

}  // namespace llama2
