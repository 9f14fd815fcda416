// An open-addressing hash table for aggregation: linear probing over one flat slot array.
//
// By default each slot holds the full 64-bit hash next to the entry, so a probe compares keys
// only when the hashes match, growth never rehashes keys, and a shuffle can read a slot's
// partition from its hash. A zero hash marks an empty slot (table_hash never returns 0), which
// lets big tables start from zeroed huge-page memory with no initialisation pass.
//
// With keyed_slots (entries std::pair<K, V> with an integer K) a slot holds the entry alone: the
// key is compared as it is, key 0 marks an empty slot (an entry with key 0 is kept beside the
// array), and the hash is computed again where growth or a caller needs it. A key, a 16-byte sum
// and a count then take 32 bytes, half a cache line, where with the hash they took 40 and every
// other slot crossed into a second line. group_sum of 100M rows at 2 threads on 2 cores, 40-byte
// slots against 32 (interleaved rounds): 1M keys 2.76 s and 2.62 s, peak RSS 97 and 76 MiB;
// 50M keys 7.32 s and 6.96 s; the same under --budget 512M, 10.88 s and 9.65 s.
#pragma once

#include <dataflow/hash.hpp>
#include <dataflow/storage/big_alloc.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// Slots that hold each entry's hash beside it (any entry type).
struct hashed_slots {};

/// Slots that hold the entry std::pair<K, V> alone, K an integer, looked up by table_hash(key)
/// (see the top of this file).
template <class K>
struct keyed_slots {
  static_assert(std::is_integral_v<K>, "keyed slots mark an empty slot with the integer key 0");
  using key_type = K;
  static std::uint64_t hash(K k) noexcept { return table_hash(k); }
};

/// Whether entries of type Entry can be held in keyed slots with key type K: a pair whose key
/// is the first member, at a known offset, copied and destroyed as bytes.
template <class Entry, class K>
inline constexpr bool keyed_slots_fit = [] {
  if constexpr (requires { typename Entry::first_type; }) {
    return std::is_integral_v<K> && std::is_same_v<typename Entry::first_type, K> &&
           std::is_standard_layout_v<Entry> && std::is_trivially_copy_constructible_v<Entry> &&
           std::is_trivially_destructible_v<Entry>;
  } else {
    return false;
  }
}();

template <class Entry, class Slots = hashed_slots>
class hash_table {
  static_assert(std::is_move_constructible_v<Entry> || std::is_copy_constructible_v<Entry>,
                "dataflow: keys and values kept in a hash table must be movable or copyable");
  static constexpr bool keyed = !std::is_same_v<Slots, hashed_slots>;
  struct hashed_slot {
    std::uint64_t hash;
    alignas(Entry) unsigned char raw[sizeof(Entry)];
    Entry& entry() noexcept { return *std::launder(reinterpret_cast<Entry*>(raw)); }
  };
  struct keyed_slot {
    alignas(Entry) unsigned char raw[sizeof(Entry)];
    Entry& entry() noexcept { return *std::launder(reinterpret_cast<Entry*>(raw)); }
  };
  using slot = std::conditional_t<keyed, keyed_slot, hashed_slot>;
  // The key type of keyed slots (a placeholder for hashed ones).
  struct no_key {
    using key_type = int;
  };
  using key_type = typename std::conditional_t<keyed, Slots, no_key>::key_type;
  static_assert(!keyed || keyed_slots_fit<Entry, key_type>,
                "keyed slots hold std::pair<K, V> entries with an integer K that copy as bytes");

