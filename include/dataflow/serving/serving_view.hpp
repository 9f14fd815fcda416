// The serving layer's merge of the two halves of the Lambda architecture: a batch view (all
// events up to a cutoff, on disk) and the speed layer (the stream's batches since, in memory),
// answering get, scan, prefix and top_k as one result with its `as_of`.
//
// The speed layer keeps its values in buckets of stream batches (as Summingbird's client store
// keeps batches): add() merges each batch into the open bucket; mark() closes it and returns the
// batch sequence and source position a batch view must cover; publish(view) swaps in a view
// whose cutoff is such a mark and drops the buckets it covers, so the speed layer stays as small
// as what arrived since the last recomputation.
//
// Readers and the writer share nothing mutable. The layers are an immutable snapshot (view,
// buckets, position) behind one pointer; a bucket is a few immutable hash tables (runs), and a
// batch becomes a new run, merged with the newer runs of no greater size (a binary counter, so a
// bucket of n keys has at most log2(n / batch) + 1 runs and each entry is copied as often). A
// writer builds the next snapshot aside and swaps the pointer; a reader copies the pointer and
// does everything else (hash lookups, block reads, range copies) outside any lock. So no query
// holds ingestion up for longer than a pointer copy, no batch holds a query up at all, and an
// answer is always one whole snapshot: never a half-merged batch or half-published view.
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/serving/view_file.hpp>
#include <dataflow/stream/windows.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dataflow {

/// What an answer of a serving_view covers.
struct as_of {
  std::uint64_t view_version = 0;  ///< 0: no batch view yet
  std::string view_covers{};       ///< the batch view's stamp
  std::uint64_t view_cutoff = 0;   ///< the last stream batch the view covers
  std::uint64_t speed_sequence = 0;  ///< the last stream batch merged in
  std::string speed_position{};      ///< where the stream's source stood after it
  std::uint64_t events = 0;          ///< source items ingested by the speed layer so far
  std::size_t speed_keys = 0;        ///< entries in the speed layer (a key once per run holding it)
  std::size_t buckets = 0;           ///< its buckets
};

template <class K, class V, class Op>
class serving_view {
  struct hasher {
    std::size_t operator()(const K& k) const { return static_cast<std::size_t>(detail::table_hash(k)); }
  };
  using map_type = std::unordered_map<K, V, hasher>;
  using run_ptr = std::shared_ptr<const map_type>;
  struct bucket {
    std::uint64_t first = 0, last = 0;  // stream batches in it
    std::vector<run_ptr> runs;          // oldest first, sizes decreasing
  };
  struct layers {
    std::shared_ptr<const view_reader<K, V>> view;
    std::vector<bucket> buckets;  // oldest first; the last is open
    std::uint64_t last_sequence = 0;
    std::string position;
    std::uint64_t events = 0;
  };
  using layers_ptr = std::shared_ptr<const layers>;

 public:
  using view_type = view_reader<K, V>;

  /// `op` merges values (associative and commutative): the stream's reduce, the batch's too.
  explicit serving_view(Op op, std::shared_ptr<const view_type> view = nullptr) : op_(std::move(op)) {
    auto first = std::make_shared<layers>();
    if (view) {
      first->last_sequence = view->stamp().cutoff;
      first->position = view->stamp().position;
    }
    first->view = std::move(view);
    first->buckets.emplace_back();
    current_ = std::move(first);
  }

  /// Merges a stream batch (keyed_aggregation::start_batches) into the open bucket. Batches are
  /// numbered here, on from the batch view's cutoff, so that a stream restarted from the
  /// view's position (view_stamp::position) goes on where it left off.
  void add(const keyed_batch<K, V>& b) {
    map_type run;
    run.reserve(b.pairs.size());
    for (const auto& [k, v] : b.pairs) fold_into(run, k, v);
    std::lock_guard write(writer_);
    auto next = std::make_shared<layers>(*snapshot());
    const std::uint64_t sequence = next->last_sequence + 1;
    bucket& open = next->buckets.back();
    if (open.first == 0) open.first = sequence;
    open.last = sequence;
    if (!run.empty()) {
      open.runs.push_back(std::make_shared<const map_type>(std::move(run)));
      compact(open.runs);
    }
    next->last_sequence = sequence;
    next->position = b.position;
    next->events += b.events;
    install(std::move(next));
  }

