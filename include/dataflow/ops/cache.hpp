// cache: keeps a dataset's items after the first action that computes them, so that later
// actions start from the kept items instead of computing them again. Partitions are kept as
// they were, so order is kept too. The items live until the last dataset handle on the cache
// is gone.
//
// Under a memory budget the caches of a context may hold a quarter of it in memory together
// (the rest belongs to the runs that read them). A partition that arrives once that is taken
// goes to a spill file instead, whole and in order, and is read back block by block; the file
// lives as long as the cache.
//
// @code
// auto counts = words.reduce_by_key(std::plus<>{}).cache();
// auto n = counts.count();          // computes and keeps
// auto top = counts.top_k(10, cmp); // reads the kept items
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/graph/action.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/codec.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/block_list.hpp>
#include <dataflow/storage/item_buffer.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

template <class T, class Stack>
class cache_node final : public node<T> {
  using In = typename Stack::input_type;

  // One partition's kept items and the bytes of their views; or, once the caches' share of the
  // budget is taken, a spill file with all of them in order.
  struct kept {
    block_list<T> items;
    arena bytes;
    cache_node* self = nullptr;
    // The bytes this partition holds in memory, for the run's statistics and the context's
    // cache total (context::cached_bytes, with or without a budget).
    gauge_charge gauge;
    std::size_t heap = 0;
    std::optional<spill_writer> writer;
    std::optional<spill_segment> spilled;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      if (writer) {
        writer->add(item);
        return;
      }
      const T& k = items.emplace_back(intern(bytes, item));
      if constexpr (may_own_heap<T>) heap += heap_bytes(k);
    }

    void end_batch() {
      if (writer) return;
      const std::size_t now = items.bytes() + bytes.bytes_used() + heap;
      const std::size_t was = gauge.held();
      gauge.set(now);
      if (!self) return;
      // Items without a codec spill too: the writer stops the run with an error naming the type,
      // rather than let the cache pass the budget silently.
      const std::size_t total = self->ctx().cached_bytes.fetch_add(now - was) + now - was;
      if (self->limit_ != 0 && total > self->limit_) spill();
    }

    void end_partition() {
      if (writer) {
        spilled = writer->end_segment();
        writer->close();
        writer.reset();
      }
    }

    void spill() {
      const std::string& label = self->label();
      writer.emplace(self->ctx().spill_dir(label), label, self->block_bytes_);
      items.for_each_block([&](std::span<const T> block) {
        for (const T& x : block) writer->add(x);
      });
      items.clear();
      // Frees the arena's blocks, not only its bytes: a partition's blocks kept for items that
      // now go to the file would be held, uncharged, by every partition that spilled (257 of
      // them took 400 MB under a 256 MiB budget).
      bytes = arena();
      heap = 0;
      uncharge();
    }

