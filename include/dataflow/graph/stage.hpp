// Running a stage: every partition of a node's output, through a fused operator stack, into a
// sink, in parallel on the context's arena.
//
// One task per partition; tbb cancels the remaining tasks when one throws, and sources check for
// cancellation between batches, so a failure stops the stage within a batch per thread. The
// exception reaches the caller as a stage_error naming the operator and the input position.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/item_bytes.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/scheduler.hpp>

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <functional>
#include <cstddef>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace dataflow::detail {

/// A sink that declares `static constexpr bool batch_local = true` is small and cheap to copy
/// (a counter, an accumulator): each batch runs on a local copy that the compiler can keep in
/// registers, instead of reloading it from memory the input might alias.
template <class Sink>
concept batch_local_sink = requires { requires Sink::batch_local; };

/// A sink whose first item differs from the rest (reduce: the first item starts the
/// accumulator) can offer a primed form: primed() says it has seen an item, prime() returns a
/// sink for the rest of the batch, absorb() takes its state back.
template <class Sink>
concept primable_sink = requires(Sink& s) {
  { s.primed() } -> std::convertible_to<bool>;
  s.absorb(s.prime());
};

/// Forwards items to a sink and counts them, and with `Sized` their data bytes too (items of a
/// fixed size are only counted: a running sum of a constant costs a third of a tight loop's
/// time, as the loop no longer vectorizes).
template <class Sink, bool Sized, class Out = void>
struct counting_sink {
  Sink* sink;
  std::uint64_t n = 0;
  std::uint64_t bytes = 0;
  template <class X>
  void operator()(X&& x) {
    ++n;
    if constexpr (Sized) {
      // A range's proxies or views of references count as the items they become.
      if constexpr (std::is_same_v<std::remove_cvref_t<X>, Out> || !std::is_constructible_v<Out, X&>) {
        bytes += data_bytes(x);
      } else {
        bytes += data_bytes(Out(x));
      }
    }
    (*sink)(std::forward<X>(x));
  }
};

/// Runs a batch through a bound operator stack into a sink, counting the items in and out and
/// (with `Sized`) their data bytes. Readers inside another stage (concat, a streamed join side)
/// whose counts nobody records skip the bytes.
template <class In, class Stack, class Sink, bool Sized = true>
class stack_consumer final : public batch_consumer<In> {
  static constexpr bool fixed_size_out = fixed_data_size_v<typename Stack::output_type>;

 public:
  stack_consumer(const Stack& stack, Sink& sink) : stack_(stack), sink_(sink) {}

  std::uint64_t items_in() const noexcept { return in_; }
  std::uint64_t items_out() const noexcept { return Stack::empty ? in_ : out_; }
  std::uint64_t bytes_in() const noexcept { return in_bytes_; }
  std::uint64_t bytes_out() const noexcept {
    if constexpr (Stack::empty) return in_bytes_;
    if constexpr (fixed_size_out) return out_ * sizeof(typename Stack::output_type);
    return out_bytes_;
  }
  /// Adds each batch's size and data bytes to these counters too (the run's progress).
  void report_to(std::atomic<std::uint64_t>* items, std::atomic<std::uint64_t>* bytes) noexcept {
    progress_ = items;
    progress_bytes_ = bytes;
  }

  void consume(std::span<const In> items) override {
    in_ += items.size();
    std::uint64_t bytes = 0;
    if constexpr (Sized) bytes = batch_data_bytes(items);
    in_bytes_ += bytes;
    if constexpr (batch_local_sink<Sink>) {
      Sink local = sink_;
      run(items, local);
      sink_ = std::move(local);
    } else {
      run(items, sink_);
    }
    if (progress_) {
      progress_->fetch_add(items.size(), std::memory_order_relaxed);
      progress_bytes_->fetch_add(bytes, std::memory_order_relaxed);
    }
  }