 public:
  explicit hash_table(std::size_t initial_capacity = 16) { reset(initial_capacity); }
  hash_table(hash_table&& o) noexcept
      : slots_(std::move(o.slots_)),
        mask_(o.mask_),
        size_(o.size_),
        limit_(o.limit_),
        dense_(std::exchange(o.dense_, false)),
        growths_in_place_(std::exchange(o.growths_in_place_, 0)) {
    take_zero(o);
    o.mask_ = o.size_ = o.limit_ = 0;
  }
  hash_table& operator=(hash_table&& o) noexcept {
    if (this != &o) {
      destroy_entries();
      slots_ = std::move(o.slots_);
      mask_ = o.mask_;
      size_ = o.size_;
      limit_ = o.limit_;
      dense_ = std::exchange(o.dense_, false);
      growths_in_place_ = std::exchange(o.growths_in_place_, 0);
      take_zero(o);
      o.mask_ = o.size_ = o.limit_ = 0;
    }
    return *this;
  }
  hash_table(const hash_table&) = delete;
  hash_table& operator=(const hash_table&) = delete;
  ~hash_table() { destroy_entries(); }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::size_t capacity() const noexcept { return mask_ + 1; }
  /// True when the next new entry makes the table double its slot array.
  bool full() const noexcept { return size_ >= limit_; }
  /// True when `more` new entries fit without the table doubling its slot array.
  bool fits(std::size_t more) const noexcept { return size_ + more <= limit_; }
  /// Makes room for `entries` entries in all without growing as they come: an empty table
  /// takes its slot array at that size at once (no doubling, no rehash), a table with entries
  /// doubles until they fit.
  void reserve(std::size_t entries) {
    if (entries <= limit_ || dense_) return;
    if (size_ == 0) {
      reset(capacity_for(entries));
      return;
    }
    while (limit_ < entries) grow();
  }

  /// Returns the bytes a table of `entries` entries needs at most (slots at the lowest load).
  static std::size_t bytes_for(std::size_t entries) noexcept {
    return capacity_for(entries) * sizeof(slot) * 2;  // and the old array while it grows into the next
  }
  /// The slots of a table that holds `entries` entries without growing.
  static std::size_t capacity_for(std::size_t entries) noexcept {
    std::size_t cap = 16;
    while (limit_for(cap) - 1 < entries) cap *= 2;
    return cap;
  }
  /// Returns the bytes of the slot array.
  std::size_t bytes() const noexcept { return slots_.size() * sizeof(slot); }
  /// How many of the table's doublings moved its pages instead of copying its entries.
  std::size_t growths_in_place() const noexcept { return growths_in_place_; }

  /// The cache lines prefetch() loads for every slot: two for a slot whose size does not divide
  /// 64 (besides, where a probe's second slot ends in a line of its own, that line).
  static constexpr std::size_t lines_prefetched = 64 % sizeof(slot) != 0 ? 2 : 1;

  /// Starts loading the slot where a key with hash `h` would be looked up first. The address of
  /// the next line may lie past the array: it is computed as an integer, and a prefetch does
  /// not fault.
  void prefetch(std::uint64_t h) const noexcept {
    if (slots_.data() == nullptr) return;  // a cleared table has no slots
    const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(slots_.data()) + (h & mask_) * sizeof(slot);
    // Locality 2 (prefetcht1 on x86) where 3 (prefetcht0) was: the lines come into L2, and the
    // lookup 16 to 64 items later takes them from there. Callers keep 50 to 100 lines in
    // flight, more than the L1 tracks, and prefetcht0 waited for its misses: 2 threads on
    // 2 cores, interleaved rounds, group_sum of 100M rows / 1M keys 2.50 s before and 2.38 s
    // after (9 rounds; at 1 thread 4.33 s and 4.05 s, 3 rounds), word_count of 1 GiB 1.40 s and
    // 1.38 s (9; at 1 thread 2.72 s and 2.56 s), join_bench's join at 1 thread 1061 ms and
    // 866 ms, at 2 threads 427 ms and 416 ms (7), distinct at 1 thread 1452 ms and 1313 ms.
    auto load_line = [](std::uintptr_t a) { __builtin_prefetch(reinterpret_cast<const void*>(a), 1, 2); };
    load_line(at);
    // A slot whose size does not divide 64 crosses into the next line every so often (a 40-byte
    // slot every other time), and then the value it merges into is a second miss; the next line
    // also holds the slots a probe goes on to: load it too (a larger slot: its last line).
    if constexpr (lines_prefetched == 2) {
      constexpr std::size_t next = sizeof(slot) < 64 ? 64 : sizeof(slot) - 1;
      load_line(at + next);
    }
    // A probe goes on to the second slot often (a key is past its first slot one time in four at
    // half load), so the line where that slot ends is loaded too. Mostly it is a line already
    // asked for, but not where the first slot ends its line (a 32-byte slot every other time)
    // or the second ends two lines on (a 40-byte slot at byte 56, one in eight). word_count of
    // 1 GiB at 2 threads: 1.40 s before, 1.29 s after (5 interleaved rounds); group_sum of 100M
    // rows / 1M keys: 3.06 s, 3.00 s (9 rounds); with 50M keys, 6.83 s and 6.71 s (4 rounds).
    if constexpr (sizeof(slot) < 64) {
      load_line(at + 2 * sizeof(slot) - 1);
    }
  }

