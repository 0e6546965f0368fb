#include "core/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace llama2 {

namespace {
constexpr std::uint64_t kHugePage = std::uint64_t{2} << 20;

#if defined(MADV_HUGEPAGE)
// `size` bytes (whole pages) of anonymous memory with protection `prot` at a 2 MB boundary:
// reserves size + 2 MB of address space, then gives back the head and tail around it.
// MAP_FAILED on failure.
void* map_anonymous_aligned(std::uint64_t size, int prot, int flags) {
  if (size > SIZE_MAX - kHugePage) return MAP_FAILED;
  void* reserve = ::mmap(nullptr, size + kHugePage, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  if (reserve == MAP_FAILED) return MAP_FAILED;
  const auto base = reinterpret_cast<std::uintptr_t>(reserve);
  const std::uintptr_t aligned = (base + kHugePage - 1) & ~(kHugePage - 1);
  const std::uint64_t page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t end = aligned + (size + page - 1) / page * page, reserve_end = base + size + kHugePage;
  if (aligned > base) ::munmap(reserve, aligned - base);
  if (reserve_end > end) ::munmap(reinterpret_cast<void*>(end), reserve_end - end);
  return reinterpret_cast<void*>(aligned);
}
#endif

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
  if (size >= kHugePage) {
    // Reserved address space at a 2 MB boundary, then the file mapped over it.
    void* reserve = map_anonymous_aligned(size, PROT_NONE, MAP_NORESERVE);
    if (reserve != MAP_FAILED) {
      void* p = ::mmap(reserve, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
      if (p == MAP_FAILED) {
        const int saved = errno;
        ::munmap(reserve, size);
        errno = saved;
        return MAP_FAILED;
      }
      ::madvise(p, size, MADV_HUGEPAGE);  // a hint: failure (no THP) changes nothing
      return p;
    }
  }
#endif
  return ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
}

#if defined(__linux__) && defined(MADV_HUGEPAGE)
// Bytes of the mapping that starts at `start` which the kernel maps with 2 MB entries (file or
// anonymous), from /proc/self/smaps; -1 where that is not known (no procfs, an older kernel).
std::int64_t huge_mapped_bytes(const void* start) {
  std::ifstream smaps("/proc/self/smaps");
  const auto want = reinterpret_cast<std::uintptr_t>(start);
  bool inside = false, seen = false;
  std::int64_t total = 0;
  for (std::string line; std::getline(smaps, line);) {
    const std::size_t dash = line.find('-');
    const bool header = dash != std::string::npos && dash > 0 && line.find(':') > dash &&
                        line.find_first_not_of("0123456789abcdef") == dash;
    if (header) {
      if (inside) break;  // past our mapping
      inside = std::stoull(line.substr(0, dash), nullptr, 16) == want;
      continue;
    }
    if (!inside) continue;
    for (const std::string_view field : {"FilePmdMapped:", "AnonHugePages:"})
      if (line.compare(0, field.size(), field) == 0) {
        total += std::stoll(line.substr(field.size())) * 1024;
        seen = true;
      }
  }
  return seen ? total : -1;
}

// Whether the kernel may back anonymous memory that asks for it with huge pages.
bool anonymous_huge_pages_available() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  return std::getline(in, modes) && modes.find("[never]") == std::string::npos;
}

constexpr int kPopulateRead = 22;  // MADV_POPULATE_READ (Linux 5.14), absent from older headers

// Whether the kernel maps the 2 MB of the file at `offset` (a multiple of 2 MB) whole, when
// mapped alone at a 2 MB boundary with MADV_HUGEPAGE and faulted in.
bool window_maps_whole(int fd, std::uint64_t offset) {
  void* reserve = ::mmap(nullptr, 2 * kHugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (reserve == MAP_FAILED) return false;
  const std::uintptr_t aligned = (reinterpret_cast<std::uintptr_t>(reserve) + kHugePage - 1) & ~(kHugePage - 1);
  bool whole = false;
  void* p = ::mmap(reinterpret_cast<void*>(aligned), kHugePage, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd,
                   static_cast<off_t>(offset));
  if (p != MAP_FAILED && ::madvise(p, kHugePage, MADV_HUGEPAGE) == 0 && ::madvise(p, kHugePage, kPopulateRead) == 0)
    whole = huge_mapped_bytes(p) == static_cast<std::int64_t>(kHugePage);
  ::munmap(reserve, 2 * kHugePage);  // also unmaps p, which lies inside
  return whole;
}

// Drops [offset, offset + length) of the file from this process's mapping and from the page
// cache (pages that no other process maps), so that the next touch reads it from disk. A file
// just written is flushed first: the page cache keeps dirty pages (a fresh `cp` stayed 4 KB).
void drop_pages(void* mapped, int fd, std::uint64_t offset, std::uint64_t length) {
  ::madvise(static_cast<std::byte*>(mapped) + offset, length, MADV_DONTNEED);
  ::fdatasync(fd);
  ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_DONTNEED);
}
#endif
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

// Why: see the header. MADV_POPULATE_READ maps every page now, so that smaps tells how the
// kernel mapped them; nothing is done if it mapped at least 90 % of the file's whole 2 MB
// pages with 2 MB entries. Otherwise, where the file system caches files in large folios (a
// window re-read from disk comes back mapped whole: a 2 MB probe, so that a file system
// without them does not pay for a whole re-read at every load), the file is dropped from the
// page cache and read again through the huge-page mapping, once for all later loads (the page
// cache drifts: under memory pressure the kernel splits large folios, and a file mapped 94 %
// whole one hour was 78 % the next). Elsewhere it is copied, unless at least half of it is
// mapped whole already (the copy would then cost more than it gains).
HugePages MappedFile::prefer_huge_pages() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const std::uint64_t huge_part = size_ / kHugePage * kHugePage;
  // A copy is left alone: it was made in huge pages, and dropping pages would zero it.
  if (anonymous_ || size_ < 8 * kHugePage || !anonymous_huge_pages_available()) return HugePages::kAsMapped;
  void* mapped = const_cast<std::byte*>(data_);
  if (::madvise(mapped, size_, kPopulateRead) != 0) return HugePages::kAsMapped;
  // Whether at least `percent` % of the whole 2 MB pages are mapped whole (unknown counts as yes).
  const auto whole_at_least = [&](std::uint64_t percent) {
    const std::int64_t huge = huge_mapped_bytes(mapped);
    return huge < 0 || static_cast<std::uint64_t>(huge) * 100 >= huge_part * percent;
  };
  if (whole_at_least(90)) return HugePages::kAsMapped;

  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    // A window that is not whole now, re-read as a probe. At least a tenth of the windows are
    // not whole, so visiting them in a spread order (golden-ratio steps) finds one in about ten
    // tries; eight evenly spaced tries, as before, missed all of a split 14 % three times in ten.
    const std::uint64_t windows = huge_part / kHugePage;
    bool large_folios = false;
    for (std::uint64_t i = 0; i < windows; ++i) {
      const std::uint64_t fraction = (i * 0x9E3779B97F4A7C15ull) >> 32;  // i x golden ratio, mod 1 (32 bits)
      const std::uint64_t offset = (fraction * windows >> 32) * kHugePage;
      if (window_maps_whole(fd, offset)) continue;
      drop_pages(mapped, fd, offset, kHugePage);
      large_folios = window_maps_whole(fd, offset);
      break;
    }
    ::close(fd);
    if (large_folios && reread_into_huge_pages() && whole_at_least(90)) return HugePages::kReread;
  }
  if (whole_at_least(50)) return HugePages::kAsMapped;  // a copy would cost more than it gains
  return copy_into_huge_pages() ? HugePages::kCopied : HugePages::kAsMapped;