 private:
  // Kept out of line: the per-item loop then gets registers of its own instead of sharing them
  // with the task scheduling code it would otherwise be inlined into.
  [[gnu::noinline]] void run(std::span<const In> items, Sink& sink) {
    // With no operator, what goes out is what came in.
    auto counted = [](auto& s) {
      if constexpr (Stack::empty) {
        return std::ref(s);
      } else {
        return counting_sink<std::remove_reference_t<decltype(s)>, Sized && !fixed_size_out,
                             typename Stack::output_type>{&s};
      }
    };
    auto out = counted(sink);
    auto chain = stack_.bind(unwrap(out));
    std::size_t i = 0;
    const std::size_t n = items.size();
    try {
      if constexpr (primable_sink<Sink>) {
        // Until the first item reaches the sink, feed its plain form; then its primed form,
        // which skips the sink's per-item "is this the first?" test.
        for (; i < n && !sink.primed(); ++i) chain(items[i]);
        if (i < n) {
          auto hot = sink.prime();
          auto hot_out = counted(hot);
          auto hot_chain = stack_.bind(unwrap(hot_out));
          for (; i < n; ++i) hot_chain(items[i]);
          if constexpr (!Stack::empty) out_ += hot_out.n, out_bytes_ += hot_out.bytes;
          sink.absorb(std::move(hot));
        }
      } else {
        for (; i < n; ++i) chain(items[i]);
      }
      if constexpr (!Stack::empty) out_ += out.n, out_bytes_ += out.bytes;
      if constexpr (requires { sink.end_batch(); }) sink.end_batch();
    } catch (op_failure& f) {
      if (f.item == op_failure::no_item) f.item = i;
      throw;
    }
  }

  template <class S>
  static S& unwrap(std::reference_wrapper<S> s) noexcept {
    return s.get();
  }
  template <class S, bool Counts, class Out>
  static counting_sink<S, Counts, Out>& unwrap(counting_sink<S, Counts, Out>& s) noexcept {
    return s;
  }

  const Stack& stack_;
  Sink& sink_;
  std::uint64_t in_ = 0;
  std::uint64_t out_ = 0;
  std::uint64_t in_bytes_ = 0;
  std::uint64_t out_bytes_ = 0;
  std::atomic<std::uint64_t>* progress_ = nullptr;
  std::atomic<std::uint64_t>* progress_bytes_ = nullptr;
};

/// One object per worker thread of a stage, made on first use by that thread.
template <class T>
class per_thread {
  struct alignas(64) cell {
    std::optional<T> value;
  };

 public:
  explicit per_thread(std::size_t threads) : cells_(threads) {}

  template <class Make>
  T& local(Make&& make) {
    auto& c = cells_[thread_slot()];
    if (!c.value) c.value.emplace(make());
    return *c.value;
  }

  /// Calls f(T&) for every object made, in slot order.
  template <class F>
  void for_each(F&& f) {
    for (auto& c : cells_) {
      if (c.value) f(*c.value);
    }
  }
  template <class F>
  void for_each(F&& f) const {
    for (const auto& c : cells_) {
      if (c.value) f(*c.value);
    }
  }

  std::size_t size() const noexcept { return cells_.size(); }
  std::optional<T>& cell_at(std::size_t i) noexcept { return cells_[i].value; }

 private:
  std::vector<cell> cells_;
};

/// Returns "parent -> op -> op -> consumer", the stage's name in errors and plans.
std::string stage_name(const node_base& parent, const std::vector<std::string>& ops,
                       const std::string& consumer);

/// Runs body(p) for p in [0, n) on the run's arena, handing partitions out in order: one body
/// per thread takes the next partition from a counter. Partitions therefore finish close to
/// their order, which keeps ordered sinks (write_lines) from holding most of the output while
/// they wait for an early partition. Each partition runs isolated, so a thread that waits inside
/// a user function (nested parallelism) never picks up another partition of this stage and
/// re-enters its own per-thread state.
template <class Body>
void for_each_partition(run_state& run, std::size_t n, Body&& body) {
  if (n == 0) return;
  std::atomic<std::size_t> next{0};
  const std::size_t workers = std::min(n, run.ctx().threads());
  run.ctx().arena().run_workers(workers, [&] {
    for (;;) {
      if (stop_requested() || run.has_enough()) return;
      const std::size_t p = next.fetch_add(1, std::memory_order_relaxed);
      if (p >= n) return;
      run_isolated([&] { body(p); });
    }
  });
}