  /// Finds the entry with hash `h` whose key (by key_of) equals `key`; when there is none,
  /// constructs one from make() first. Returns the entry and whether it was just made. (With
  /// keyed slots the entry of key 0 lives in the table object: moving the table moves it.)
  template <class Key, class KeyOf, class Make>
  std::pair<Entry*, bool> find_or_emplace(std::uint64_t h, const Key& key, const KeyOf& key_of,
                                          Make&& make) {
    if (size_ >= limit_) grow();
    std::size_t i = h & mask_;
    if constexpr (keyed) {
      const key_type k = key;
      if (k == 0) [[unlikely]] {
        if (has_zero_) return {&zero_entry(), false};
        Entry made(std::forward<Make>(make)());  // constructed aside: a throw leaves nothing
        ::new (static_cast<void*>(zero_raw_)) Entry(made);
        has_zero_ = true;
        ++size_;
        return {&zero_entry(), true};
      }
      slot& s = keyed_probe(i, k);
      if (key_in(s) == k) return {&s.entry(), false};
      Entry made(std::forward<Make>(make)());
      ::new (static_cast<void*>(s.raw)) Entry(made);
      ++size_;
      return {&s.entry(), true};
    } else {
      for (;;) {
        slot& s = slots_[i];
        if (s.hash == h && key_of(s.entry()) == key) return {&s.entry(), false};
        if (s.hash == 0) {
          ::new (static_cast<void*>(s.raw)) Entry(std::forward<Make>(make)());
          s.hash = h;  // only after construction succeeded: a throwing make() leaves no slot
          ++size_;
          return {&s.entry(), true};
        }
        i = (i + 1) & mask_;
      }
    }
  }

  /// Returns the entry with hash `h` whose key (by key_of) equals `key`, or null.
  template <class Key, class KeyOf>
  Entry* find(std::uint64_t h, const Key& key, const KeyOf& key_of) noexcept(
      noexcept(key_of(std::declval<Entry&>()) == key)) {
    if (size_ == 0) return nullptr;
    std::size_t i = h & mask_;
    if constexpr (keyed) {
      const key_type k = key;
      if (k == 0) return has_zero_ ? &zero_entry() : nullptr;
      slot& s = keyed_probe(i, k);
      return key_in(s) == k ? &s.entry() : nullptr;
    } else {
      for (;;) {
        slot& s = slots_[i];
        if (s.hash == h && key_of(s.entry()) == key) return &s.entry();
        if (s.hash == 0) return nullptr;
        i = (i + 1) & mask_;
      }
    }
  }

  /// Calls f(hash, entry) for every entry.
  template <class F>
  void for_each(F&& f) {
    for (std::size_t i = 0, n = slots_.size(); i < n; ++i) {
      slot& s = slots_[i];
      if (occupied(s)) f(hash_of(s), s.entry());
    }
    if constexpr (keyed) {
      if (has_zero_) f(Slots::hash(0), zero_entry());
    }
  }