  /// Closes the open bucket: a batch view that covers the stream's batches through the mark's
  /// sequence (its source up to the mark's position) may be published to replace them.
  speed_mark mark() {
    std::lock_guard write(writer_);
    const layers_ptr now = snapshot();
    if (now->buckets.back().first != 0) {
      auto next = std::make_shared<layers>(*now);
      next->buckets.emplace_back();
      install(std::move(next));
    }
    return {now->last_sequence, now->position};
  }

  /// Swaps in a batch view whose stamp's cutoff is a mark's sequence (or later than every batch
  /// so far), and drops the buckets it covers. Queries from then on use it; a query begun before
  /// finishes on the old view and buckets, which are freed by the last one to let them go.
  void publish(std::shared_ptr<const view_type> view) {
    if (!view) throw usage_error("dataflow::serving_view::publish: no view");
    const std::uint64_t cutoff = view->stamp().cutoff;
    std::lock_guard write(writer_);
    auto next = std::make_shared<layers>(*snapshot());
    for (const bucket& b : next->buckets) {
      if (b.first != 0 && b.first <= cutoff && cutoff < b.last) {
        throw usage_error("dataflow::serving_view::publish: the view's cutoff " + std::to_string(cutoff) +
                          " falls inside a bucket of batches " + std::to_string(b.first) + "-" +
                          std::to_string(b.last) + "; publish views cut at a mark()");
      }
    }
    auto& buckets = next->buckets;
    std::size_t covered = 0;
    while (covered < buckets.size() && buckets[covered].first != 0 && buckets[covered].last <= cutoff) ++covered;
    buckets.erase(buckets.begin(), buckets.begin() + static_cast<std::ptrdiff_t>(covered));
    if (buckets.empty()) buckets.emplace_back();
    next->view = std::move(view);
    next->last_sequence = std::max(next->last_sequence, cutoff);
    install(std::move(next));
  }

  /// The merged value of `key`: the batch view's and the speed layer's since.
  std::optional<V> get(const K& key, as_of* at = nullptr) const {
    const layers_ptr now = snapshot();
    std::optional<V> speed;
    for (const bucket& b : now->buckets) {
      for (const run_ptr& r : b.runs) {
        auto it = r->find(key);
        if (it != r->end()) speed = speed ? std::invoke(op_, std::as_const(*speed), it->second) : it->second;
      }
    }
    if (at) *at = as_of_of(*now);
    std::optional<V> batch = now->view ? now->view->get(key) : std::nullopt;
    return merge(std::move(batch), std::move(speed));
  }

  /// Calls f(key, value) with merged values for the keys in [from, to), in key order, until it
  /// returns false.
  template <class F>
  void scan(const K& from, const std::optional<K>& to, F&& f, as_of* at = nullptr) const {
    const layers_ptr now = snapshot();
    std::map<K, V> speed;  // the speed layer's keys in the range, merged
    for_each_speed(*now, [&](const K& k, const V& v) {
      if (!(k < from) && (!to || k < *to)) fold_into(speed, k, v);
    });
    if (at) *at = as_of_of(*now);
    auto s = speed.begin();
    bool more = true;
    auto emit_speed_before = [&](const K* bound) {
      while (more && s != speed.end() && (!bound || s->first < *bound)) {
        more = f(std::as_const(s->first), std::as_const(s->second));
        ++s;
      }
    };
    if (now->view) {
      now->view->scan(from, to, [&](const K& k, const V& v) {
        emit_speed_before(&k);
        if (!more) return false;
        if (s != speed.end() && !(k < s->first)) {  // the same key: merged
          const V merged = std::invoke(op_, v, std::as_const(s->second));
          ++s;
          return more = f(k, merged);
        }
        return more = f(k, v);
      });
    }
    emit_speed_before(nullptr);
  }

  /// As scan, for the keys that begin with `p` (string keys).
  template <class F>
    requires std::convertible_to<const K&, std::string_view>
  void prefix(std::string_view p, F&& f, as_of* at = nullptr) const {
    scan(K(p), std::nullopt, [&](const K& k, const V& v) {
      if (std::string_view(k).substr(0, p.size()) != p) return false;
      return f(k, v);
    }, at);
  }