/// Pushes partition `p` of `parent` into `out`, then does `then()`. A user function that fails
/// downstream without a position of its own (sources name a file and line or an index) gets
/// "partition p of <parent>".
template <class T, class Then = void (*)()>
void push_partition_of(node<T>& parent, std::size_t p, batch_consumer<T>& out, Then then = [] {}) {
  try {
    parent.push_partition(p, out);
    then();
  } catch (op_failure& f) {
    if (f.where.empty()) f.where = "partition " + std::to_string(p) + " of " + parent.label();
    throw;
  }
}

/// Pushes every partition of `parent` through `stack` into sink_for(p), in parallel.
/// `consumer` names the operator the stage feeds (for errors).
template <class In, class Stack, class SinkFor>
void run_stage(run_state& run, node<In>& parent, const Stack& stack,
               const std::string& consumer, SinkFor&& sink_for) {
  parent.ensure_executed(run);
  const std::size_t parts = parent.partition_count();
  const std::string name = stage_name(parent, stack.labels(), consumer);
  run.begin_stage();
  stats_clock clock;
  partition_counts counts(parts);  // one thread writes each partition's
  const bool release = run.sole_reader(parent);
  auto& progress = run.ctx().progress;
  progress.begin_stage(name, parts, parent.known_items().value_or(0));
  try {
    auto partitions = [&] {
      for_each_partition(run, parts, [&](std::size_t p) {
        auto& sink = sink_for(p);
        stack_consumer<In, Stack, std::remove_reference_t<decltype(sink)>> c(stack, sink);
        c.report_to(&progress.items, &progress.bytes);
        push_partition_of(parent, p, c, [&] {
          if constexpr (requires { sink.end_partition(); }) sink.end_partition();
        });
        if (release) parent.release_partition(p);
        counts.in[p] = c.items_in();
        counts.out[p] = c.items_out();
        counts.bytes_in[p] = c.bytes_in();
        counts.bytes_out[p] = c.bytes_out();
        progress.partitions_done.fetch_add(1, std::memory_order_relaxed);
      });
    };
    // On a job of several ranks, rank 0's progress covers every rank's part of the stage.
    if (multi_rank(run.ctx())) {
      run.ctx().ranks->watch(partitions, progress);
    } else {
      partitions();
    }
  } catch (const op_failure& f) {
    throw_stage_error(f, name);
  } catch (const std::bad_alloc&) {
    throw memory_error(name);
  }
  run.record_stage(name, counts, clock);
  run.consumed(parent);
}

/// A barrier node fed by one parent through a fused operator stack. `Core` is the node's
/// machinery, which depends on the item type and the user's functions only: it readies itself
/// with begin(run), hands each input thread its state with local(), and ends with finish(run).
/// So two sorts (or reductions, groupings) of one type share Core's code whatever feeds them,
/// and only this thin layer is compiled per pipeline.
template <class Core, class Stack>
class fed_node final : public Core {
  using In = typename Stack::input_type;

 public:
  template <class... Args>
  fed_node(std::shared_ptr<node<In>> parent, Stack stack, Args&&... core_args)
      : Core(parent, stack.labels(), std::forward<Args>(core_args)...),
        parent_(std::move(parent)),
        stack_(std::move(stack)) {}

 protected:
  void execute(run_state& run) override {
    this->begin(run);
    run_stage(run, *parent_, stack_, this->label(), [&](std::size_t) -> auto& { return this->local(); });
    const stats_clock clock;
    this->finish(run);
    run.extend_stage(this->label(), clock);  // the merge and the last spills are the stage's too
  }

 private:
  std::shared_ptr<node<In>> parent_;
  Stack stack_;
};

/// Runs f(p) for p in [0, n) in parallel on the run's arena (merge phases); a user function
/// failing inside is reported for `stage`.
template <class F>
void parallel_partitions(run_state& run, std::size_t n, const std::string& stage, F&& f) {
  try {
    for_each_partition(run, n, f);
  } catch (const op_failure& fail) {
    throw_stage_error(fail, stage);
  } catch (const std::bad_alloc&) {
    throw memory_error(stage);
  }
}

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
namespace dataflow::detail {

DATAFLOW_INLINE std::string stage_name(const node_base& parent, const std::vector<std::string>& ops,
                                       const std::string& consumer) {
  std::string s = parent.label();
  for (const auto& op : ops) s += " -> " + op;
  return s + " -> " + consumer;
}

}  // namespace dataflow::detail
#endif
