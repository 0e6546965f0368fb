// A read-only memory mapping of a whole file. Weights are views into it, never copies, so
// the mapping must outlive every view: the Model object owns it.
#pragma once
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace llama2 {

// What MappedFile::prefer_huge_pages did.
enum class HugePages {
  kAsMapped,  // nothing: mapped whole already, too small, or no huge pages here
  kReread,    // read the file again from disk into 2 MB folios
  kCopied,    // copied it into anonymous 2 MB pages
};

class MappedFile {
 public:
  // Maps `path`. Throws Error naming the path on a missing, unreadable or empty file.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  // For model weights, which are streamed from memory once per token: makes sure they are
  // mapped with 2 MB pages where the system has them. A file that sits in the page cache as
  // 4 KB pages (just copied, or downloaded) is mapped 4 KB at a time whatever the mapping asks
  // for, and streaming it then costs a TLB miss every 4 KB (a 1.1B Q4_K model on this
  // project's VM: 5-20 % of its generation speed). For a file of 16 MB or more that is less
  // than 90 % mapped whole, this drops it from the page cache and reads it again through the
  // huge-page mapping, where the file system then caches it in 2 MB folios (once: later loads
  // find it so), or else, if it is less than half whole, copies it into anonymous huge pages
  // (about 0.35 ms a MB, at every such load).
  HugePages prefer_huge_pages();
  // The two remedies prefer_huge_pages chooses between, public so that tests can run both on
  // any machine. Both keep the bytes; each returns false where it could not be done (no
  // Linux, no memory, or, for the re-read, weights that are a copy already).
  bool reread_into_huge_pages();  // drop the file from the page cache, fault it in again
  bool copy_into_huge_pages();    // copy it into anonymous 2 MB pages

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  std::uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const std::byte* data_ = nullptr;
  std::uint64_t size_ = 0;
  bool anonymous_ = false;  // data_ is a copy (copy_into_huge_pages), not the file mapping
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