  /// The n keys of largest merged value (ties by key). Exact when merging never makes a value
  /// smaller (counts, sums of non-negative values, max) and n is at most what the batch view
  /// kept (view_reader::top_kept), or the view holds every key in its top list.
  std::vector<std::pair<K, V>> top_k(std::size_t n, as_of* at = nullptr) const
    requires std::totally_ordered<V>
  {
    const layers_ptr now = snapshot();
    const auto& view = now->view;
    map_type speed;
    for_each_speed(*now, [&](const K& k, const V& v) { fold_into(speed, k, v); });
    if (at) *at = as_of_of(*now);
    // A key outside the view's top n and the speed layer has its batch value, at most the n-th.
    std::map<K, V> candidates;
    if (view) {
      for (auto& [k, v] : view->top(n)) candidates.emplace(std::move(k), std::move(v));
    }
    for (const auto& [k, v] : speed) {
      auto it = candidates.find(k);
      if (it != candidates.end()) {
        it->second = std::invoke(op_, std::as_const(it->second), v);
      } else if (auto batch = view ? view->get(k) : std::nullopt) {
        candidates.emplace(k, std::invoke(op_, std::as_const(*batch), v));
      } else {
        candidates.emplace(k, v);
      }
    }
    std::vector<std::pair<K, V>> out(candidates.begin(), candidates.end());
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    out.resize(std::min(n, out.size()));
    return out;
  }

  /// Where the layers stand.
  as_of status() const { return as_of_of(*snapshot()); }

  /// The batch view in use (null before the first).
  std::shared_ptr<const view_type> view() const { return snapshot()->view; }

 private:
  layers_ptr snapshot() const {
    std::lock_guard lock(m_);
    return current_;
  }

  void install(std::shared_ptr<layers> next) {
    layers_ptr old;
    {
      std::lock_guard lock(m_);
      old = std::exchange(current_, std::move(next));
    }
    // `old` is let go here, outside the lock; what only it held is freed now or by the last
    // reader of it.
  }

  // Adds (k, v) to a map of runs or of answers, merging with the value there.
  template <class Map>
  void fold_into(Map& into, const K& k, const V& v) const {
    auto [it, inserted] = into.try_emplace(k, v);
    if (!inserted) it->second = std::invoke(op_, std::as_const(it->second), v);
  }

  // Merges the newest run into the one before while that one is no larger (a binary counter).
  void compact(std::vector<run_ptr>& runs) const {
    while (runs.size() >= 2 && runs[runs.size() - 2]->size() <= runs.back()->size()) {
      map_type merged(*runs[runs.size() - 2]);  // the older run: readers may still hold it
      merged.reserve(merged.size() + runs.back()->size());
      for (const auto& [k, v] : *runs.back()) fold_into(merged, k, v);
      runs.pop_back();
      runs.back() = std::make_shared<const map_type>(std::move(merged));
    }
  }

  template <class F>
  static void for_each_speed(const layers& l, F&& f) {
    for (const bucket& b : l.buckets) {
      for (const run_ptr& r : b.runs) {
        for (const auto& [k, v] : *r) f(k, v);
      }
    }
  }

  std::optional<V> merge(std::optional<V> batch, std::optional<V> speed) const {
    if (!batch) return speed;
    if (!speed) return batch;
    return std::invoke(op_, std::as_const(*batch), std::as_const(*speed));
  }

  static as_of as_of_of(const layers& l) {
    as_of a;
    if (l.view) {
      a.view_version = l.view->stamp().version;
      a.view_covers = l.view->stamp().covers;
      a.view_cutoff = l.view->stamp().cutoff;
    }
    a.speed_sequence = l.last_sequence;
    a.speed_position = l.position;
    a.events = l.events;
    for (const bucket& b : l.buckets) {
      for (const run_ptr& r : b.runs) a.speed_keys += r->size();
    }
    a.buckets = l.buckets.size();
    return a;
  }

  Op op_;
  mutable std::mutex m_;  // guards current_: held for a pointer copy or swap
  layers_ptr current_;
  std::mutex writer_;     // one add, mark or publish at a time
};

}  // namespace dataflow
