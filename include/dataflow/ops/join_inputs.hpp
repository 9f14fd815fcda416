// The input side of a join: both sides' stages into per-thread lists by partition, the right
// side's tables when the left side can stream, spilling under the budget, and splitting spilled
// partitions into sub-partitions. It depends on the sides' types and pipelines, not on the kind
// of join, so the joins of the same inputs share its code (join.hpp).
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/co_group_rows.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/join_table.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partition_lists.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/block_list.hpp>
#include <dataflow/storage/spill_file.hpp>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// What a join holds between reading its inputs and its output: each side's lists, spilled
/// segments or tables, by partition. It depends on the sides' types and pipelines, not on the
/// kind of join, so joins of the same inputs share its code.
template <class L, class SL, class R, class SR>
class join_inputs {
 protected:
  using InL = typename SL::input_type;
  using InR = typename SR::input_type;

  // One thread's lists of one side.
  template <class T>
  struct side_local : partition_lists<T> {
    side_local(std::size_t parts, join_inputs* s)
        : partition_lists<T>(parts), self(s), charge(s->owner_.ctx().charged) {}
    join_inputs* self;
    gauge_charge charge;  // held() as of the last batch, for the run's statistics

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::uint64_t h =
          invoke_user(self->owner_.label(), [&] { return table_hash(item.first); });
      this->add(partition_of(h, this->lists.size()), item);
    }
    std::size_t charged = 0;  // this thread's bytes counted in self->held_

