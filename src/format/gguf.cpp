// GGUF container parsing. Every size read from the file is checked against the bytes that
// remain before it is used, and every derived size goes through checked_mul/checked_add.
#include "format/gguf.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.hpp"
#include "core/byte_reader.hpp"
#include "tokenizer/vocabulary.hpp"

namespace llama2 {

namespace {

// Limits far beyond real files: metadata keys are capped by the spec (65535 bytes), tensor
// names at 64 bytes; nested arrays are legal but no model uses more than one level, and a
// depth cap keeps hostile nesting from exhausting the stack.
constexpr std::uint64_t kMaxKeyLength = 65535;
constexpr std::uint64_t kMaxTensorNameLength = 64;
constexpr int kMaxArrayDepth = 4;
constexpr std::uint64_t kMaxAlignment = 1u << 20;

// Smallest possible encoding of a metadata value of type `t` (used to reject counts that
// cannot fit in the bytes left before looping over them).
std::uint64_t min_value_bytes(GgufValueType t) {
  switch (t) {
    case GgufValueType::UInt8:
    case GgufValueType::Int8:
    case GgufValueType::Bool: return 1;
    case GgufValueType::UInt16:
    case GgufValueType::Int16: return 2;
    case GgufValueType::UInt32:
    case GgufValueType::Int32:
    case GgufValueType::Float32: return 4;
    case GgufValueType::UInt64:
    case GgufValueType::Int64:
    case GgufValueType::Float64:
    case GgufValueType::String: return 8;  // a string is at least its uint64 length
    case GgufValueType::Array: return 12;  // element type + count
  }
  return 1;
}

bool is_known_value_type(std::uint32_t t) { return t <= static_cast<std::uint32_t>(GgufValueType::Float64); }

bool is_integer(GgufValueType t) {
  switch (t) {
    case GgufValueType::UInt8:
    case GgufValueType::Int8:
    case GgufValueType::UInt16:
    case GgufValueType::Int16:
    case GgufValueType::UInt32:
    case GgufValueType::Int32:
    case GgufValueType::UInt64:
    case GgufValueType::Int64: return true;
    default: return false;
  }
}

bool is_signed(GgufValueType t) {
  return t == GgufValueType::Int8 || t == GgufValueType::Int16 || t == GgufValueType::Int32 ||
         t == GgufValueType::Int64;
}

}  // namespace

// Walks the file front to back (the format has no random-access index).
class GgufParser {
 public:
  GgufParser(std::span<const std::byte> bytes, const std::string& what) : bytes_(bytes), what_(what), r_(bytes, what) {}

