// context::from: a source over an in-memory range, split into contiguous partitions.
#pragma once

#include <dataflow/context.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/storage/item_buffer.hpp>

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// Reads a random-access sized range R (held by value: a container or a ref_view).
template <class R>
class range_node final : public node<std::ranges::range_value_t<R>> {
  using T = std::ranges::range_value_t<R>;

 public:
  range_node(std::shared_ptr<context_state> ctx, R range)
      : node<T>(std::move(ctx), "from", node_kind::source, {}, {}), range_(std::move(range)) {
    this->set_runs_across_ranks();  // each rank reads a slice of the range
  }

  std::string describe() const override {
    return std::to_string(std::ranges::size(range_)) + " items";
  }
  std::size_t partition_count() const override { return parts_; }
  std::optional<std::uint64_t> known_items() const override { return count_; }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    auto [begin, end] = partition_range(count_, parts_, p);
    begin += first_;
    end += first_;
    constexpr std::size_t step = std::max<std::size_t>(batch_items<T>, 4096);
    auto push = [&](std::span<const T> batch, std::size_t first) {
      try {
        out.consume(batch);
      } catch (op_failure& f) {
        if (f.where.empty() && f.item < batch.size()) f.where = "index " + std::to_string(first + f.item);
        throw;
      }
    };
    if constexpr (std::ranges::contiguous_range<R> &&
                  std::is_same_v<std::remove_cvref_t<std::ranges::range_reference_t<R>>, T>) {
      const T* data = std::ranges::data(range_);
      for (std::size_t i = begin; i < end && !stop_requested(); i += step) {
        push(std::span<const T>(data + i, std::min(step, end - i)), i);
      }
    } else {
      item_buffer<T> batch;
      batch.reserve(std::min(batch_items<T>, end - begin));
      auto it = std::ranges::begin(range_) + static_cast<std::ptrdiff_t>(begin);
      for (std::size_t i = begin; i < end && !stop_requested();) {
        std::size_t m = std::min(batch_items<T>, end - i);
        batch.clear();
        for (std::size_t j = 0; j < m; ++j, ++it) batch.emplace_back(*it);
        push(batch.span(), i);
        i += m;
      }
    }
  }

 protected:
  void execute(run_state& run) override {
    auto [first, end] = rank_slice(std::ranges::size(range_), run.ctx());
    first_ = first;
    count_ = end - first;
    parts_ = source_partitions(count_, run.ctx().threads());
  }
  bool recompute_is_costly() const noexcept override { return false; }

 private:
  R range_;
  std::size_t parts_ = 0;
  std::size_t first_ = 0, count_ = 0;  // this rank's slice of the range
};

template <class R>
auto make_range_dataset(std::shared_ptr<context_state> ctx, R range) {
  using T = std::ranges::range_value_t<R>;
  auto node = std::make_shared<range_node<R>>(std::move(ctx), std::move(range));
  return dataset<T>(std::move(node));
}

}  // namespace detail

template <std::ranges::input_range R>
auto context::from(R&& range) const {
  using Raw = std::remove_cvref_t<R>;
  using T = std::ranges::range_value_t<Raw>;
  static_assert(std::is_copy_constructible_v<T>, "dataflow::from: items must be copyable");
  if constexpr (std::ranges::random_access_range<Raw> && std::ranges::sized_range<Raw>) {
    if constexpr (std::ranges::view<Raw>) {
      return detail::make_range_dataset(state_, Raw(range));  // a view is cheap to copy: keep it
    } else if constexpr (std::is_lvalue_reference_v<R>) {
      return detail::make_range_dataset(state_, std::ranges::ref_view(range));
    } else {
      return detail::make_range_dataset(state_, Raw(std::move(range)));
    }
  } else {
    std::vector<T> copy;
    for (auto&& x : range) copy.push_back(x);
    return detail::make_range_dataset(state_, std::move(copy));
  }
}

}  // namespace dataflow