    void uncharge() noexcept {
      if (self) self->ctx().cached_bytes.fetch_sub(gauge.held());
      gauge.set(0);
    }
  };

 public:
  /// `keep`: kept across actions (cache()); else dropped at the end of the run, for operators
  /// that need their input whole (zip_with_index, scan, windows).
  cache_node(std::shared_ptr<node<In>> parent, Stack stack, bool keep = true,
             const char* op = "cache")
      : node<T>(parent->ctx_ptr(), op, node_kind::cache, {parent}, stack.labels()),
        parent_(std::move(parent)),
        stack_(std::move(stack)),
        keep_(keep) {
    this->set_runs_across_ranks();  // each rank keeps its own partitions
  }

  std::string describe() const override {
    if (!keep_) return {};
    return filled_ ? "kept" : "not yet computed";
  }

  /// Items in partition p (after the node ran).
  std::uint64_t partition_size(std::size_t p) const noexcept {
    return parts_[p].items.size() + (parts_[p].spilled ? parts_[p].spilled->items : 0);
  }

  /// Calls f(std::span<const T>) for the blocks of partition p in order until f returns false.
  template <class F>
  void visit_blocks(std::size_t p, F&& f) {
    if (parts_[p].spilled) {
      spill_reader in(*parts_[p].spilled, this->label());
      item_buffer<T> block;
      while (read_block(in, block, this->label())) {
        if (!f(std::span<const T>(block.data(), block.size()))) return;
      }
    }
    bool go = true;
    parts_[p].items.for_each_block([&](std::span<const T> block) {
      if (go) go = f(block);
    });
  }
  std::string describe_input() const override {
    std::string what = keep_ ? "keep items" : "hold items for this run";
    return what + (this->ctx().memory_budget ? ", spilling past a quarter of the budget"
                                             : " in memory");
  }
  std::size_t partition_count() const override { return parts_.size(); }
  std::optional<std::uint64_t> known_items() const override {
    std::uint64_t n = 0;
    for (std::size_t p = 0; p < parts_.size(); ++p) n += partition_size(p);
    return n;
  }
  bool keeps_result() const noexcept override { return keep_ && filled_; }

  ~cache_node() override { release(); }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    if (parts_[p].spilled) {
      for_each_spilled_block<T>(*parts_[p].spilled, this->label(), [&](std::span<const T> b) {
        if (!stop_requested()) out.consume(b);
      });
    }
    parts_[p].items.for_each_block([&](std::span<const T> block) {
      if (!stop_requested()) out.consume(block);
    });
  }

  // Called when the run no longer needs the items: an intermediate's, or a kept cache's that no
  // handle names any more.
  void dispose() noexcept override {
    release();
    filled_ = false;
  }
  bool release_when_read() const noexcept override {
    return keep_ && !checkpoint_ && this->handles() == 0;
  }
  void unpersist() noexcept override {
    dispose();
    lost_ = checkpoint_;
  }

  // A checkpoint that lost its items has nothing to compute them from: execute says so.
  bool recompute_is_costly() const noexcept override { return parent_ != nullptr; }

  /// Makes this filled cache a checkpoint: kept while the node lives, with no parents.
  void make_checkpoint() noexcept {
    checkpoint_ = true;
    this->cut_lineage();
    parent_.reset();
  }

 protected:
  void execute(run_state& run) override {
    if (!parent_) {
      throw usage_error("dataflow: " + this->label() + (lost_ ? " was unpersisted" : " is empty") +
                        "; a checkpoint has no lineage to compute it again from");
    }
    parent_->ensure_executed(run);
    release();
    // Caches together may hold a quarter of the budget in memory.
    limit_ = run.ctx().memory_budget / 4;
    block_bytes_ = spill_policy::for_context(run.ctx()).block_bytes;
    parts_ = std::vector<kept>(parent_->partition_count());
    for (kept& k : parts_) {
      k.self = this;
      k.gauge = gauge_charge(run.ctx().charged);
    }
    run_stage(run, *parent_, stack_, this->label(),
              [&](std::size_t p) -> kept& { return parts_[p]; });
    filled_ = true;
  }

 private:
  void release() noexcept {
    for (kept& k : parts_) k.uncharge();
    parts_.clear();
  }

  std::shared_ptr<node<In>> parent_;
  Stack stack_;
  bool keep_;
  std::size_t limit_ = 0;
  std::size_t block_bytes_ = 0;
  std::vector<kept> parts_;
  bool filled_ = false;
  bool checkpoint_ = false;
  bool lost_ = false;
};

}  // namespace detail

template <class T, class Stack>
dataset<T> dataset<T, Stack>::cache() const {
  return dataset<T>(std::make_shared<detail::cache_node<T, Stack>>(node_, stack_));
}

template <class T, class Stack>
dataset<T> dataset<T, Stack>::checkpoint() const {
  auto node = std::make_shared<detail::cache_node<T, Stack>>(node_, stack_, true, "checkpoint");
  dataset<T> kept(node);
  {
    detail::action_run<dataset<T>> action(kept, "checkpoint", true);  // each rank keeps its own
    action.partitions();  // fills the cache: its stage is the run
    action.finish();
  }
  node->make_checkpoint();
  return kept;
}

template <class T, class Stack>
void dataset<T, Stack>::unpersist() const {
  node_->unpersist();
}

}  // namespace dataflow
