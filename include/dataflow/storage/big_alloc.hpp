// Memory for large buffers: arrays accessed out of order (hash tables, item buffers that are
// sorted) backed by transparent huge pages, and arenas (bytes written once in order and read
// back through pointers) by whichever pages this machine faults in faster.
//
// On this class of machine (a VM) the two kinds fault in at very different costs, and which
// costs more changes from day to day. On 2026-12-03 a fresh huge page cost about 2.2-2.6 s per
// GiB when the kernel had to assemble it (0.12 s when it reused one just freed), a fresh 4 KiB
// page 0.35-0.55 s per GiB; on 2026-12-06 a 4 KiB page cost 2.6 s per GiB and a huge page
// 0.07-1.7 s. Hash tables are probed at random, and without huge pages each probe also misses
// the TLB: group_sum with 50M keys took 37.9 s instead of 16.8 s. Arenas are written in order,
// and fault in most of the memory of a sort: sort_lines of 2 GB in memory took 2.8 s with
// ordinary pages and 4.5-6.1 s with huge ones on 12-03, 5.5-6.3 s and 2.5-4.3 s on 12-06. So
// the process times both kinds once (huge_pages_fault_faster) and its arenas take the faster.
#pragma once

#include <dataflow/detail/config.hpp>

#include <cstddef>
#include <utility>