    // Both sides' lists stay in memory until the join reads them, and threads rarely get
    // equal shares of the input: what counts is what all of them hold together.
    void end_batch() {
      charge.set(this->held());
      if (!self->policy_.limited()) return;
      const std::size_t now = this->held();
      const std::size_t total = self->held_.fetch_add(now - charged) + (now - charged);
      charged = now;
      if (total > self->policy_.thread_share * self->owner_.ctx().threads()) spill();
    }
    void spill() {
      if (partition_lists<T>::spill(self->owner_.ctx(), self->owner_.label(), self->policy_.block_bytes)) {
        self->spilled_any_.store(true, std::memory_order_relaxed);
      }
      self->held_.fetch_sub(charged);
      charged = 0;
      charge.set(this->held());
    }
  };

  join_inputs(const node_base& owner, const char* op, std::shared_ptr<node<InL>> left,
              SL left_stack, std::shared_ptr<node<InR>> right, SR right_stack,
              shuffle_options options)
      : owner_(owner),
        left_(std::move(left)),
        right_(std::move(right)),
        left_stack_(std::move(left_stack)),
        right_stack_(std::move(right_stack)),
        options_(options) {
    if (&left_->ctx() != &right_->ctx()) {
      throw usage_error("dataflow::" + std::string(op) + ": both sides must come from the same context");
    }
  }

  void clear_inputs() noexcept {
    tables_.clear();
    streaming_ = false;
    left_segments_.clear();
    right_segments_.clear();
    left_locals_.reset();
    right_locals_.reset();
  }

  /// Runs both inputs' stages into per-thread lists by partition. With `may_stream`, when the
  /// right side fits, builds its tables instead and leaves the left side to stream.
  void run_inputs(run_state& run, bool may_stream) {
    const std::string& label = owner_.label();
    parts_ = spilling_shuffle_partitions(options_.partitions, run.ctx());
    policy_ = spill_policy::for_context(run.ctx());
    spilled_any_.store(false);
    held_.store(0);
    spilled_ = false;
    streaming_ = false;
    right_locals_.emplace(run.ctx().threads());
    run_stage(run, *right_, right_stack_, label + " (right)", [&](std::size_t) -> side_local<R>& {
      return right_locals_->local([&] { return side_local<R>(parts_, this); });
    });
    if (may_stream) {
      // The tables take about twice what the lists hold: stream only if both fit the share.
      const bool fits = !policy_.limited() ||
                        held_.load() * 3 <= policy_.thread_share * run.ctx().threads();
      if (!spilled_any_.load() && fits) {
        // The right side fits: hash it, and let the left side stream past the tables when the
        // consumer reads the join, partition by partition of the left input. The left side is
        // never held, and its order within each partition is kept.
        left_->ensure_executed(run);
        const stats_clock clock;
        tables_ = std::vector<join_table<R>>(parts_);
        parallel_partitions(run, parts_, label + " (build)", [&](std::size_t p) {
          tables_[p].build(label, gather(*right_locals_, p), false);
        });
        run.extend_stage(label + " (right)", clock);  // even if the left side ran stages since
        left_parts_ = left_->partition_count();
        streaming_ = true;
        return;
      }
    }
    left_locals_.emplace(run.ctx().threads());
    run_stage(run, *left_, left_stack_, label + " (left)", [&](std::size_t) -> side_local<L>& {
      return left_locals_->local([&] { return side_local<L>(parts_, this); });
    });
    if (spilled_any_.load()) {
      const stats_clock clock;
      left_segments_ = spill_everything(run, *left_locals_, parts_, label);
      right_segments_ = spill_everything(run, *right_locals_, parts_, label);
      left_locals_.reset();
      right_locals_.reset();
      spilled_ = true;
      run.extend_stage(label + " (left)", clock);
    }
  }

  template <class T>
  static std::vector<const T*> gather(per_thread<side_local<T>>& locals, std::size_t p) {
    std::vector<const T*> items;
    locals.for_each([&](side_local<T>& l) {
      l.lists[p].for_each_block([&](std::span<const T> block) {
        for (const T& x : block) items.push_back(&x);
      });
    });
    return items;
  }

  template <class T>
  static std::size_t count(per_thread<side_local<T>>& locals, std::size_t p) {
    std::size_t n = 0;
    locals.for_each([&](side_local<T>& l) { n += l.lists[p].size(); });
    return n;
  }

  /// Calls f(std::span<const T>) for each block of partition p in every thread's lists.
  template <class T>
  static auto blocks(per_thread<side_local<T>>& locals, std::size_t p) {
    return [&locals, p](auto&& f) {
      locals.for_each([&](side_local<T>& l) { l.lists[p].for_each_block(f); });
    };
  }

  template <class T>
  static void load(const std::vector<spill_segment>& segments, const std::string& label,
                   block_list<T>& list, arena& bytes, std::vector<const T*>& items) {
    for (const auto& seg : segments) {
      if (stop_requested()) return;
      for_each_spilled<T>(seg, label, [&](const T& x) {
        items.push_back(&list.emplace_back(intern(bytes, x)));
      });
    }
  }

  template <class T>
  static auto stream(const std::vector<spill_segment>& segments, const std::string& label) {
    return [&segments, &label](auto&& f) {
      for (const auto& seg : segments) {
        if (stop_requested()) return;
        for_each_spilled_block<T>(seg, label, f);
      }
    };
  }

  /// Splits a side's segments into fan_out sub-partitions by key hash; sets `hot` when every
  /// row had one hash.
  template <class T>
  std::vector<std::vector<spill_segment>> split(const std::vector<spill_segment>& segments,
                                                unsigned level, bool& hot) {
    const std::string& label = owner_.label();
    std::vector<std::vector<spill_segment>> out(spill_policy::fan_out);
    // Both sides must land in the same sub-partition for a key: slot i of one side meets slot
    // i of the other (spill_router leaves out empty sub-partitions, so route here).
    std::vector<std::optional<spill_writer>> writers(spill_policy::fan_out);
    hot = true;
    bool first = true;
    std::uint64_t first_hash = 0;
    const std::size_t block = std::clamp<std::size_t>(
        policy_.thread_share / 4 / spill_policy::fan_out, 4 * 1024, policy_.block_bytes);
    for (const auto& seg : segments) {
      if (stop_requested()) break;
      for_each_spilled<T>(seg, label, [&](const T& x) {
        const std::uint64_t h = invoke_user(label, [&] { return table_hash(x.first); });
        if (first) first_hash = h, first = false;
        hot = hot && h == first_hash;
        auto& w = writers[sub_partition_of(h, level, spill_policy::fan_out)];
        if (!w) w.emplace(owner_.ctx().spill_dir(label), label, block);
        w->add(x);
      });
    }
    for (std::size_t i = 0; i < writers.size(); ++i) {
      if (!writers[i]) continue;
      out[i].push_back(writers[i]->end_segment());
      writers[i]->close();
    }
    return out;
  }

  const node_base& owner_;  // the join node, for its label and context
  std::shared_ptr<node<InL>> left_;
  std::shared_ptr<node<InR>> right_;
  SL left_stack_;
  SR right_stack_;
  shuffle_options options_;
  std::size_t parts_ = 0;
  spill_policy policy_;
  std::atomic<bool> spilled_any_{false};
  std::atomic<std::size_t> held_{0};  // bytes both sides' lists hold, all threads together
  bool spilled_ = false;
  bool streaming_ = false;      // the left side streams past tables_ of the right side
  std::size_t left_parts_ = 0;  // partitions of the left input, when streaming
  std::optional<per_thread<side_local<L>>> left_locals_;
  std::optional<per_thread<side_local<R>>> right_locals_;
  std::vector<std::vector<spill_segment>> left_segments_;   // per partition, when spilled
  std::vector<std::vector<spill_segment>> right_segments_;  // per partition, when spilled
  std::vector<join_table<R>> tables_;                      // per partition, when streaming
};

}  // namespace dataflow::detail
