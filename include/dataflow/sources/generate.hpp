// context::generate: n items made by a function of their index, in contiguous partitions.
#pragma once

#include <dataflow/context.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/storage/item_buffer.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T, class F>
class generate_node final : public node<T> {
 public:
  generate_node(std::shared_ptr<context_state> ctx, std::size_t n, F fn)
      : node<T>(std::move(ctx), "generate", node_kind::source, {}, {}), n_(n), fn_(std::move(fn)) {
    this->set_runs_across_ranks();  // each rank makes a slice of the indexes
  }

  std::string describe() const override { return std::to_string(n_) + " items"; }
  std::size_t partition_count() const override { return parts_; }
  std::optional<std::uint64_t> known_items() const override { return count_; }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    auto [begin, end] = partition_range(count_, parts_, p);
    begin += first_;
    end += first_;
    item_buffer<T> batch;
    batch.reserve(std::min(batch_items<T>, end - begin));
    for (std::size_t i = begin; i < end && !stop_requested();) {
      std::size_t m = std::min(batch_items<T>, end - i);
      batch.clear();
      try {
        for (std::size_t j = 0; j < m; ++j) batch.emplace_back(invoke_user(this->label(), fn_, i + j));
      } catch (op_failure& f) {
        f.where = "index " + std::to_string(i + batch.size());
        throw;
      }
      try {
        out.consume(batch.span());
      } catch (op_failure& f) {
        if (f.where.empty() && f.item < batch.size()) f.where = "index " + std::to_string(i + f.item);
        throw;
      }
      i += m;
    }
  }

 protected:
  void execute(run_state& run) override {
    auto [first, end] = rank_slice(n_, run.ctx());
    first_ = first;
    count_ = end - first;
    parts_ = source_partitions(count_, run.ctx().threads());
  }

 private:
  std::size_t n_;
  F fn_;
  std::size_t parts_ = 0;
  std::size_t first_ = 0, count_ = 0;  // this rank's slice of the indexes
};

}  // namespace detail

template <class F>
auto context::generate(std::size_t n, F fn) const {
  static_assert(detail::const_callable<F, std::size_t>,
                "dataflow::generate: the function must be callable as fn(std::size_t index) -> T, "
                "on a const object (it runs on several threads at once)");
  using T = detail::call_result_t<F, std::size_t>;
  static_assert(!std::is_void_v<T>, "dataflow::generate: the function must return a value");
  return dataset<T>(std::make_shared<detail::generate_node<T, F>>(state_, n, std::move(fn)));
}

}  // namespace dataflow
