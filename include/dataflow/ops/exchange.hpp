// exchange: on a job of several ranks (graph/cluster.hpp), sends every item to the rank a router
// names. A shuffle puts one before it, so that all the items of a key meet on one rank, which
// then reduces, groups or joins them as a process on its own would.
//
// The router is a function of the item, or a class that also learns from the items before the
// stage (learn(run, parent), then the collective agree(ctx)): a sort's splitters.
//
// The input stage encodes each item (codec.hpp) into its thread's open block for the item's rank
// (a count and the items' bytes: 256 KiB, less under a small budget). A full block goes at once,
// while the stage runs: the thread that talks to the job sends it (cluster::stream; a bounded
// outbox holds those not yet sent) and stores what arrives, in memory up to a share of the
// budget and on disk beyond it (storage/received_blocks.hpp). The output is what this rank
// received, one block per partition, decoded as it is read (a decoded view points into the
// block, in memory or read back from disk, and is valid while the consumer's call lasts).
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/graph/block_outbox.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/memory_gauge.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/handle.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/item_buffer.hpp>
#include <dataflow/storage/received_blocks.hpp>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dataflow::detail {

/// The rank that owns a key's hash: picked from the hash times an odd constant, so that it is
/// independent of both the hash's high bits (which pick a shuffle's partition) and its low bits
/// (which pick a table slot) on the rank that receives it.
inline std::size_t rank_of_hash(std::uint64_t hash, std::size_t ranks) noexcept {
  return partition_of(hash * 0x9E3779B97F4A7C15ull, ranks);
}

template <class T, class Router>
class exchange_node final : public node<T> {
  using block_header = exchange_block_header;
  static constexpr std::size_t largest_block = std::size_t{256} << 10;