namespace dataflow::detail {

inline constexpr std::size_t huge_page_size = std::size_t{2} << 20;

inline constexpr std::size_t page_size_floor = 4096;

/// Rounds a mapping's length up to whole pages, so that munmap of the tail and of the whole
/// mapping covers exactly what was mapped.
constexpr std::size_t mapped_length(std::size_t bytes) noexcept {
  return (bytes + page_size_floor - 1) & ~(page_size_floor - 1);
}

/// Returns `bytes` of zeroed memory aligned to at least 64 bytes, in huge pages from 2 MiB on
/// (for arrays probed at random); throws std::bad_alloc.
void* big_allocate(std::size_t bytes);

/// Which pages a large buffer takes: huge for arrays accessed out of order (sorted, probed);
/// for bytes written once in order and read back through pointers (arenas), ordinary, or huge
/// where those fault in faster (huge_pages_fault_faster).
enum class page_kind { huge, ordinary };

/// Returns `bytes` of memory aligned to at least 64 bytes, zeroed only when it comes from mmap;
/// throws std::bad_alloc.
void* big_allocate_uninit(std::size_t bytes, page_kind pages = page_kind::huge);

/// Releases memory from big_allocate or big_allocate_uninit; `bytes` must be the size it was allocated with.
void big_deallocate(void* p, std::size_t bytes) noexcept;

/// Grows a buffer of `bytes` (at least huge_page_size) from big_allocate, big_allocate_uninit,
/// map_zeroed or map_small_pages to `more` bytes by moving its pages, not its contents
/// (mremap): what it holds stays, no page of it faults in again, and only the new tail is fresh
/// memory. Returns where the buffer now is (null, with the buffer untouched, where the system
/// refuses: then copy). The new tail is zeroed; the buffer keeps its kind of pages.
void* big_grow(void* p, std::size_t bytes, std::size_t more) noexcept;

/// Whether fresh huge pages fault in faster than the 4 KiB pages they replace on this machine:
/// timed once per process, on its first call, the faster of two tries of 2 MiB of each kind,
/// one after the other (a few milliseconds).
bool huge_pages_fault_faster();

/// Returns `bytes` of zeroed memory (null for none), aligned to a page, in a mapping of its own
/// whatever the size: for a long-lived buffer allocated while other blocks come and go. In the
/// heap, such a buffer above blocks freed after it keeps them resident (a heap shrinks only
/// from its top): word_count's staging buffers kept 8 MiB of a thread's first tables.
void* map_zeroed(std::size_t bytes);
/// The same in 4 KiB pages only, whatever the system's default for transparent huge pages.
void* map_small_pages(std::size_t bytes);
/// Releases memory from map_zeroed; `bytes` must be the size it was allocated with.
void unmap(void* p, std::size_t bytes) noexcept;

/// Owns an array of `n` raw (zeroed, unconstructed) T slots from big_allocate.
template <class T>
class big_array {
 public:
  big_array() = default;
  explicit big_array(std::size_t n)
      : data_(n ? static_cast<T*>(big_allocate(n * sizeof(T))) : nullptr), size_(n) {}
  big_array(big_array&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  big_array& operator=(big_array&& o) noexcept {
    if (this != &o) {
      release();
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  big_array(const big_array&) = delete;
  big_array& operator=(const big_array&) = delete;
  ~big_array() { release(); }

  T* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  T& operator[](std::size_t i) const noexcept { return data_[i]; }

  /// Grows the array to `n` slots by moving its pages (big_grow): the slots it had keep their
  /// bytes, the new ones are zeroed. Returns false, with nothing changed, where the pages cannot
  /// move so (an array under a huge page lives on the heap, or the system refuses).
  bool grow_in_place(std::size_t n) noexcept {
    if (data_ == nullptr || n <= size_) return false;
    void* p = big_grow(data_, size_ * sizeof(T), n * sizeof(T));
    if (p == nullptr) return false;
    data_ = static_cast<T*>(p);
    size_ = n;
    return true;
  }

 private:
  void release() noexcept {
    big_deallocate(data_, size_ * sizeof(T));
    data_ = nullptr;
    size_ = 0;
  }
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <new>

namespace dataflow::detail {

/// Maps `len` bytes (whole pages) at an address aligned to a huge page; null where mmap fails.
DATAFLOW_INLINE void* map_huge_aligned(std::size_t len, int prot, int flags) noexcept {
  const std::size_t padded = len + huge_page_size;
  void* raw = ::mmap(nullptr, padded, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  const auto base = reinterpret_cast<std::uintptr_t>(raw);
  const auto aligned = (base + huge_page_size - 1) & ~(huge_page_size - 1);
  // Trim the unaligned head and the unused tail so that only `len` bytes stay mapped.
  if (aligned > base) ::munmap(raw, aligned - base);
  const std::size_t tail = (base + padded) - (aligned + len);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + len), tail);
  return reinterpret_cast<void*>(aligned);
}

DATAFLOW_INLINE void* big_allocate(std::size_t bytes) {
  if (bytes < huge_page_size) {
    void* p = ::operator new(bytes, std::align_val_t{64});
    std::memset(p, 0, bytes);
    return p;
  }
  bytes = mapped_length(bytes);
  void* p = map_huge_aligned(bytes, PROT_READ | PROT_WRITE, 0);
  if (p == nullptr) throw std::bad_alloc();
  ::madvise(p, bytes, MADV_HUGEPAGE);
  return p;
}

DATAFLOW_INLINE void* big_grow(void* p, std::size_t bytes, std::size_t more) noexcept {
  const std::size_t from = mapped_length(bytes), to = mapped_length(more);
  if (p == nullptr || bytes < huge_page_size) return nullptr;
  if (to <= from) return p;  // its last page already holds the rest
  // In place where the addresses after it are free; else onto a reservation aligned to a huge
  // page, so that the huge pages move whole (to an unaligned place they would be split).
  void* grown = ::mremap(p, from, to, 0);
  if (grown != MAP_FAILED) return grown;
  void* reserved = map_huge_aligned(to, PROT_NONE, MAP_NORESERVE);
  if (reserved == nullptr) return nullptr;
  // MREMAP_FIXED replaces the reservation; the moved mapping keeps its advice (huge or not).
  grown = ::mremap(p, from, to, MREMAP_MAYMOVE | MREMAP_FIXED, reserved);
  // On failure the reservation is left as it is: the kernel may have unmapped it already, and
  // another thread may have mapped memory of its own there since. At worst this leaks address
  // space, never memory.
  return grown == MAP_FAILED ? nullptr : grown;
}

DATAFLOW_INLINE void* big_allocate_uninit(std::size_t bytes, page_kind pages) {
  if (bytes < huge_page_size) return ::operator new(bytes, std::align_val_t{64});
  if (pages == page_kind::huge || huge_pages_fault_faster()) return big_allocate(bytes);
  return map_small_pages(bytes);  // aligned to a page, more than the 64 bytes promised
}

DATAFLOW_INLINE bool huge_pages_fault_faster() {
  static const bool faster = [] {
    constexpr std::size_t probe = huge_page_size;
    // Maps `probe` bytes, touches every 4 KiB page and returns the seconds that took.
    auto time_fresh = [](auto map) {
      void* p = map(probe);
      const auto start = std::chrono::steady_clock::now();
      for (std::size_t i = 0; i < probe; i += page_size_floor) static_cast<volatile char*>(p)[i] = 1;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      big_deallocate(p, probe);
      return s;
    };
    try {
      double huge = 1e9, small = 1e9;
      for (int i = 0; i < 2; ++i) {
        huge = std::min(huge, time_fresh(big_allocate));
        small = std::min(small, time_fresh(map_small_pages));
      }
      return huge < small;
    } catch (const std::bad_alloc&) {
      return false;  // no memory to time: ordinary pages, as before there was a choice
    }
  }();
  return faster;
}

DATAFLOW_INLINE void* map_zeroed(std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* p = ::mmap(nullptr, mapped_length(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return p;
}

DATAFLOW_INLINE void* map_small_pages(std::size_t bytes) {
  void* p = map_zeroed(bytes);
  if (p != nullptr) ::madvise(p, mapped_length(bytes), MADV_NOHUGEPAGE);
  return p;
}

DATAFLOW_INLINE void unmap(void* p, std::size_t bytes) noexcept {
  if (p != nullptr) ::munmap(p, mapped_length(bytes));
}

DATAFLOW_INLINE void big_deallocate(void* p, std::size_t bytes) noexcept {
  if (p == nullptr) return;
  if (bytes < huge_page_size) {
    ::operator delete(p, std::align_val_t{64});
  } else {
    ::munmap(p, mapped_length(bytes));
  }
}

}  // namespace dataflow::detail
#endif
