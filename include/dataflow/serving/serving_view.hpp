// The serving layer's merge of the two halves of the Lambda architecture: a batch view (all
// events up to a cutoff, on disk) and the speed layer (the stream's batches since, in memory),
// answering get, scan, prefix and top_k as one result with its `as_of`.
//
// The speed layer keeps its values in buckets of stream batches (as Summingbird's client store
// keeps batches): add() merges each batch into the open bucket; mark() closes it and returns the
// batch sequence and source position a batch view must cover; publish(view) swaps in a view
// whose cutoff is such a mark and drops the buckets it covers, so the speed layer stays as small
// as what arrived since the last recomputation. Readers take a consistent pair (view, buckets)
// under a shared lock; the view's block reads happen after it, so a point query holds
// ingestion up for no longer than its hash lookups (a range or top query for as long as it
// copies the speed layer's entries it needs).
#pragma once

#include <dataflow/errors.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/serving/view_file.hpp>
#include <dataflow/stream/windows.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
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
  std::size_t speed_keys = 0;        ///< keys in the speed layer's buckets
  std::size_t buckets = 0;           ///< its buckets
};

template <class K, class V, class Op>
class serving_view {
  struct hasher {
    std::size_t operator()(const K& k) const { return static_cast<std::size_t>(detail::table_hash(k)); }
  };
  using map_type = std::unordered_map<K, V, hasher>;
  struct bucket {
    std::uint64_t first = 0, last = 0;  // stream batches in it
    map_type values;
  };

 public:
  using view_type = view_reader<K, V>;

  /// `op` merges values (associative and commutative): the stream's reduce, the batch's too.
  explicit serving_view(Op op, std::shared_ptr<const view_type> view = nullptr)
      : op_(std::move(op)), view_(std::move(view)) {
    if (view_) {
      last_sequence_ = view_->stamp().cutoff;
      position_ = view_->stamp().position;
    }
    buckets_.emplace_back();
  }

  /// Merges a stream batch (keyed_aggregation::start_batches) into the open bucket. Batches are
  /// numbered here, on from the batch view's cutoff, so that a stream restarted from the
  /// view's position (view_stamp::position) goes on where it left off.
  void add(const keyed_batch<K, V>& b) {
    std::unique_lock lock(m_);
    const std::uint64_t sequence = last_sequence_ + 1;
    bucket& open = buckets_.back();
    if (open.first == 0) open.first = sequence;
    open.last = sequence;
    for (auto& [k, v] : b.pairs) {
      auto it = open.values.find(k);
      if (it == open.values.end()) {
        open.values.emplace(std::move(k), std::move(v));
      } else {
        it->second = std::invoke(op_, std::as_const(it->second), std::as_const(v));
      }
    }
    last_sequence_ = sequence;
    position_ = b.position;
    events_ += b.events;
  }

  /// Closes the open bucket: a batch view that covers the stream's batches through the mark's
  /// sequence (its source up to the mark's position) may be published to replace them.
  speed_mark mark() {
    std::unique_lock lock(m_);
    if (!buckets_.back().values.empty() || buckets_.back().first != 0) buckets_.emplace_back();
    return {last_sequence_, position_};
  }

  /// Swaps in a batch view whose stamp's cutoff is a mark's sequence (or later than every batch
  /// so far), and drops the buckets it covers. Queries from then on use it.
  void publish(std::shared_ptr<const view_type> view) {
    if (!view) throw usage_error("dataflow::serving_view::publish: no view");
    const std::uint64_t cutoff = view->stamp().cutoff;
    std::deque<bucket> dropped;
    {
      std::unique_lock lock(m_);
      for (const bucket& b : buckets_) {
        if (b.first != 0 && b.first <= cutoff && cutoff < b.last) {
          throw usage_error("dataflow::serving_view::publish: the view's cutoff " + std::to_string(cutoff) +
                            " falls inside a bucket of batches " + std::to_string(b.first) + "-" +
                            std::to_string(b.last) + "; publish views cut at a mark()");
        }
      }
      while (!buckets_.empty() && buckets_.front().first != 0 && buckets_.front().last <= cutoff) {
        dropped.push_back(std::move(buckets_.front()));
        buckets_.pop_front();
      }
      if (buckets_.empty()) buckets_.emplace_back();
      view_ = std::move(view);
      last_sequence_ = std::max(last_sequence_, cutoff);
    }
    // The dropped buckets are freed here, outside the lock.
  }

