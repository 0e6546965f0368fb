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

// Flushes a file just written and drops it from the page cache (best effort; errors are
// ignored). Why: writing leaves a file in the page cache as 4 KB pages, and a model mapped from
// such pages pays a TLB miss every 4 KB while streaming its weights (on this project's VM a
// 1.1B Q4_K model generated 52-56 tok/s so, 66-69 after a drop). Read back from disk, the
// kernel caches it in 2 MB folios, which MappedFile's huge-page mapping then uses.
void drop_from_page_cache(const std::string& path);

// Reads a whole (small) file into memory; same error rules as MappedFile.
std::string read_file(const std::string& path);

}  // namespace llama2
