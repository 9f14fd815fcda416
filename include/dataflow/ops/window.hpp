// sliding and tumbling windows over the dataset's order.
//
// The input is held for the run. Partition p emits the windows that start in it; a window that
// runs past the partition's end reads the first items of the next partitions (only as many as
// it needs). Each thread keeps at most about two windows of items, so windows of any size
// over any amount of data run in bounded memory.
//
// On a job of several ranks (graph/cluster.hpp) the order is rank 0's items, then rank 1's, and
// so on. A window that starts on a rank and runs past its last item needs up to n - 1 items of
// the ranks after it: each rank sends its first n - 1 items to the earlier ranks whose windows
// reach them, and the last partition's windows read them after this rank's own items.
//
// @code
// auto moving_avg = prices.sliding(20, [](std::span<const double> w) {
//   return std::accumulate(w.begin(), w.end(), 0.0) / w.size();
// });
// @endcode
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/exchange.hpp>
#include <dataflow/ops/zip_with_index.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T, class Stack, class F>
class window_node final
    : public ordered_node<T, Stack, call_result_t<F, std::span<const stored_t<T>>>> {
  using S = stored_t<T>;
  using U = call_result_t<F, std::span<const S>>;
  using base = ordered_node<T, Stack, U>;

 public:
  /// Windows of n items starting every `step` items; `partial`: the last windows may be short.
  window_node(std::shared_ptr<typename base::input_node> input, const char* op, std::size_t n,
              std::size_t step, bool partial, F fn)
      : base(std::move(input), op), n_(n), step_(step), partial_(partial), fn_(std::move(fn)) {
    if (n == 0) throw usage_error(std::string("dataflow::") + op + ": the window size must be at least 1");
    if constexpr (encodable<S>) this->set_runs_across_ranks();  // the items after this rank's travel
  }

  std::string describe() const override {
    return std::to_string(n_) + " items, every " + std::to_string(step_);
  }

  void push_partition(std::size_t p, batch_consumer<U>& out) override {
    const std::uint64_t begin = this->offsets_[p];
    const std::uint64_t end = this->offsets_[p + 1];
    const std::uint64_t total = this->job_total_;
    // Window starts in [begin, end): multiples of step; full windows only unless partial.
    const std::uint64_t rest = begin % step_;
    if (rest != 0 && step_ - rest >= end - begin) return;  // no start in [begin, end)
    const std::uint64_t first = rest == 0 ? begin : begin + (step_ - rest);
    const std::uint64_t limit = partial_ ? total : (total >= n_ ? total - n_ + 1 : 0);
    const std::uint64_t stop = std::min(end, limit);  // starts below this
    if (first >= stop) return;

    std::vector<S> buf;
    std::uint64_t buf_start = first;  // index of buf[0]
    std::uint64_t next = first;       // the next window to emit
    std::uint64_t at = begin;         // index of the next input item
    std::vector<U> results;
    auto emit = [&](std::uint64_t start, std::size_t len) {
      std::span<const S> w(buf.data() + (start - buf_start), len);
      results.push_back(invoke_user(this->label(), fn_, w));
    };
    auto flush = [&] {
      if (!results.empty()) out.consume(std::span<const U>(results));
      results.clear();
    };
    // One item at a time, in order; false once no window needs more.
    auto add = [&](const auto& x) {
      if (at++ < buf_start) return true;
      if constexpr (std::is_same_v<std::remove_cvref_t<decltype(x)>, S>) {
        buf.push_back(x);
      } else {
        buf.push_back(to_stored(x));
      }
      while (next < stop && next + n_ <= at) {
        emit(next, n_);
        next += step_;
      }
      if (next >= stop) return false;
      // Drop what no later window needs, once that is at least half the buffer.
      if (next - buf_start >= std::max<std::size_t>(n_, 64) && 2 * (next - buf_start) >= buf.size()) {
        buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(next - buf_start));
        buf_start = next;
      }
      return true;
    };
    for (std::size_t q = p; q < this->partition_count() && next < stop; ++q) {
      this->input_->visit_blocks(q, [&](std::span<const T> block) {
        if (stop_requested()) return false;
        for (const T& x : block) {
          if (!add(x)) break;
        }
        flush();
        return next < stop;
      });
    }
    // The later ranks' first items (on a job of several ranks).
    for (std::size_t i = 0; i < later_.size() && next < stop && !stop_requested(); ++i) {
      if (!add(later_[i])) break;
    }
    flush();
    // Past the last item: the short windows at the end (buf holds every item from buf_start).
    if (stop_requested()) return;
    for (; next < stop && next < total; next += step_) {
      const std::uint64_t len = std::min<std::uint64_t>(n_, total - next);
      if (next - buf_start + len > buf.size()) break;  // cannot happen unless reading stopped
      emit(next, static_cast<std::size_t>(len));
      if (step_ > total - next) break;  // next += step_ would wrap
    }
    flush();
  }

 public:
  void dispose() noexcept override { later_ = {}; }

 protected:
  void after_earlier_ranks(run_state& run) override {
    if constexpr (encodable<S>) {
      context_state& ctx = run.ctx();
      const std::vector<std::uint64_t>& counts = this->rank_counts_;
      const std::size_t me = rank_of(ctx);
      const std::size_t ranks = counts.size();
      std::vector<std::uint64_t> start(ranks + 1, 0);
      for (std::size_t r = 0; r < ranks; ++r) start[r + 1] = start[r] + counts[r];
      const std::uint64_t want = n_ - 1;  // what a window starting on an earlier rank may need
      // Of this rank's first items, rank r < me needs those within `want` of its own end.
      auto needed_by = [&](std::size_t r) -> std::uint64_t {
        const std::uint64_t gap = start[me] - start[r + 1];  // the items of the ranks between
        if (counts[r] == 0 || gap >= want) return 0;
        return std::min<std::uint64_t>(counts[me], want - gap);
      };
      std::vector<std::vector<char>> to(ranks);
      settle(ctx, [&] {
        std::uint64_t sending = 0;
        for (std::size_t r = 0; r < me; ++r) sending = std::max(sending, needed_by(r));
        std::vector<S> first;
        for (std::size_t q = 0; q < this->partition_count() && first.size() < sending; ++q) {
          this->input_->visit_blocks(q, [&](std::span<const T> block) {
            for (const T& x : block) {
              if (first.size() == sending) break;
              first.push_back(to_stored(x));
            }
            return first.size() < sending;
          });
        }
        for (std::size_t r = 0; r < me; ++r) {
          const std::uint64_t k = needed_by(r);
          if (k == 0) continue;
          byte_writer w(to[r]);  // as a std::vector<S> of the first k
          w.write_varint(k);
          for (std::uint64_t i = 0; i < k; ++i) encode(w, first[i]);
        }
      });
      std::vector<std::vector<char>> from = ctx.ranks->exchange(std::move(to));
      later_.clear();
      settle(ctx, [&] {
        arena scratch;
        for (std::size_t q = me + 1; q < ranks && later_.size() < want; ++q) {
          if (from[q].empty()) continue;
          byte_reader r(from[q].data(), from[q].data() + from[q].size(), scratch);
          for (S& x : decode<std::vector<S>>(r)) {
            if (later_.size() == want) break;
            later_.push_back(std::move(x));
          }
        }
      });
    }
  }

 private:
  std::size_t n_;
  std::size_t step_;
  bool partial_;
  F fn_;
  std::vector<S> later_;  // on a job of several ranks: the first items of the ranks after this one
};

}  // namespace detail