  // One thread's open block per rank. A full block goes at once: to the outbox for another
  // rank, to the received blocks for this one.
  struct local_buffers {
    std::vector<std::vector<char>> to;  // per rank, the open block (its header first)
    std::vector<std::uint32_t> open_items;
    exchange_node* self;
    gauge_charge charge;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::size_t r = invoke_user(self->label(), [&] { return self->router_(item); });
      std::vector<char>& buf = to[r];
      if (open_items[r] == 0) buf.resize(sizeof(block_header));  // grows with its items
      byte_writer w(buf);
      invoke_user(self->label(), [&] { encode(w, item); });  // a codec of the user's may throw
      if (++open_items[r] == UINT32_MAX || buf.size() >= self->block_bytes_) ship(r);
    }
    void ship(std::size_t r) {
      if (open_items[r] == 0) return;
      std::vector<char>& buf = to[r];
      block_header h{open_items[r], static_cast<std::uint32_t>(buf.size() - sizeof(block_header))};
      std::memcpy(buf.data(), &h, sizeof h);
      open_items[r] = 0;
      const std::size_t bytes = buf.capacity();
      self->ship(r, std::move(buf));
      buf = std::vector<char>();
      // The outbox (or the received blocks) charges the block from now on: this thread no
      // longer does, up to what it charged at its last batch's end.
      charge.set(charge.held() - std::min(charge.held(), bytes));
    }
    void end_batch() {
      std::size_t held = 0;
      for (const auto& b : to) held += b.capacity();
      charge.set(held);
      // Another rank failed: this stage stops within a batch.
      if (self->outbox_->stopping()) throw block_outbox::stopped{};
    }
  };

 public:
  exchange_node(std::shared_ptr<node<T>> parent, Router router)
      : node<T>(parent->ctx_ptr(), "exchange", node_kind::barrier, {parent}, std::vector<std::string>{}),
        parent_(std::move(parent)),
        router_(std::move(router)) {
    this->set_runs_across_ranks();
  }

  std::string describe_input() const override { return "send each item to the rank of its key"; }
  std::size_t partition_count() const override { return received_ ? received_->size() : 0; }
  std::optional<std::uint64_t> known_items() const override {
    return received_ ? received_->items() : 0;
  }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    std::vector<char> buf;
    const std::span<const char> bytes = received_->payload(p, buf);
    const std::uint32_t items = received_->items(p);
    arena scratch;
    byte_reader reader(bytes.data(), bytes.data() + bytes.size(), scratch);
    item_buffer<T> batch;
    batch.reserve(std::min<std::size_t>(batch_items<T>, items));
    for (std::uint32_t i = 0; i < items && !stop_requested();) {
      batch.clear();
      for (; i < items && batch.size() < batch_items<T>; ++i) batch.emplace_back(decode<T>(reader));
      out.consume(batch.span());
    }
  }

  void release_partition(std::size_t p) noexcept override {
    if (received_) received_->release(p);
  }

  void dispose() noexcept override { received_.reset(); }

 protected:
  void execute(run_state& run) override {
    context_state& ctx = run.ctx();
    const std::size_t ranks = rank_count(ctx);
    // A router that learns from the items first (a sort's splitters) looks at this rank's, then
    // agrees with every rank on where each item goes.
    if constexpr (requires(Router& r) { r.learn(run, *parent_); }) {
      settle(ctx, [&] { router_.learn(run, *parent_); });
      router_.agree(ctx);
    }
    // The stages before this one run here, on the thread that talks to the job: they may
    // exchange too. Only this stage runs beside the sending and receiving.
    // Under a budget, what is in flight and what is received in memory each take a share of
    // what a barrier's threads may hold; the rest of what arrives waits on disk.
    std::size_t share = 0;
    settle(ctx, [&] {  // whatever fails here, on any rank, fails every rank before the stream
      parent_->ensure_executed(run);
      const spill_policy policy = spill_policy::for_context(ctx);
      share = policy.limited() ? policy.thread_share * ctx.threads() : std::size_t{256} << 20;
      // Blocks as large as a spill's under a small budget: a thread holds one per rank.
      block_bytes_ = policy.limited() ? std::clamp<std::size_t>(policy.block_bytes, 16 << 10, largest_block) : largest_block;
      received_.emplace(ctx.spill_dir(this->label()), this->label(),
                        policy.limited() ? share / 2 : std::numeric_limits<std::size_t>::max(), ctx.charged);
    });
    block_outbox out(std::max(share / 4, 4 * block_bytes_), &ctx.charged);
    me_ = rank_of(ctx);
    outbox_ = &out;
    sent_ = 0;
    std::atomic<std::uint64_t> received{0};
    const stats_clock clock;
    tail_from_ = 0;
    std::exception_ptr failed = ctx.ranks->stream(
        out,
        [&](std::size_t from, std::vector<char>&& bytes) {
          received.fetch_add(bytes.size(), std::memory_order_relaxed);
          received_->add(from, std::move(bytes));
        },
        [&] {
          per_thread<local_buffers> locals(ctx.threads());
          run_stage(run, *parent_, op_stack<T>{}, this->label(), [&](std::size_t) -> local_buffers& {
            return locals.local([&] {
              return local_buffers{std::vector<std::vector<char>>(ranks), std::vector<std::uint32_t>(ranks), this,
                                   gauge_charge(ctx.charged)};
            });
          });
          locals.for_each([&](local_buffers& l) {
            for (std::size_t r = 0; r < ranks; ++r) l.ship(r);
          });
          tail_from_ = clock.wall();
        },
        ctx.progress);
    outbox_ = nullptr;
    const double tail = clock.wall() - tail_from_;
    settle_failure(ctx, failed, failed ? what_of(failed) : std::string());
    received_->seal();
    // Time in communication: a thread's wait for room to send (on average), and the wait for
    // the other ranks at the end.
    // Blocks received before this rank's part began or after it ended that went to disk were
    // written outside the stage's own figures: all the stream spilled is the stage's.
    run.record_exchange(this->label(), sent_.load(), received.load(),
                        tail + out.waited_seconds() / static_cast<double>(ctx.threads()), clock);
  }

 private:
  /// Sends a full block on its way: to the outbox for another rank, kept for this one.
  void ship(std::size_t r, std::vector<char>&& block) {
    if (outbox_->stopping()) throw block_outbox::stopped{};  // another rank failed
    if (block.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
      throw error("dataflow: " + this->label() + ": an item of more than 2 GiB, encoded, cannot be sent between ranks");
    }
    if (r == me_) {
      received_->add(r, std::move(block));
    } else {
      sent_.fetch_add(block.size(), std::memory_order_relaxed);
      outbox_->post(r, std::move(block));
    }
  }

  std::shared_ptr<node<T>> parent_;
  Router router_;
  std::optional<received_blocks> received_;
  block_outbox* outbox_ = nullptr;  // while the stage runs
  std::size_t me_ = 0;
  std::size_t block_bytes_ = largest_block;
  std::atomic<std::uint64_t> sent_{0};
  double tail_from_ = 0;  // when this rank's part ended, on the stage's clock
};

