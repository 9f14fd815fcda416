// The merge of a sort's sorted runs on disk (run_merger), and the loading ahead of string
// items' bytes that the runs' writing uses (prefetch_item).
#pragma once

#include <dataflow/graph/scheduler.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// How many items ahead prefetch_item goes.
inline constexpr std::size_t prefetch_ahead = 16;

/// Starts loading a string item's bytes into the cache ahead of their use: items in sorted
/// order lie far apart in memory, a cache miss each, and misses in flight together cost little
/// more than one. Other items load nothing.
template <class T>
inline void prefetch_item(const T& x) noexcept {
  if constexpr (std::is_same_v<T, std::string_view>) {
    if (x.empty()) return;
    __builtin_prefetch(x.data());
    if (x.size() > 64) __builtin_prefetch(x.data() + 64);
    __builtin_prefetch(x.data() + x.size() - 1);
  }
}

/// No number for a merge to compare first: items compare with the sort's comparator alone.
struct no_merge_key {};

/// A number in the order of a sort's items, f(item): where two numbers differ they order the
/// items; where they tie, `decides` says the items are equal (an integral sort key) or still
/// need the comparator (the first bytes of strings).
template <class F, bool Decides>
struct merge_key {
  F f;
  static constexpr bool decides = Decides;
};

template <bool Decides, class F>
merge_key<F, Decides> make_merge_key(F f) {
  return {std::move(f)};
}

/// Merges sorted runs: the smallest current item of k readers, k at most a few hundred.
///
/// A tree of losers picks it: each inner node holds the run that lost the match there, so the
/// run that just gave its item replays only the matches on its way to the root, one compare a
/// level (a heap compares twice a level). With a merge_key (a bytewise sort of strings: their
/// first eight bytes; a sort by an integral key: the key) each run's current item has a number
/// in its order, kept beside the others', and items are compared only where numbers tie (and
/// for an integral key not even there: equal keys may come in either order).
template <class T, class Less, class KeyOf = no_merge_key>
class run_merger {
  static constexpr bool keyed = !std::is_same_v<KeyOf, no_merge_key>;

  struct cursor {
    spill_reader in;
    std::optional<byte_reader> r;
    std::size_t left = 0;  // items not yet decoded in the current block
    std::optional<T> current;
    std::uint64_t take = ~std::uint64_t{0};  // items still to merge from this run
    bool done = false;                       // no current item: loses every match
  };

 public:
  /// Merges whole runs, or with `limits`, from each run the `take` items after its first `skip`.
  run_merger(const std::vector<spill_segment>& runs, const std::string& stage, Less less,
             const std::vector<std::pair<std::uint64_t, std::uint64_t>>& limits = {}, KeyOf key_of = {})
      : less_(std::move(less)), key_of_(std::move(key_of)), stage_(stage) {
    cursors_.reserve(runs.size());
    for (const auto& run : runs) {
      cursors_.push_back(cursor{spill_reader(run, stage), std::nullopt, 0, std::nullopt});
    }
    if constexpr (keyed) prefixes_.assign(runs.size(), 0);
    for (std::size_t i = 0; i < cursors_.size(); ++i) {
      cursor& c = cursors_[i];
      if (!limits.empty()) {
        for (std::uint64_t k = limits[i].first; k > 0 && advance(c); --k) {
        }
        c.take = limits[i].second;
      }
      advance(c);
    }
    losers_.assign(std::max<std::size_t>(cursors_.size(), 1), 0);
    if (!cursors_.empty()) winner_ = play(1);
  }

  /// Calls out(item) for every item in order. Before any run loads its next block (which ends
  /// the life of the views of items taken from it), calls flush().
  template <class Out, class Flush>
  void run(Out&& out, Flush&& flush) {
    const std::size_t k = cursors_.size();
    if (k == 0) return;
    for (std::size_t n = 1;; ++n) {
      if (n % 1024 == 0 && stop_requested()) return;
      std::size_t w = winner_;
      cursor& c = cursors_[w];
      if (c.done) return;
      out(*c.current);
      if (c.left == 0) flush();
      advance(c);
      if constexpr (keyed) {
        // The numbers of the runs' current items sit together (one cache line for eight runs),
        // and where they differ the match is decided without a branch.
        std::uint64_t kw = prefixes_[w];
        for (std::size_t node = (w + k) / 2; node >= 1; node /= 2) {
          const std::size_t l = losers_[node];
          const std::uint64_t kl = prefixes_[l];
          const bool swap = kl != kw ? kl < kw : wins(l, w);
          const std::size_t mask = 0 - static_cast<std::size_t>(swap);
          losers_[node] = l ^ ((l ^ w) & mask);
          w ^= (l ^ w) & mask;
          kw ^= (kl ^ kw) & mask;
        }
      } else {
        for (std::size_t node = (w + k) / 2; node >= 1; node /= 2) {
          if (wins(losers_[node], w)) std::swap(losers_[node], w);
        }
      }
      winner_ = w;
    }
  }

 private:
  /// Whether run a's current item goes before run b's (a run with none goes after all).
  bool wins(std::size_t a, std::size_t b) {
    const cursor& x = cursors_[a];
    const cursor& y = cursors_[b];
    if (x.done) return false;
    if (y.done) return true;
    if constexpr (keyed) {
      if (prefixes_[a] != prefixes_[b]) return prefixes_[a] < prefixes_[b];
      if constexpr (KeyOf::decides) return false;  // equal keys: either goes first
    }
    return less_(*x.current, *y.current);
  }

  /// Plays the matches below `node` (leaves are k + run), keeping the losers; returns the winner.
  std::size_t play(std::size_t node) {
    const std::size_t k = cursors_.size();
    if (node >= k) return node - k;
    const std::size_t a = play(2 * node), b = play(2 * node + 1);
    if (wins(b, a)) {
      losers_[node] = a;
      return b;
    }
    losers_[node] = b;
    return a;
  }

  bool advance(cursor& c) {
    const std::size_t i = static_cast<std::size_t>(&c - cursors_.data());
    if (!next(c)) {
      c.done = true;
      c.current.reset();
      if constexpr (keyed) prefixes_[i] = ~std::uint64_t{0};  // ties with all ones, then loses
      return false;
    }
    c.done = false;
    if constexpr (keyed) prefixes_[i] = key_of_.f(*c.current);
    return true;
  }

  bool next(cursor& c) {
    if (c.take == 0) return false;
    if (c.left == 0) {
      if (c.r) check_block_end(*c.r, stage_);
      if (!c.in.next_block()) return false;
      c.r.emplace(c.in.reader());
      c.left = c.in.block_items();
      if (c.left == 0) return false;
    }
    c.current.emplace(spill_decode<T>(*c.r));
    --c.left;
    --c.take;  // from all ones when unlimited: never reaches 0
    return true;
  }

  Less less_;
  KeyOf key_of_;
  std::string stage_;
  std::vector<cursor> cursors_;
  std::vector<std::uint64_t> prefixes_;  // with a merge key: each run's current item's number
  std::vector<std::size_t> losers_;      // inner nodes 1 .. k-1: the loser of the match there
  std::size_t winner_ = 0;
};

}  // namespace dataflow::detail
