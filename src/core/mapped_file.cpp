#include "core/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "core/error.hpp"

namespace llama2 {

namespace {
constexpr std::uint64_t kHugePage = std::uint64_t{2} << 20;

// Maps a file read-only, for big files at a 2 MB-aligned address with MADV_HUGEPAGE.
//
// Why: the first touch of every page table entry costs a few microseconds on virtual machines
// with shadow paging (this project's 2-core benchmark VM measured 4 us per 4 KB page even
// with the file in the page cache: 0.4 s before a 110M model's first token). Where the kernel
// keeps the file's page cache in 2 MB folios (large-folio file systems, or read-only file THP),
// an aligned mapping that asks for huge pages is mapped 2 MB at a time: 3-10 ms for the same
// model. Elsewhere the hint is ignored and this is an ordinary mapping. Returns MAP_FAILED
// with errno set on failure.
void* map_huge_aligned(int fd, std::uint64_t size) {
#if defined(MADV_HUGEPAGE)
  if (size >= kHugePage && size <= SIZE_MAX - kHugePage) {
    // Reserve size + 2 MB of address space, map the file at its first 2 MB boundary, then
    // give back the reserved head and tail.
    void* reserve = ::mmap(nullptr, size + kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserve != MAP_FAILED) {
      const auto base = reinterpret_cast<std::uintptr_t>(reserve);
      const std::uintptr_t aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
      void* p = ::mmap(reinterpret_cast<void*>(aligned), size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
      if (p == MAP_FAILED) {
        const int saved = errno;
        ::munmap(reserve, size + kHugePage);
        errno = saved;
        return MAP_FAILED;
      }
      const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
      const std::uintptr_t mapped_end = aligned + (size + page - 1) / page * page;
      const std::uintptr_t reserve_end = base + size + kHugePage;
      if (aligned > base) ::munmap(reserve, aligned - base);
      if (reserve_end > mapped_end) ::munmap(reinterpret_cast<void*>(mapped_end), reserve_end - mapped_end);
      ::madvise(p, size, MADV_HUGEPAGE);  // a hint: failure (no THP) changes nothing
      return p;
    }
  }
#endif
  return ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
}
}  // namespace

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error("'" + path + "' is not a regular file");
  }
  if (st.st_size == 0) {
    ::close(fd);
    throw Error("'" + path + "' is empty");
  }
  size_ = static_cast<std::uint64_t>(st.st_size);
  void* p = map_huge_aligned(fd, size_);
  ::close(fd);  // the mapping keeps its own reference to the file
  if (p == MAP_FAILED) throw Error("cannot map '" + path + "': " + std::strerror(errno));
  data_ = static_cast<const std::byte*>(p);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void drop_from_page_cache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot open '" + path + "': " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace llama2