  /// The merged value of `key`: the batch view's and the speed layer's since.
  std::optional<V> get(const K& key, as_of* at = nullptr) const {
    std::shared_ptr<const view_type> view;
    std::optional<V> speed;
    {
      std::shared_lock lock(m_);
      view = view_;
      speed = speed_value(key);
      if (at) *at = as_of_locked();
    }
    std::optional<V> batch = view ? view->get(key) : std::nullopt;
    return merge(std::move(batch), std::move(speed));
  }

  /// Calls f(key, value) with merged values for the keys in [from, to), in key order, until it
  /// returns false.
  template <class F>
  void scan(const K& from, const std::optional<K>& to, F&& f, as_of* at = nullptr) const {
    std::shared_ptr<const view_type> view;
    std::map<K, V> speed;  // the speed layer's keys in the range, merged
    {
      std::shared_lock lock(m_);
      view = view_;
      for (const bucket& b : buckets_) {
        for (const auto& [k, v] : b.values) {
          if (k < from || (to && !(k < *to))) continue;
          add_to(speed, k, v);
        }
      }
      if (at) *at = as_of_locked();
    }
    auto s = speed.begin();
    bool more = true;
    auto emit_speed_before = [&](const K* bound) {
      while (more && s != speed.end() && (!bound || s->first < *bound)) {
        more = f(std::as_const(s->first), std::as_const(s->second));
        ++s;
      }
    };
    if (view) {
      view->scan(from, to, [&](const K& k, const V& v) {
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
    std::shared_ptr<const view_type> view;
    std::map<K, V> speed;
    {
      std::shared_lock lock(m_);
      view = view_;
      for (const bucket& b : buckets_) {
        for (const auto& [k, v] : b.values) add_to(speed, k, v);
      }
      if (at) *at = as_of_locked();
    }
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
  as_of status() const {
    std::shared_lock lock(m_);
    return as_of_locked();
  }

  /// The batch view in use (null before the first).
  std::shared_ptr<const view_type> view() const {
    std::shared_lock lock(m_);
    return view_;
  }

 private:
  std::optional<V> speed_value(const K& key) const {
    std::optional<V> out;
    for (const bucket& b : buckets_) {
      auto it = b.values.find(key);
      if (it == b.values.end()) continue;
      out = out ? std::invoke(op_, std::as_const(*out), it->second) : it->second;
    }
    return out;
  }

  void add_to(std::map<K, V>& into, const K& k, const V& v) const {
    auto [it, inserted] = into.try_emplace(k, v);
    if (!inserted) it->second = std::invoke(op_, std::as_const(it->second), v);
  }

  std::optional<V> merge(std::optional<V> batch, std::optional<V> speed) const {
    if (!batch) return speed;
    if (!speed) return batch;
    return std::invoke(op_, std::as_const(*batch), std::as_const(*speed));
  }

  as_of as_of_locked() const {
    as_of a;
    if (view_) {
      a.view_version = view_->stamp().version;
      a.view_covers = view_->stamp().covers;
      a.view_cutoff = view_->stamp().cutoff;
    }
    a.speed_sequence = last_sequence_;
    a.speed_position = position_;
    a.events = events_;
    for (const bucket& b : buckets_) a.speed_keys += b.values.size();
    a.buckets = buckets_.size();
    return a;
  }

  Op op_;
  mutable std::shared_mutex m_;
  std::shared_ptr<const view_type> view_;
  std::deque<bucket> buckets_;  // oldest first; the last is open
  std::uint64_t last_sequence_ = 0;
  std::string position_;
  std::uint64_t events_ = 0;
};

}  // namespace dataflow