// The shuffles' ways across ranks. Only a program built with DATAFLOW_ACROSS_RANKS (the CMake
// target dataflow::mpi defines it) compiles them: any other program keeps its nodes as they were,
// and a run that finds a job of several ranks without them refuses the shuffle (node.hpp).
#if defined(DATAFLOW_ACROSS_RANKS)
inline constexpr bool across_ranks_built = true;
#else
inline constexpr bool across_ranks_built = false;
#endif

/// Refuses items that cannot travel between ranks, naming the operator.
[[noreturn]] inline void no_codec_across_ranks(const std::string& op) {
  throw usage_error("dataflow: " + op + ": its items cannot be sent between the ranks of a job: "
                    "give their type a codec (see <dataflow/codec.hpp>)");
}

/// On a job of several ranks: `local` (this rank's part of an operation), an exchange by the
/// router that make_router(ranks) makes, and make_final(received), the operation on what
/// arrived; on one process, `local` itself.
template <class T, class MakeRouter, class MakeFinal>
std::shared_ptr<node<T>> across_ranks_after(std::shared_ptr<node<T>> local, MakeRouter&& make_router,
                                            MakeFinal&& make_final) {
  if constexpr (across_ranks_built) {
    context_state& ctx = local->ctx();
    if (!multi_rank(ctx)) return local;
    if constexpr (encodable<T> && encodable<stored_t<T>>) {
      auto router = make_router(rank_count(ctx));
      local->rename(local->label() + " (this rank)");
      local->set_runs_across_ranks();
      auto received = std::make_shared<exchange_node<T, decltype(router)>>(local, std::move(router));
      std::shared_ptr<node<T>> final = make_final(std::move(received));
      final->set_runs_across_ranks();
      return final;
    } else {
      no_codec_across_ranks(local->label());
    }
  } else {
    (void)make_router;
    (void)make_final;
    return local;
  }
}

/// across_ranks_after with each item sent to the rank of its key's hash.
template <class T, class KeyHash, class MakeFinal>
std::shared_ptr<node<T>> combine_across_ranks(std::shared_ptr<node<T>> local, KeyHash key_hash,
                                              MakeFinal&& make_final) {
  auto by_hash = [&](std::size_t ranks) {
    return [key_hash, ranks](const T& x) { return rank_of_hash(key_hash(x), ranks); };
  };
  return across_ranks_after<T>(std::move(local), by_hash, std::forward<MakeFinal>(make_final));
}

/// On a job of several ranks, a keyed reduction of this rank's items (a Core: reduce_core),
/// then the same reduction of what the ranks send each other by key; on one process, `local`.
template <class Core>
std::shared_ptr<node<typename Core::value_type>> reduce_across_ranks(std::shared_ptr<Core> local, const char* op) {
  using T = typename Core::value_type;
  const auto& rules = local->rules();
  const auto options = local->options();
  const std::string label = local->label();
  return combine_across_ranks<T>(
      local, [rules, label](const T& x) { return table_hash(rules.key_of(label, x)); },
      [&](std::shared_ptr<node<T>> received) -> std::shared_ptr<node<T>> {
        return std::make_shared<fed_node<Core, op_stack<T>>>(received, op_stack<T>{}, rules, op, options);
      });
}

/// The input of a shuffle that must see every item of a key on one rank (a grouping, a join):
/// make(parent, stack) on one process; on a job of several ranks, make(received, op_stack<T>{})
/// where `received` is what an exchange by `key_hash` of parent's items (through `stack`) brought
/// to this rank.
template <class In, class Stack, class KeyHash, class Make>
auto exchange_input(const std::shared_ptr<node<In>>& parent, const Stack& stack, KeyHash key_hash, Make&& make) {
  using T = typename Stack::output_type;
  using Out = typename decltype(make(parent, stack))::element_type::value_type;
  std::shared_ptr<node<Out>> made;
  if constexpr (across_ranks_built) {
    context_state& ctx = parent->ctx();
    if (multi_rank(ctx)) {
      if constexpr (encodable<T>) {
        const std::size_t ranks = rank_count(ctx);
        auto route = [key_hash, ranks](const T& x) { return rank_of_hash(key_hash(x), ranks); };
        std::shared_ptr<node<T>> flat = erase_stack<T>(parent, stack);
        auto received = std::make_shared<exchange_node<T, decltype(route)>>(flat, std::move(route));
        made = make(std::shared_ptr<node<T>>(std::move(received)), op_stack<T>{});
        made->set_runs_across_ranks();
        return made;
      } else {
        no_codec_across_ranks(parent->label());
      }
    }
  }
  (void)key_hash;
  made = make(parent, stack);
  return made;
}

}  // namespace dataflow::detail
