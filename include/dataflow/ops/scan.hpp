// scan: inclusive prefix sums (or any associative op) in the dataset's order.
//
// The input is held for the run; each partition is folded in parallel, the partitions' totals
// are combined in order, and each partition is then scanned from the total before it, in
// parallel again when it is read. On a job of several ranks, each rank's total travels to the
// ranks after it (in rank order, the dataset's order there), and a rank's partitions start from
// the earlier ranks' totals combined.
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

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T, class Stack, class Op>
class scan_node final : public ordered_node<T, Stack, T> {
  using base = ordered_node<T, Stack, T>;

 public:
  scan_node(std::shared_ptr<typename base::input_node> input, Op op)
      : base(std::move(input), "scan"), op_(std::move(op)) {
    if constexpr (encodable<T>) this->set_runs_across_ranks();  // the totals travel
  }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    std::optional<T> acc = before_[p];
    std::vector<T> buf;
    this->input_->visit_blocks(p, [&](std::span<const T> block) {
      if (stop_requested()) return false;
      buf.clear();
      for (const T& x : block) {
        acc = acc ? T(invoke_user(this->label(), op_, std::as_const(*acc), x)) : x;
        buf.push_back(*acc);
      }
      out.consume(std::span<const T>(buf));
      return true;
    });
  }

 protected:
  void prepare(run_state& run) override {
    const std::size_t parts = this->partition_count();
    std::vector<std::optional<T>> totals(parts);
    parallel_partitions(run, parts, this->label(), [&](std::size_t p) {
      this->input_->visit_blocks(p, [&](std::span<const T> block) {
        for (const T& x : block) {
          totals[p] = totals[p] ? T(invoke_user(this->label(), op_, std::as_const(*totals[p]), x)) : x;
        }
        return !stop_requested();
      });
    });
    before_.assign(parts, std::nullopt);
    std::optional<T> acc;
    try {
      for (std::size_t p = 0; p < parts; ++p) {
        before_[p] = acc;
        if (totals[p]) acc = combined(acc, totals[p]);
      }
    } catch (const op_failure& f) {
      throw_stage_error(f, this->label() + " (combine)");
    }
    if (multi_rank(run.ctx())) rank_total_ = std::move(acc);  // for the ranks after this one
  }

  void after_earlier_ranks(run_state& run) override {
    if constexpr (encodable<T>) {
      context_state& ctx = run.ctx();
      std::vector<std::optional<T>> totals = all_gather<std::optional<T>>(ctx, std::move(rank_total_));
      rank_total_.reset();
      settle(ctx, [&] {
        std::optional<T> earlier;
        try {
          for (std::size_t r = 0; r < rank_of(ctx); ++r) earlier = combined(earlier, totals[r]);
          if (earlier) {
            for (auto& b : before_) b = combined(earlier, b);
          }
        } catch (const op_failure& f) {
          throw_stage_error(f, this->label() + " (combine across ranks)");
        }
      });
    }
  }

 public:
  void dispose() noexcept override {
    before_ = {};
    rank_total_.reset();
  }

 private:
  /// a then b, where either may be empty.
  std::optional<T> combined(const std::optional<T>& a, const std::optional<T>& b) const {
    if (!a) return b;
    if (!b) return a;
    return T(invoke_user(this->label(), op_, *a, *b));
  }

  Op op_;
  std::vector<std::optional<T>> before_;  // per partition: everything before it, combined
  std::optional<T> rank_total_;           // this rank's items, combined
};

}  // namespace detail

template <class T, class Stack>
template <class Op>
auto dataset<T, Stack>::scan(Op op) const {
  static_assert(!detail::has_views_v<T>,
                "dataflow::scan: items must own their data (map string views to std::string "
                "first)");
  static_assert(detail::const_callable_r<Op, T, const T&, const T&>,
                "dataflow::scan: op must be callable as op(const T&, const T&) -> T");
  if constexpr (!encodable<T>) {
    if (detail::multi_rank(node_->ctx())) {
      detail::no_codec_across_ranks("scan");
    }
  }
  auto input = detail::hold_for_run<T>(node_, stack_, "hold");
  using Node = detail::scan_node<T, Stack, Op>;
  return dataset<T>(std::make_shared<Node>(std::move(input), std::move(op)));
}

}  // namespace dataflow