  /// Calls f(hash, entry) for every entry, a few entries after prefetching the slot each would
  /// take in `into`: entries come in slot order, which is at random places of another table.
  template <class Target, class F>
  void for_each_prefetching(const Target& into, F&& f) {
    constexpr std::size_t ahead = 8;
    std::pair<std::uint64_t, Entry*> ring[ahead];
    std::size_t n = 0;
    for_each([&](std::uint64_t h, Entry& e) {
      into.prefetch(h);
      auto& waiting = ring[n++ % ahead];
      if (n > ahead) f(waiting.first, *waiting.second);
      waiting = {h, &e};
    });
    for (std::size_t k = n > ahead ? n - ahead : 0; k < n; ++k) f(ring[k % ahead].first, *ring[k % ahead].second);
  }

  /// Calls f(hash, entry) for the entries in slots [begin, end) of the slot array (and, with
  /// keyed slots, for the entry of key 0 in the range that begins at 0).
  template <class F>
  void for_each_in(std::size_t begin, std::size_t end, F&& f) {
    for (std::size_t i = begin; i < end; ++i) {
      slot& s = slots_[i];
      if (occupied(s)) f(hash_of(s), s.entry());
    }
    if constexpr (keyed) {
      if (begin == 0 && has_zero_) f(Slots::hash(0), zero_entry());
    }
  }

  /// Moves the entries to the front of the slot memory as a dense array and returns it. The
  /// table then serves only as the owner of that array: no more lookups.
  std::span<Entry> compact() noexcept
    requires std::is_nothrow_move_constructible_v<Entry>
  {
    auto* out = reinterpret_cast<Entry*>(static_cast<void*>(slots_.data()));
    std::size_t j = 0;
    for (std::size_t i = 0, n = slots_.size(); i < n; ++i) {
      slot& s = slots_[i];
      if (!occupied(s)) continue;
      // Entry j ends at or before slot i + 1 begins (an entry is no larger than a slot and
      // j <= i), so the write never touches a slot not yet read; the temporary covers the
      // overlap with slot i itself.
      Entry tmp(std::move(s.entry()));
      s.entry().~Entry();
      ::new (static_cast<void*>(out + j)) Entry(std::move(tmp));
      ++j;
    }
    if constexpr (keyed) {
      // Behind the others: the array has a free slot at least (a table is never full).
      if (has_zero_) ::new (static_cast<void*>(out + j++)) Entry(zero_entry());
      has_zero_ = false;
    }
    dense_ = true;
    return {std::launder(out), j};
  }

  /// Destroys every entry and keeps the slot array for new ones (memory already resident is
  /// cheap to clear; fresh memory is not).
  void clear_entries() noexcept {
    destroy_entries();
    if (dense_) {
      clear();
      return;
    }
    if (slots_.size() > 0) std::memset(static_cast<void*>(slots_.data()), 0, slots_.size() * sizeof(slot));
  }

  /// Destroys every entry and returns the memory.
  void clear() noexcept {
    destroy_entries();
    slots_ = big_array<slot>();
    mask_ = limit_ = 0;
    dense_ = false;
  }

 private:
  // Linear probing stays fast up to about 70% full; past that, probe chains grow quickly.
  static std::size_t limit_for(std::size_t capacity) noexcept { return capacity / 10 * 7 + 1; }

  void reset(std::size_t capacity) {
    std::size_t cap = 16;
    while (cap < capacity) cap *= 2;
    slots_ = big_array<slot>(cap);
    mask_ = cap - 1;
    size_ = 0;
    limit_ = limit_for(cap) - 1;
  }