  GgufFile parse() {
    GgufFile f;
    if (r_.remaining() < 4 || r_.read<std::uint32_t>("magic") != kGgufMagic) r_.fail("not a GGUF file (bad magic)");
    f.version = r_.read<std::uint32_t>("version");
    if (f.version == 1)
      r_.fail("GGUF version 1 (32-bit counts, a pre-release layout) is not supported; re-convert the model");
    if (f.version != 2 && f.version != 3)
      r_.fail("unknown GGUF version " + std::to_string(f.version) + " (supported: 2, 3)");
    const auto n_tensors = r_.read<std::uint64_t>("tensor_count");
    const auto n_kv = r_.read<std::uint64_t>("metadata_kv_count");
    // A key/value takes at least 8 (key length) + 4 (type) + 1 bytes, a tensor info at least
    // 8 + 4 + 8 + 4 + 8: absurd counts fail here, before anything is reserved.
    if (n_kv > r_.remaining() / 13)
      r_.fail("metadata_kv_count " + std::to_string(n_kv) + " cannot fit in the file");
    f.metadata.reserve(n_kv);
    for (std::uint64_t k = 0; k < n_kv; ++k) {
      GgufKeyValue kv;
      kv.key = read_string("metadata key", kMaxKeyLength);
      if (kv.key.empty()) r_.fail("metadata key " + std::to_string(k) + " is empty");
      const auto type = r_.read<std::uint32_t>("metadata value type");
      kv.value = read_value(type, std::string(kv.key), 0);
      if (!f.key_index_.emplace(kv.key, f.metadata.size()).second)
        r_.fail("duplicate metadata key '" + std::string(kv.key) + "'");
      f.metadata.push_back(kv);
    }
    f.what = what_;

    if (const GgufValue* a = f.find("general.alignment")) {
      if (a->type != GgufValueType::UInt32) r_.fail("general.alignment must be a uint32");
      if (a->u == 0 || a->u % 8 != 0 || a->u > kMaxAlignment)
        r_.fail("general.alignment " + std::to_string(a->u) + " is not a multiple of 8 in 8.." +
                std::to_string(kMaxAlignment));
      f.alignment = a->u;
    }

    if (n_tensors > r_.remaining() / 32)
      r_.fail("tensor_count " + std::to_string(n_tensors) + " cannot fit in the file");
    f.tensors.reserve(n_tensors);
    std::vector<std::uint64_t> relative_offsets;
    relative_offsets.reserve(n_tensors);
    for (std::uint64_t t = 0; t < n_tensors; ++t) {
      GgufTensorInfo info;
      info.name = read_string("tensor name", kMaxTensorNameLength);
      const std::string name(info.name);
      if (name.empty()) r_.fail("tensor " + std::to_string(t) + " has an empty name");
      info.n_dims = r_.read<std::uint32_t>("n_dimensions");
      if (info.n_dims == 0 || info.n_dims > kGgufMaxDims)
        r_.fail("tensor '" + name + "' has " + std::to_string(info.n_dims) + " dimensions (1.." +
                std::to_string(kGgufMaxDims) + " supported)");
      std::uint64_t elements = 1;
      for (std::uint32_t d = 0; d < info.n_dims; ++d) {
        info.dims[d] = r_.read<std::uint64_t>("dimension");
        if (info.dims[d] == 0) r_.fail("tensor '" + name + "' has a zero dimension");
        elements = checked_mul(elements, info.dims[d], "tensor element count");
      }
      // Keeps every later int64 product (rows * cols, byte counts) far from overflow.
      if (elements > (std::uint64_t{1} << 40)) r_.fail("tensor '" + name + "' is absurdly large");
      const auto ggml_type = r_.read<std::uint32_t>("tensor type");
      const std::optional<DType> type = dtype_from_ggml(ggml_type);
      if (!type)
        r_.fail("tensor '" + name + "' has ggml type " + std::to_string(ggml_type) +
                ", which is not supported (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)");
      info.type = *type;
      const std::uint64_t block = static_cast<std::uint64_t>(dtype_block_values(info.type));
      if (info.dims[0] % block != 0)
        r_.fail("tensor '" + name + "' has rows of " + std::to_string(info.dims[0]) + " values, not a multiple of " +
                dtype_name(info.type) + "'s block of " + std::to_string(block));
      info.bytes = checked_mul(elements / block, static_cast<std::uint64_t>(dtype_block_bytes(info.type)),
                               "tensor bytes");
      const auto offset = r_.read<std::uint64_t>("tensor offset");
      if (offset % f.alignment != 0)
        r_.fail("tensor '" + name + "' offset " + std::to_string(offset) + " is not a multiple of the alignment " +
                std::to_string(f.alignment));
      relative_offsets.push_back(offset);
      if (!f.tensor_index_.emplace(info.name, f.tensors.size()).second)
        r_.fail("duplicate tensor name '" + name + "'");
      f.tensors.push_back(info);
    }

    // The data section starts at the next multiple of the alignment after the tensor infos.
    const std::uint64_t end_of_infos = r_.offset();
    const std::uint64_t padding = (f.alignment - end_of_infos % f.alignment) % f.alignment;
    f.data_offset = checked_add(end_of_infos, padding, "data section offset");
    const std::uint64_t file_size = end_of_infos + r_.remaining();
    if (f.data_offset > file_size && !f.tensors.empty()) r_.fail("truncated before the tensor data");
    for (std::size_t t = 0; t < f.tensors.size(); ++t) {
      GgufTensorInfo& info = f.tensors[t];
      info.offset = checked_add(f.data_offset, relative_offsets[t], "tensor offset");
      const std::uint64_t end = checked_add(info.offset, info.bytes, "tensor end");
      if (end > file_size)
        r_.fail("tensor '" + std::string(info.name) + "' (" + std::to_string(info.bytes) + " bytes at offset " +
                std::to_string(info.offset) + ") extends past the end of the file (" + std::to_string(file_size) +
                " bytes)");
      r_.seek(info.offset);
      info.data = {r_.take(info.bytes, "tensor data"), info.bytes};
    }
    check_no_overlap(f);
    return f;
  }

