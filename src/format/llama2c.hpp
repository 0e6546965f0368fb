// llama2.c checkpoint files: version 0 (legacy fp32), 1 (fp32 with a 256-byte header) and
// 2 (grouped int8). Layouts: docs/model-walkthrough.md and ../shared/docs/llama2c-reference.md.
#pragma once
#include <memory>

#include "core/mapped_file.hpp"
#include "model/model.hpp"

namespace llama2 {

inline constexpr std::uint32_t kLlama2cMagic = 0x616b3432;  // "ak42"
inline constexpr std::size_t kLlama2cHeaderBytes = 256;     // versions 1 and 2

// Parses the header, checks every size against the file, and builds weight views into the
// mapping (no copies, except int8 scales that must be regrouped or realigned).
std::shared_ptr<const Model> load_llama2c(MappedFile file);

}  // namespace llama2