  void grow() {
    if (grow_in_place()) return;
    const std::size_t cap = slots_.size() ? slots_.size() * 2 : 16;
    big_array<slot> fresh(cap);
    const std::size_t mask = cap - 1;
    auto place = [&](slot& from) {
      const std::uint64_t h = hash_of(from);
      std::size_t i = h & mask;
      while (occupied(fresh[i])) i = (i + 1) & mask;
      ::new (static_cast<void*>(fresh[i].raw)) Entry(std::move_if_noexcept(from.entry()));
      if constexpr (!keyed) fresh[i].hash = h;
    };
    if constexpr (keyed) {
      // Entries copy as bytes: nothing to destroy or undo. The old array goes below.
      for (std::size_t j = 0, n = slots_.size(); j < n; ++j) {
        if (occupied(slots_[j])) place(slots_[j]);
      }
    } else if constexpr (std::is_nothrow_move_constructible_v<Entry>) {
      for (std::size_t j = 0, n = slots_.size(); j < n; ++j) {
        if (slots_[j].hash == 0) continue;
        place(slots_[j]);
        slots_[j].entry().~Entry();
        slots_[j].hash = 0;
      }
    } else {
      // Copies: if one throws, the table stays as it was.
      try {
        for (std::size_t j = 0, n = slots_.size(); j < n; ++j) {
          if (slots_[j].hash != 0) place(slots_[j]);
        }
      } catch (...) {
        for (std::size_t i = 0; i < cap; ++i) {
          if (fresh[i].hash != 0) fresh[i].entry().~Entry();
        }
        throw;
      }
      const std::size_t kept = size_;
      destroy_entries();
      size_ = kept;
    }
    slots_ = std::move(fresh);
    mask_ = mask;
    limit_ = limit_for(cap) - 1;
  }

  // Doubles a slot array of a huge page or more where it lies, its pages moved and not copied
  // (big_array::grow_in_place), and rehashes the entries within it: only the new upper half is
  // fresh memory. A growth into a fresh array faults in twice the old array while still
  // holding it (word_count of 1 GiB, one run each: 51 huge pages faulted in before, 34 after,
  // by /proc/vmstat's thp_fault_alloc). Returns false, with the table as it was, where the
  // array cannot grow so.
  //
  // The old slots are visited once in order, starting after an empty one, so that no run of
  // occupied slots is entered midway. Each entry is taken out and placed again from its new
  // home, which is its old home or that plus the old capacity. Every slot it then probes past
  // is final: a slot before it in the visit order (the run it sat in, from its home on, was all
  // occupied and visited before it), or one of the new upper half, which holds only entries
  // placed again. The one exception is a probe that would wrap past the array's end into slots
  // not yet visited; such entries wait aside and are placed last.
  //
  // Only for entries that copy and destroy as bytes: the pages may move to another address,
  // and an entry that points into itself (a std::string's short buffer) would then point
  // into memory that is gone.
  bool grow_in_place() {
    if constexpr (!std::is_trivially_copy_constructible_v<Entry> || !std::is_trivially_destructible_v<Entry>) {
      return false;
    } else {
      const std::size_t old = slots_.size();
      if (old * sizeof(slot) < huge_page_size) return false;
      struct held {
        std::uint64_t hash;
        Entry entry;
      };
      // Before anything changes, so that a throw leaves the table as it was. The probes that
      // wrap are those of the run that reaches the end of the doubled array, at most half full:
      // a few entries (at most 68 in the tests' doublings built to make them), so the sweep
      // itself does not allocate.
      std::vector<held> wrapped;
      wrapped.reserve(256);
      if (!slots_.grow_in_place(2 * old)) return false;
      // From here on nothing throws but the rare push_back of a wrapped entry (see below).
      const std::size_t mask = 2 * old - 1;
      mask_ = mask;
      limit_ = limit_for(2 * old) - 1;
      std::size_t empty = 0;
      while (occupied(slots_[empty])) ++empty;  // a table is never full
      for (std::size_t k = 1; k <= old; ++k) {
        const std::size_t j = (empty + k) & (old - 1);
        slot& s = slots_[j];
        if (!occupied(s)) continue;
        const std::uint64_t h = hash_of(s);
        std::size_t i = h & mask;
        if (i == j) continue;  // at its new home already
        held out{h, take_out(s)};
        while (occupied(slots_[i]) && i != mask) ++i;
        if (occupied(slots_[i])) {
          // Past the end the probe would wrap into slots not visited yet. Should a push_back
          // past the 256 reserved throw, the run fails with std::bad_alloc and its output is
          // not given: the table then holds what it counts, but entries not yet visited may be
          // out of reach, and those set aside are gone (they own nothing).
          --size_;
          wrapped.push_back(std::move(out));
          continue;
        }
        put(slots_[i], std::move(out));
      }
      for (held& w : wrapped) {
        std::size_t i = w.hash & mask;
        while (occupied(slots_[i])) i = (i + 1) & mask;
        put(slots_[i], std::move(w));
        ++size_;
      }
      ++growths_in_place_;
      return true;
    }
  }

