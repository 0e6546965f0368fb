// An allocator for big arrays that must start as zeros, such as the KV cache.
//
// Why: std::vector<float>(n) writes every zero itself, so all its pages are faulted in at once.
// On this project's VM a page fault costs ~10 us: a 110M model's cache for 136 positions (10 MB)
// took 25 ms to zero, a third of the time to first token, and a server sequence with a 2048-token
// context on a 1.1B model would have paid ~0.2 s before its first token. Large blocks here come
// straight from the kernel (anonymous mmap), whose pages read as zero and are only faulted in
// when a position is first written; small ones from calloc.
//
// Only for vectors sized once from empty (State does): new elements are left as the memory has
// them, which is zero for a fresh allocation but not for capacity a vector has used before.
#pragma once
#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

#if defined(__unix__) || defined(__APPLE__)
#include <sys/mman.h>
#endif

namespace llama2 {

template <class T>
class ZeroedAllocator {
 public:
  using value_type = T;

  ZeroedAllocator() = default;
  template <class U>
  ZeroedAllocator(const ZeroedAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
#if defined(__unix__) || defined(__APPLE__)
    if (bytes >= kMapAtLeast) {
      void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      return static_cast<T*>(p);
    }
#endif
    void* p = std::calloc(n == 0 ? 1 : n, sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t n) noexcept {
#if defined(__unix__) || defined(__APPLE__)
    if (n * sizeof(T) >= kMapAtLeast) {
      ::munmap(p, n * sizeof(T));
      return;
    }
#endif
    std::free(p);
  }

  // vector::resize(n) value-initializes through construct(p): default-initializing instead
  // leaves the (already zero) memory untouched.
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }

  friend bool operator==(const ZeroedAllocator&, const ZeroedAllocator&) noexcept { return true; }

 private:
  // Below this, calloc (which may reuse freed heap memory and zero it) costs less than a mapping.
  static constexpr std::size_t kMapAtLeast = std::size_t{256} << 10;
};

}  // namespace llama2
