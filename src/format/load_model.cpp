// Model::load: the one entry point that tells the file formats apart. It lives with the
// readers (the Model itself knows nothing of files' layouts).
#include "core/mapped_file.hpp"
#include "format/gguf.hpp"
#include "format/llama2c.hpp"
#include "model/model.hpp"

namespace llama2 {

std::shared_ptr<const Model> Model::load(const std::string& path) {
  MappedFile file(path);
  file.prefer_huge_pages();
  // GGUF files announce themselves; llama2.c version 0 has no magic at all, so it is the rest.
  if (is_gguf(file.bytes())) return load_gguf(std::move(file));
  return load_llama2c(std::move(file));
}

}  // namespace llama2