 private:
  std::string_view read_string(const char* field, std::uint64_t max_length) {
    const auto length = r_.read<std::uint64_t>(field);
    if (length > max_length)
      r_.fail(std::string(field) + " of " + std::to_string(length) + " bytes is longer than the limit of " +
              std::to_string(max_length));
    const auto* p = reinterpret_cast<const char*>(r_.take(length, field));
    return {p, static_cast<std::size_t>(length)};
  }

  GgufValue read_value(std::uint32_t raw_type, const std::string& key, int depth) {
    if (!is_known_value_type(raw_type))
      r_.fail("metadata '" + key + "' has unknown value type " + std::to_string(raw_type));
    GgufValue v;
    v.type = static_cast<GgufValueType>(raw_type);
    switch (v.type) {
      case GgufValueType::UInt8: v.u = r_.read<std::uint8_t>("uint8"); break;
      case GgufValueType::UInt16: v.u = r_.read<std::uint16_t>("uint16"); break;
      case GgufValueType::UInt32: v.u = r_.read<std::uint32_t>("uint32"); break;
      case GgufValueType::UInt64: v.u = r_.read<std::uint64_t>("uint64"); break;
      case GgufValueType::Int8: v.i = r_.read<std::int8_t>("int8"); break;
      case GgufValueType::Int16: v.i = r_.read<std::int16_t>("int16"); break;
      case GgufValueType::Int32: v.i = r_.read<std::int32_t>("int32"); break;
      case GgufValueType::Int64: v.i = r_.read<std::int64_t>("int64"); break;
      case GgufValueType::Float32: v.f = r_.read<float>("float32"); break;
      case GgufValueType::Float64: v.f = r_.read<double>("float64"); break;
      case GgufValueType::Bool:
        v.u = r_.read<std::uint8_t>("bool");
        if (v.u > 1) r_.fail("metadata '" + key + "' is a bool of value " + std::to_string(v.u) + " (must be 0 or 1)");
        break;
      case GgufValueType::String: v.str = read_string("string", std::numeric_limits<std::uint64_t>::max()); break;
      case GgufValueType::Array: {
        if (depth >= kMaxArrayDepth) r_.fail("metadata '" + key + "' nests arrays too deeply");
        const auto element_type = r_.read<std::uint32_t>("array element type");
        if (!is_known_value_type(element_type))
          r_.fail("metadata '" + key + "' is an array of unknown value type " + std::to_string(element_type));
        v.element_type = static_cast<GgufValueType>(element_type);
        v.count = r_.read<std::uint64_t>("array length");
        if (v.count > r_.remaining() / min_value_bytes(v.element_type))
          r_.fail("metadata '" + key + "' array of " + std::to_string(v.count) + " elements cannot fit in the file");
        const std::uint64_t start = r_.offset();
        skip_elements(v.element_type, v.count, key, depth);
        v.raw = bytes_.subspan(start, r_.offset() - start);
        break;
      }
    }
    return v;
  }

  // Walks past `count` elements of `type`, validating them.
  void skip_elements(GgufValueType type, std::uint64_t count, const std::string& key, int depth) {
    switch (type) {
      case GgufValueType::String:
        for (std::uint64_t k = 0; k < count; ++k) read_string("string", std::numeric_limits<std::uint64_t>::max());
        break;
      case GgufValueType::Array:
        for (std::uint64_t k = 0; k < count; ++k) read_value(static_cast<std::uint32_t>(type), key, depth + 1);
        break;
      case GgufValueType::Bool:
        for (std::uint64_t k = 0; k < count; ++k)
          if (r_.read<std::uint8_t>("bool") > 1) r_.fail("metadata '" + key + "' has a bool that is not 0 or 1");
        break;
      default:
        r_.take(checked_mul(count, min_value_bytes(type), "array bytes"), "array");
        break;
    }
  }

