// exchange: on a job of several ranks (graph/cluster.hpp), sends every item to the rank a router
// names. A shuffle puts one before it, so that all the items of a key meet on one rank, which
// then reduces, groups or joins them as a process on its own would.
//
// The router is a function of the item, or a class that also learns from the items before the
// stage (learn(run, parent), then the collective agree(ctx)): a sort's splitters.
//
// The input stage encodes each item (codec.hpp) into its thread's buffer for the item's rank, in
// blocks of a count and the items' bytes. When the stage ends, the settled ranks send each other
// their blocks in one exchange; the output is what this rank received, one block per partition,
// decoded as it is read (a decoded view points into the received bytes, which live until the
// node is disposed).
#pragma once

#include <dataflow/codec.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/graph/cluster.hpp>
#include <dataflow/graph/memory_gauge.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/handle.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/item_buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
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
  // A block: its item count and byte count, then the encoded items.
  struct block_header {
    std::uint32_t items;
    std::uint32_t bytes;
  };
  static constexpr std::size_t block_bytes = std::size_t{256} << 10;

  struct local_buffers {
    std::vector<std::vector<char>> to;    // per rank, whole blocks and the open one
    std::vector<std::size_t> open_at;     // per rank, where the open block's header is
    std::vector<std::uint32_t> open_items;
    exchange_node* self;
    gauge_charge charge;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::size_t r = invoke_user(self->label(), [&] { return self->router_(item); });
      std::vector<char>& buf = to[r];
      if (open_items[r] == 0) {
        open_at[r] = buf.size();
        buf.resize(buf.size() + sizeof(block_header));
      }
      byte_writer w(buf);
      invoke_user(self->label(), [&] { encode(w, item); });  // a codec of the user's may throw
      if (++open_items[r] == UINT32_MAX || buf.size() - open_at[r] >= block_bytes) close(r);
    }
    void close(std::size_t r) noexcept {
      if (open_items[r] == 0) return;
      block_header h{open_items[r], static_cast<std::uint32_t>(to[r].size() - open_at[r] - sizeof(block_header))};
      std::memcpy(to[r].data() + open_at[r], &h, sizeof h);
      open_items[r] = 0;
    }
    void end_batch() noexcept {
      std::size_t held = 0;
      for (const auto& b : to) held += b.capacity();
      charge.set(held);
    }
  };

  struct block {
    std::size_t from;    // the rank that sent it
    std::size_t offset;  // of its items in received_[from]
    block_header header;
  };

 public:
  exchange_node(std::shared_ptr<node<T>> parent, Router router)
      : node<T>(parent->ctx_ptr(), "exchange", node_kind::barrier, {parent}, std::vector<std::string>{}),
        parent_(std::move(parent)),
        router_(std::move(router)) {
    this->set_runs_across_ranks();
  }

  std::string describe_input() const override { return "send each item to the rank of its key"; }
  std::size_t partition_count() const override { return blocks_.size(); }
  std::optional<std::uint64_t> known_items() const override {
    std::uint64_t n = 0;
    for (const auto& b : blocks_) n += b.header.items;
    return n;
  }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    const block& b = blocks_[p];
    const char* at = received_[b.from].data() + b.offset;
    arena scratch;
    byte_reader reader(at, at + b.header.bytes, scratch);
    item_buffer<T> batch;
    batch.reserve(std::min<std::size_t>(batch_items<T>, b.header.items));
    for (std::uint32_t i = 0; i < b.header.items && !stop_requested();) {
      batch.clear();
      for (; i < b.header.items && batch.size() < batch_items<T>; ++i) batch.emplace_back(decode<T>(reader));
      out.consume(batch.span());
    }
  }

  void dispose() noexcept override {
    blocks_.clear();
    received_.clear();
    received_charge_.set(0);
  }

 protected:
  void execute(run_state& run) override {
    context_state& ctx = run.ctx();
    const std::size_t ranks = rank_count(ctx);
    std::vector<std::vector<char>> to(ranks);
    // A router that learns from the items first (a sort's splitters) looks at this rank's, then
    // agrees with every rank on where each item goes.
    if constexpr (requires(Router& r) { r.learn(run, *parent_); }) {
      settle(ctx, [&] { router_.learn(run, *parent_); });
      router_.agree(ctx);
    }
    settle(ctx, [&] {
      per_thread<local_buffers> locals(ctx.threads());
      run_stage(run, *parent_, op_stack<T>{}, this->label(), [&](std::size_t) -> local_buffers& {
        return locals.local([&] {
          return local_buffers{std::vector<std::vector<char>>(ranks), std::vector<std::size_t>(ranks),
                               std::vector<std::uint32_t>(ranks), this, gauge_charge(ctx.charged)};
        });
      });
      // One message per rank: every thread's blocks for it, one after another.
      locals.for_each([&](local_buffers& l) {
        for (std::size_t r = 0; r < ranks; ++r) {
          l.close(r);
          if (to[r].empty()) {
            to[r] = std::move(l.to[r]);
          } else {
            to[r].insert(to[r].end(), l.to[r].begin(), l.to[r].end());
          }
          l.to[r] = {};
        }
      });
    });
    const std::size_t me = rank_of(ctx);
    std::uint64_t sent = 0, received = 0;
    for (std::size_t r = 0; r < to.size(); ++r) sent += r == me ? 0 : to[r].size();
    const stats_clock clock;
    received_ = ctx.ranks->exchange(std::move(to));
    for (std::size_t r = 0; r < received_.size(); ++r) received += r == me ? 0 : received_[r].size();
    run.record_exchange(this->label(), sent, received, clock.wall());
    std::size_t held = 0;
    for (std::size_t r = 0; r < received_.size(); ++r) {
      const std::vector<char>& bytes = received_[r];
      held += bytes.size();
      for (std::size_t at = 0; at < bytes.size();) {
        block b{r, at + sizeof(block_header), {}};
        if (bytes.size() - at < sizeof(block_header)) throw error("dataflow: " + this->label() + ": a message from rank " + std::to_string(r) + " ends inside a block header");
        std::memcpy(&b.header, bytes.data() + at, sizeof(block_header));
        at = b.offset + b.header.bytes;
        if (at > bytes.size()) throw error("dataflow: " + this->label() + ": a message from rank " + std::to_string(r) + " ends inside a block");
        blocks_.push_back(b);
      }
    }
    received_charge_ = gauge_charge(ctx.charged);
    received_charge_.set(held);
  }

 private:
  std::shared_ptr<node<T>> parent_;
  Router router_;
  std::vector<std::vector<char>> received_;  // by sending rank
  std::vector<block> blocks_;
  gauge_charge received_charge_;
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