#else
  return HugePages::kAsMapped;
#endif
}

bool MappedFile::reread_into_huge_pages() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (anonymous_) return false;  // MADV_DONTNEED would zero a copy
  const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  void* mapped = const_cast<std::byte*>(data_);
  drop_pages(mapped, fd, 0, size_);
  ::close(fd);
  return ::madvise(mapped, size_, kPopulateRead) == 0;
#else
  return false;
#endif
}

bool MappedFile::copy_into_huge_pages() {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  void* region = map_anonymous_aligned(size_, PROT_READ | PROT_WRITE, 0);
  if (region == MAP_FAILED) return false;
  auto* copy = static_cast<std::byte*>(region);
  ::madvise(copy, size_, MADV_HUGEPAGE);
  // Copied by several threads, in whole 2 MB pages each: the cost is the kernel clearing each
  // new page on first touch plus the copy, both of which scale with the cores.
  const std::uint64_t pages = (size_ + kHugePage - 1) / kHugePage;
  const std::uint64_t threads = std::clamp<std::uint64_t>(std::thread::hardware_concurrency(), 1, 8);
  const std::uint64_t per_thread = (pages + threads - 1) / threads * kHugePage;
  std::vector<std::thread> copiers;
  for (std::uint64_t begin = 0; begin < size_; begin += per_thread)
    copiers.emplace_back([=, this] { std::memcpy(copy + begin, data_ + begin, std::min(per_thread, size_ - begin)); });
  for (std::thread& t : copiers) t.join();
  ::mprotect(copy, size_, PROT_READ);  // as read-only as the file mapping it replaces
  ::munmap(const_cast<std::byte*>(data_), size_);
  data_ = copy;
  anonymous_ = true;
  return true;
#else
  return false;
#endif
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      anonymous_(std::exchange(other.anonymous_, false)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    anonymous_ = std::exchange(other.anonymous_, false);
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