  // Two tensors sharing bytes would be a corrupt file (or an attack on a writer that trusts it).
  void check_no_overlap(const GgufFile& f) {
    std::vector<const GgufTensorInfo*> sorted;
    sorted.reserve(f.tensors.size());
    for (const auto& t : f.tensors) sorted.push_back(&t);
    std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    for (std::size_t k = 1; k < sorted.size(); ++k)
      if (sorted[k - 1]->offset + sorted[k - 1]->bytes > sorted[k]->offset)
        r_.fail("tensors '" + std::string(sorted[k - 1]->name) + "' and '" + std::string(sorted[k]->name) +
                "' overlap");
  }

  std::span<const std::byte> bytes_;
  std::string what_;
  ByteReader r_;
};

// ---------------------------------------------------------------------------
// Types
// ---------------------------------------------------------------------------
const char* gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UInt8: return "uint8";
    case GgufValueType::Int8: return "int8";
    case GgufValueType::UInt16: return "uint16";
    case GgufValueType::Int16: return "int16";
    case GgufValueType::UInt32: return "uint32";
    case GgufValueType::Int32: return "int32";
    case GgufValueType::Float32: return "float32";
    case GgufValueType::Bool: return "bool";
    case GgufValueType::String: return "string";
    case GgufValueType::Array: return "array";
    case GgufValueType::UInt64: return "uint64";
    case GgufValueType::Int64: return "int64";
    case GgufValueType::Float64: return "float64";
  }
  return "?";
}

std::optional<DType> dtype_from_ggml(std::uint32_t ggml_type) { return dtype_from_ggml_id(ggml_type); }

GgmlType ggml_from_dtype(DType t) {
  if (const auto id = dtype_info(t).ggml_id) return static_cast<GgmlType>(*id);
  throw Error(std::string("type ") + dtype_name(t) + " cannot be stored in a GGUF file");
}

bool is_gguf(std::span<const std::byte> bytes) {
  std::uint32_t magic = 0;
  if (bytes.size() < 4) return false;
  std::memcpy(&magic, bytes.data(), 4);
  return magic == kGgufMagic;
}

GgufFile parse_gguf(std::span<const std::byte> bytes, const std::string& what) {
  return GgufParser(bytes, what).parse();
}

// ---------------------------------------------------------------------------
// Typed metadata access
// ---------------------------------------------------------------------------
void GgufFile::fail(const std::string& msg) const { throw Error(what + ": " + msg); }

const GgufValue* GgufFile::find(std::string_view key) const {
  const auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata[it->second].value;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  const auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors[it->second];
}

std::uint64_t GgufFile::get_uint(std::string_view key) const {
  const GgufValue* v = find(key);
  if (!v) fail("missing metadata key '" + std::string(key) + "'");
  return get_uint(key, 0);
}

std::uint64_t GgufFile::get_uint(std::string_view key, std::uint64_t fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (!is_integer(v->type))
    fail("metadata '" + std::string(key) + "' is a " + gguf_value_type_name(v->type) + ", expected an integer");
  if (is_signed(v->type)) {
    if (v->i < 0) fail("metadata '" + std::string(key) + "' is negative (" + std::to_string(v->i) + ")");
    return static_cast<std::uint64_t>(v->i);
  }
  return v->u;
}

double GgufFile::get_float(std::string_view key) const {
  if (!find(key)) fail("missing metadata key '" + std::string(key) + "'");
  return get_float(key, 0);
}

double GgufFile::get_float(std::string_view key, double fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufValueType::Float32 && v->type != GgufValueType::Float64)
    fail("metadata '" + std::string(key) + "' is a " + gguf_value_type_name(v->type) + ", expected a float");
  return v->f;
}

