// A read-only memory mapping of a whole file. Weights are views into it, never copies, so
// the mapping must outlive every view: the Model object owns it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace llama2 {

class MappedFile {
 public:
  // Maps `path`. Throws Error naming the path on a missing, unreadable or empty file.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
};

// Reads a whole (small) file into memory; same error rules as MappedFile.
std::string read_file(const std::string& path);

}  // namespace llama2