namespace detail {

template <class T, class Stack, class F>
auto make_window(const dataset<T, Stack>& ds, const char* op, std::size_t n, std::size_t step,
                 bool partial, F fn) {
  using S = stored_t<T>;
  static_assert(const_callable<F, std::span<const S>>,
                "dataflow::sliding / tumbling: the function must be callable as "
                "fn(std::span<const S>) -> U on a const object, where S is the owning item type");
  using U = call_result_t<F, std::span<const S>>;
  static_assert(!has_views_v<U>,
                "dataflow::sliding / tumbling: the function must return a type that owns its "
                "data (the window's items go away once it returns)");
  if constexpr (!encodable<S>) {
    if (multi_rank(ds.node()->ctx())) {
      no_codec_across_ranks(op);
    }
  }
  auto input = hold_for_run<T>(ds.node(), ds.stack(), "hold");
  return dataset<U>(std::make_shared<window_node<T, Stack, F>>(std::move(input), op, n, step,
                                                              partial, std::move(fn)));
}

}  // namespace detail

template <class T, class Stack>
template <class F>
auto dataset<T, Stack>::sliding(std::size_t n, F fn) const {
  return detail::make_window(*this, "sliding", n, 1, false, std::move(fn));
}

template <class T, class Stack>
template <class F>
auto dataset<T, Stack>::tumbling(std::size_t n, F fn) const {
  return detail::make_window(*this, "tumbling", n, n, true, std::move(fn));
}

}  // namespace dataflow