  // Copies the entry out of slot s (an entry that copies as bytes) and leaves s empty.
  Entry take_out(slot& s) noexcept {
    Entry e(s.entry());
    std::memset(static_cast<void*>(&s), 0, sizeof s);
    return e;
  }
  // Places a held entry into the empty slot s.
  template <class Held>
  static void put(slot& s, Held&& h) noexcept {
    ::new (static_cast<void*>(s.raw)) Entry(h.entry);
    if constexpr (!keyed) s.hash = h.hash;
  }

  void destroy_entries() noexcept {
    if constexpr (keyed) has_zero_ = false;  // entries are destroyed as bytes
    if constexpr (!std::is_trivially_destructible_v<Entry>) {
      if (dense_) {
        std::destroy_n(std::launder(reinterpret_cast<Entry*>(static_cast<void*>(slots_.data()))),
                       size_);
        size_ = 0;
        return;
      }
      for (std::size_t i = 0, n = slots_.size(); i < n; ++i) {
        if (slots_[i].hash != 0) slots_[i].entry().~Entry();
      }
    }
    size_ = 0;
  }

  static bool occupied(const slot& s) noexcept {
    if constexpr (keyed) {
      return key_in(s) != 0;
    } else {
      return s.hash != 0;
    }
  }
  std::uint64_t hash_of(const slot& s) const noexcept {
    if constexpr (keyed) {
      return Slots::hash(key_in(s));
    } else {
      return s.hash;
    }
  }
  // The slot from i on that holds key k (not 0), or the empty slot where it would go.
  slot& keyed_probe(std::size_t i, key_type k) noexcept {
    for (;;) {
      slot& s = slots_[i];
      const key_type at = key_in(s);
      if (at == k || at == 0) return s;
      i = (i + 1) & mask_;
    }
  }
  // The key of a keyed slot, read as bytes: 0 where no entry was constructed.
  static key_type key_in(const slot& s) noexcept {
    key_type k;
    std::memcpy(&k, s.raw + offsetof(Entry, first), sizeof k);
    return k;
  }
  Entry& zero_entry() noexcept { return *std::launder(reinterpret_cast<Entry*>(zero_raw_)); }
  // Moves o's entry of key 0 here (entries of keyed slots copy as bytes).
  void take_zero(hash_table& o) noexcept {
    if constexpr (keyed) {
      has_zero_ = std::exchange(o.has_zero_, false);
      if (has_zero_) ::new (static_cast<void*>(zero_raw_)) Entry(o.zero_entry());
    }
  }

  big_array<slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t limit_ = 0;
  bool dense_ = false;
  std::size_t growths_in_place_ = 0;
  // Keyed slots: the entry of key 0, which marks an empty slot in the array.
  bool has_zero_ = false;
  alignas(Entry) unsigned char zero_raw_[keyed ? sizeof(Entry) : 1];
};

}  // namespace dataflow::detail