bool GgufFile::get_bool(std::string_view key) const {
  if (!find(key)) fail("missing metadata key '" + std::string(key) + "'");
  return get_bool(key, false);
}

bool GgufFile::get_bool(std::string_view key, bool fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufValueType::Bool)
    fail("metadata '" + std::string(key) + "' is a " + gguf_value_type_name(v->type) + ", expected a bool");
  return v->u != 0;
}

std::string_view GgufFile::get_string(std::string_view key) const {
  if (!find(key)) fail("missing metadata key '" + std::string(key) + "'");
  return get_string(key, {});
}

std::string_view GgufFile::get_string(std::string_view key, std::string_view fallback) const {
  const GgufValue* v = find(key);
  if (!v) return fallback;
  if (v->type != GgufValueType::String)
    fail("metadata '" + std::string(key) + "' is a " + gguf_value_type_name(v->type) + ", expected a string");
  return v->str;
}

namespace {
const GgufValue& array_of(const GgufFile& f, std::string_view key, bool (*accept)(GgufValueType),
                          const char* expected) {
  const GgufValue* v = f.find(key);
  if (!v) throw Error(f.what + ": missing metadata key '" + std::string(key) + "'");
  if (v->type != GgufValueType::Array || !accept(v->element_type))
    throw Error(f.what + ": metadata '" + std::string(key) + "' is not an array of " + expected);
  return *v;
}
}  // namespace

std::vector<std::string_view> GgufFile::get_string_array(std::string_view key) const {
  const GgufValue& v = array_of(*this, key, [](GgufValueType t) { return t == GgufValueType::String; }, "strings");
  // The parser validated the layout; this re-walk cannot run out of bytes.
  ByteReader r(v.raw, what);
  std::vector<std::string_view> out;
  out.reserve(v.count);
  for (std::uint64_t k = 0; k < v.count; ++k) {
    const auto length = r.read<std::uint64_t>("string length");
    out.emplace_back(reinterpret_cast<const char*>(r.take(length, "string")), static_cast<std::size_t>(length));
  }
  return out;
}

std::vector<float> GgufFile::get_float_array(std::string_view key) const {
  const GgufValue& v = array_of(
      *this, key, [](GgufValueType t) { return t == GgufValueType::Float32 || t == GgufValueType::Float64; },
      "floats");
  ByteReader r(v.raw, what);
  std::vector<float> out(v.count);
  for (auto& x : out)
    x = v.element_type == GgufValueType::Float32 ? r.read<float>("float") : static_cast<float>(r.read<double>("float"));
  return out;
}

std::vector<std::int32_t> GgufFile::get_int_array(std::string_view key) const {
  const GgufValue& v = array_of(*this, key, is_integer, "integers");
  ByteReader r(v.raw, what);
  std::vector<std::int32_t> out(v.count);
  for (auto& x : out) {
    std::int64_t value = 0;
    switch (v.element_type) {
      case GgufValueType::UInt8: value = r.read<std::uint8_t>("int"); break;
      case GgufValueType::Int8: value = r.read<std::int8_t>("int"); break;
      case GgufValueType::UInt16: value = r.read<std::uint16_t>("int"); break;
      case GgufValueType::Int16: value = r.read<std::int16_t>("int"); break;
      case GgufValueType::UInt32: value = r.read<std::uint32_t>("int"); break;
      case GgufValueType::Int32: value = r.read<std::int32_t>("int"); break;
      case GgufValueType::UInt64: {
        const auto u = r.read<std::uint64_t>("int");
        if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max()))
          fail("metadata '" + std::string(key) + "' has an element out of the int32 range");
        value = static_cast<std::int64_t>(u);
        break;
      }
      default: value = r.read<std::int64_t>("int"); break;
    }
    if (value < std::numeric_limits<std::int32_t>::min() || value > std::numeric_limits<std::int32_t>::max())
      fail("metadata '" + std::string(key) + "' has an element out of the int32 range");
    x = static_cast<std::int32_t>(value);
  }
  return out;
}

}  // namespace llama2
