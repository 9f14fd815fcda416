// Joins on key: join (inner), left_join, right_join, full_join, and co_group.
//
// Both sides are pairs (K, V). The right side's input stage puts its items into per-thread
// lists by the partition of its key's hash. For join and left_join, when the right side fits
// the budget (always, without one), each partition's rows become a hash table and the left side
// streams past the tables as the consumer reads the join: it is never held, and the output
// follows the left input's partitions and order. So put the smaller dataset on the right.
// Lookups are issued 16 rows at a time after prefetching their slots.
//
// Otherwise (right_join, full_join, co_group, or a right side over budget) the left side is
// partitioned the same way, and each output partition is joined when it is read: the side
// with fewer items there builds the table, the other streams past it. Rows of an outer side
// that find no partner come out with an empty optional.
//
// Under a memory budget the sides spill like group_by_key's lists. A spilled partition whose
// smaller side fits the thread's share is joined by loading that side and streaming the other
// from disk (a grace hash join); else both sides are split by a hash of another seed into
// sub-partitions, recursively. One key too hot for that (all rows share a hash) is joined a
// chunk of the build side at a time against the whole other side, so even a key hot on both
// sides finishes in bounded memory; its output is as large as the product of its counts.
//
// co_group hands each key once with the values of both sides as spans (valid while the
// consumer reads the item). Its groups are loaded whole, like group_by_key's.
//
// @code
// auto with_customer = orders.join(customers);      // (id, (order, customer))
// auto all = orders.left_join(customers);            // (id, (order, optional<customer>))
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/co_group_rows.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/join_table.hpp>
#include <dataflow/ops/join_inputs.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partition_lists.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/exchange.hpp>
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

namespace dataflow {

enum class join_kind { inner, left, right, full, co_group };

namespace detail {

/// Counts partitions joined a chunk of the build side at a time (hot keys), for tests.
inline std::atomic<std::uint64_t> chunked_joins_total{0};

/// A join's output item: (K, (VL, VR)), with std::optional on each side an outer join may
/// leave without a partner; co_group's is (K, (span of VL, span of VR)).
template <join_kind Kind, class K, class VL, class VR>
using join_output_t = std::pair<
    K, std::conditional_t<
           Kind == join_kind::co_group, std::pair<std::span<const VL>, std::span<const VR>>,
           std::pair<std::conditional_t<Kind == join_kind::right || Kind == join_kind::full,
                                        std::optional<VL>, VL>,
                     std::conditional_t<Kind == join_kind::left || Kind == join_kind::full,
                                        std::optional<VR>, VR>>>>;

/// In-memory lists or spilled segments of one side of one partition.
template <class T>
struct side_part {
  std::vector<spill_segment> segments;
  std::uint64_t items() const noexcept {
    std::uint64_t n = 0;
    for (const auto& s : segments) n += s.items;
    return n;
  }
  /// Memory to hold it: its bytes plus a row's bookkeeping in the build table.
  std::uint64_t need() const noexcept {
    std::uint64_t n = 0;
    // Decoded rows, their pointers, and a table entry and row copy each.
    for (const auto& s : segments) n += s.bytes + s.items * (2 * sizeof(T) + 48);
    return n;
  }
};

template <class L, class SL, class R, class SR, join_kind Kind>
class join_node final
    : public node<join_output_t<Kind, std::remove_cv_t<typename L::first_type>,
                                std::remove_cv_t<typename L::second_type>,
                                std::remove_cv_t<typename R::second_type>>>,
      private join_inputs<L, SL, R, SR> {
  using inputs = join_inputs<L, SL, R, SR>;
  using typename inputs::InL;
  using inputs::blocks;
  using inputs::count;
  using inputs::gather;
  using inputs::load;
  using inputs::left_;
  using inputs::left_locals_;
  using inputs::left_parts_;
  using inputs::left_segments_;
  using inputs::left_stack_;
  using inputs::options_;
  using inputs::parts_;
  using inputs::policy_;
  using inputs::right_locals_;
  using inputs::right_segments_;
  using inputs::spilled_;
  using inputs::streaming_;
  using inputs::tables_;
  using K = std::remove_cv_t<typename L::first_type>;
  using VL = std::remove_cv_t<typename L::second_type>;
  using VR = std::remove_cv_t<typename R::second_type>;

 public:
  using Out = join_output_t<Kind, K, VL, VR>;

 private:
  static constexpr bool keep_left = Kind == join_kind::left || Kind == join_kind::full;
  static constexpr bool keep_right = Kind == join_kind::right || Kind == join_kind::full;
  static constexpr std::size_t out_step = std::max<std::size_t>(batch_items<Out>, 1024);
  // Joins that emit nothing for right rows without a partner can stream the left side.
  static constexpr bool streams_left = Kind == join_kind::inner || Kind == join_kind::left;

 public:
  join_node(std::shared_ptr<node<InL>> left, SL left_stack,
            std::shared_ptr<node<typename inputs::InR>> right, SR right_stack, const char* op,
            shuffle_options options)
      : node<Out>(left->ctx_ptr(), op, node_kind::barrier, {left, right},
                  node_base::ops_per_parent{{left_stack.labels(), right_stack.labels()}}),
        inputs(*this, op, std::move(left), std::move(left_stack), std::move(right),
               std::move(right_stack), options) {}

  std::string input_label(std::size_t i) const override {
    return this->label() + (i == 0 ? " (left)" : " (right)");
  }
  std::string describe_input() const override {
    return "hash shuffle both sides into " +
           std::to_string(spilling_shuffle_partitions(options_.partitions, this->ctx())) +
           " partitions, build on the smaller side";
  }
  std::size_t partition_count() const override { return streaming_ ? left_parts_ : parts_; }

  void push_partition(std::size_t p, batch_consumer<Out>& out) override {
    emitter e{out, {}};
    e.buf.reserve(out_step);
    if (streaming_) {
      stream_probe(p, e);
    } else if (spilled_) {
      join_spilled(left_segments_[p], right_segments_[p], 0, e);
    } else {
      join_in_memory(p, e);
    }
    e.flush();
  }

  void dispose() noexcept override { this->clear_inputs(); }

  /// Spilled: partition p's segments of both sides give their space and page cache back once
  /// it is read, as reduce_by_key's do.
  void release_partition(std::size_t p) noexcept override {
    if (!spilled_ || streaming_) return;
    if (p < left_segments_.size()) release_space(left_segments_[p]);
    if (p < right_segments_.size()) release_space(right_segments_[p]);
  }

 protected:
  void execute(run_state& run) override { this->run_inputs(run, streams_left); }


 private:
  // Collects output items and hands them downstream in batches.
  struct emitter {
    batch_consumer<Out>& out;
    std::vector<Out> buf;
    template <class... A>
    void emit(A&&... a) {
      buf.emplace_back(std::forward<A>(a)...);
      if (buf.size() == out_step) flush();
    }
    void flush() {
      if (!buf.empty()) out.consume(std::span<const Out>(buf));
      buf.clear();
    }
  };

  // Emits one joined row; a null side is the missing partner of an outer row.
  void emit_row(emitter& e, const L* l, const R* r) {
    const K& key = l ? l->first : K(r->first);
    if constexpr (Kind == join_kind::inner) {
      e.emit(key, std::pair<VL, VR>(l->second, r->second));
    } else if constexpr (Kind == join_kind::left) {
      e.emit(key, std::pair<VL, std::optional<VR>>(
                      l->second, r ? std::optional<VR>(r->second) : std::nullopt));
    } else if constexpr (Kind == join_kind::right) {
      e.emit(key, std::pair<std::optional<VL>, VR>(
                      l ? std::optional<VL>(l->second) : std::nullopt, r->second));
    } else {
      e.emit(key, std::pair<std::optional<VL>, std::optional<VR>>(
                      l ? std::optional<VL>(l->second) : std::nullopt,
                      r ? std::optional<VR>(r->second) : std::nullopt));
    }
  }


  // Probes the right side's tables with the left rows of one input batch. Rows of plain types
  // wait in groups of 16 while their table slots load, so the lookups overlap their misses.
  struct probe_sink {
    static constexpr bool pipelined = plain_v<L> && std::is_default_constructible_v<L>;
    static constexpr std::size_t group = 16;
    join_node* self;
    emitter* e;
    std::array<L, pipelined ? group : 1> rows{};
    std::array<std::uint64_t, pipelined ? group : 1> hashes{};
    std::size_t waiting = 0;
    // A row's views may point into a temporary of the operator before (a map's result), gone
    // once this call returns; rows that wait, and output that keeps their views until the end
    // of the batch, use a copy of the bytes here instead.
    arena bytes;

    template <class X>
    void operator()(X&& x) {
      const L& in = x;
      decltype(auto) row = intern(bytes, in);
      const std::string& label = self->label();
      const std::uint64_t h = invoke_user(label, [&] { return table_hash(row.first); });
      if constexpr (pipelined) {
        self->tables_[partition_of(h, self->parts_)].table.prefetch(h);
        rows[waiting] = row;
        hashes[waiting] = h;
        if (++waiting == group) drain();
      } else {
        self->probe_row(row, h, *e);
      }
    }
    // Looks the waiting rows up, starts loading the rows they found, then emits.
    void drain() {
      std::array<const typename join_table<R>::entry*, group> hits;
      const std::string& label = self->label();
      for (std::size_t i = 0; i < waiting; ++i) {
        auto& t = self->tables_[partition_of(hashes[i], self->parts_)];
        hits[i] = t.find_hashed(label, hashes[i], rows[i].first);
        if (hits[i] && hits[i]->end - hits[i]->begin > 1) __builtin_prefetch(t.row(hits[i]->begin));
      }
      for (std::size_t i = 0; i < waiting; ++i) {
        auto& t = self->tables_[partition_of(hashes[i], self->parts_)];
        self->emit_hits(rows[i], t, hits[i], *e);
      }
      waiting = 0;
    }
    // Views in the left rows live only as long as the input batch.
    void end_batch() {
      if constexpr (pipelined) drain();
      e->flush();
      if constexpr (has_views_v<L>) bytes.reset();
    }
  };

  void probe_row(const L& row, std::uint64_t h, emitter& e) {
    auto& t = tables_[partition_of(h, parts_)];
    emit_hits(row, t, t.find_hashed(this->label(), h, row.first), e);
  }

  void emit_hits(const L& row, const join_table<R>& t, const typename join_table<R>::entry* hit,
                 emitter& e) {
    if (hit) {
      if (hit->end - hit->begin == 1) {
        emit_row(e, &row, t.first_row(*hit));
        return;
      }
      for (std::uint32_t i = hit->begin; i < hit->end; ++i) emit_row(e, &row, t.row(i));
    } else if constexpr (keep_left) {
      emit_row(e, &row, nullptr);
    }
  }

  void stream_probe(std::size_t p, emitter& e) {
    if constexpr (streams_left) {
      probe_sink sink{this, &e, {}, {}, 0, {}};
      stack_consumer<InL, SL, probe_sink, false> c(left_stack_, sink);
      push_partition_of(*left_, p, c);
    }
  }

  // Joins build rows against a stream of probe rows. `probe_blocks(f)` calls f with each block
  // of the probe side. Build is the left side when BuildIsLeft. Unmatched outer probe rows are
  // emitted as they pass unless `defer_unmatched_probe` (the caller knows better).
  template <bool BuildIsLeft, class B, class ProbeBlocks>
  void hash_join(const std::vector<const B*>& build_items, ProbeBlocks&& probe_blocks,
                 emitter& e, bool defer_unmatched_probe) {
    using P = std::conditional_t<BuildIsLeft, R, L>;
    constexpr bool keep_build = BuildIsLeft ? keep_left : keep_right;
    constexpr bool keep_probe = BuildIsLeft ? keep_right : keep_left;
    const std::string& label = this->label();
    join_table<B> t;
    t.build(label, build_items, keep_build);
    auto emit = [&](const B* b, const P* p) {
      if constexpr (BuildIsLeft) {
        emit_row(e, b, p);
      } else {
        emit_row(e, p, b);
      }
    };
    probe_blocks([&](std::span<const P> block) {
      if (stop_requested()) return;
      for (const P& p : block) {
        const auto* hit = t.find(label, p.first);
        if (hit) {
          for (std::uint32_t i = hit->begin; i < hit->end; ++i) {
            emit(t.row(i), &p);
            if constexpr (keep_build) t.matched[i] = 1;
          }
        } else if constexpr (keep_probe) {
          if (!defer_unmatched_probe) emit(nullptr, &p);
        }
      }
      e.flush();  // a block read from disk holds the probe rows' bytes only until the next
    });
    if constexpr (keep_build) {
      for (std::size_t i = 0; i < t.rows.size(); ++i) {
        if (!t.matched[i]) emit(t.row(i), nullptr);
      }
    }
    e.flush();  // the build rows may go with the caller's chunk
  }

  void join_in_memory(std::size_t p, emitter& e) {
    if constexpr (Kind == join_kind::co_group) {
      co_group_rows<K, VL, VR>(this->label(), gather(*left_locals_, p), gather(*right_locals_, p), e);
    } else if (count(*left_locals_, p) <= count(*right_locals_, p)) {
      hash_join<true>(gather(*left_locals_, p), blocks(*right_locals_, p), e, false);
    } else {
      hash_join<false>(gather(*right_locals_, p), blocks(*left_locals_, p), e, false);
    }
  }

  // ---- Spilled partitions. ----

  void join_spilled(const std::vector<spill_segment>& left_segs,
                    const std::vector<spill_segment>& right_segs, unsigned level, emitter& e) {
    const std::string& label = this->label();
    side_part<L> l{left_segs};
    side_part<R> r{right_segs};
    const std::uint64_t share = policy_.thread_share;
    if constexpr (Kind == join_kind::co_group) {
      if (l.need() + r.need() <= share || level >= spill_policy::max_level) {
        block_list<L> ll;
        block_list<R> rl;
        arena bytes;
        std::vector<const L*> li;
        std::vector<const R*> ri;
        load(left_segs, label, ll, bytes, li);
        load(right_segs, label, rl, bytes, ri);
        co_group_rows<K, VL, VR>(label, li, ri, e);
        return;
      }
    } else {
      if (l.items() == 0 && r.items() == 0) return;
      const bool left_builds = l.need() <= r.need();
      const std::uint64_t build_need = left_builds ? l.need() : r.need();
      if (build_need <= share) {
        if (left_builds) {
          block_list<L> list;
          arena bytes;
          std::vector<const L*> items;
          load(left_segs, label, list, bytes, items);
          hash_join<true>(items, inputs::template stream<R>(right_segs, label), e, false);
        } else {
          block_list<R> list;
          arena bytes;
          std::vector<const R*> items;
          load(right_segs, label, list, bytes, items);
          hash_join<false>(items, inputs::template stream<L>(left_segs, label), e, false);
        }
        return;
      }
      if (level >= spill_policy::max_level) {
        if (left_builds) {
          chunked_join<true, L, R>(left_segs, right_segs, e);
        } else {
          chunked_join<false, R, L>(right_segs, left_segs, e);
        }
        return;
      }
    }
    bool left_hot = false, right_hot = false;
    auto left_parts = inputs::template split<L>(left_segs, level + 1, left_hot);
    auto right_parts = inputs::template split<R>(right_segs, level + 1, right_hot);
    for (std::size_t i = 0; i < spill_policy::fan_out; ++i) {
      if (stop_requested()) return;
      if (left_parts[i].empty() && right_parts[i].empty()) continue;
      // A side whose rows all share one hash (a hot key) cannot be split further: the
      // sub-partition holding it goes to the last level, where it is joined a chunk at a time.
      const bool hot = (left_hot && !left_parts[i].empty()) || (right_hot && !right_parts[i].empty());
      join_spilled(left_parts[i], right_parts[i], hot ? spill_policy::max_level : level + 1, e);
    }
  }

  /// Joins a build side too big for memory (a hot key) a chunk at a time: each chunk that fits
  /// the share is joined against the whole probe stream. Whether an outer probe row has a
  /// partner is known only after the last chunk; all rows of a key match or none do, so the
  /// build side's distinct keys (few: one hot key, or the rare keys that share its hash) tell,
  /// in a second pass over the probe side.
  template <bool BuildIsLeft, class B, class P>
  void chunked_join(const std::vector<spill_segment>& build_segs,
                    const std::vector<spill_segment>& probe_segs, emitter& e) {
    constexpr bool keep_probe = BuildIsLeft ? keep_right : keep_left;
    using KB = std::remove_cv_t<typename B::first_type>;
    const std::string& label = this->label();
    chunked_joins_total.fetch_add(1, std::memory_order_relaxed);
    struct key_entry {
      KB key;
    };
    auto key_of = [](const key_entry& k) -> const KB& { return k.key; };
    hash_table<key_entry> build_keys;
    arena key_bytes;
    block_list<B> list;
    arena bytes;
    std::vector<const B*> items;
    std::size_t held = 0;
    auto run_chunk = [&] {
      hash_join<BuildIsLeft>(items, inputs::template stream<P>(probe_segs, label), e, keep_probe);
      items.clear();
      list.clear();
      bytes.reset();
      held = 0;
    };
    for (const auto& seg : build_segs) {
      if (stop_requested()) return;
      for_each_spilled<B>(seg, label, [&](const B& x) {
        const B& kept = list.emplace_back(intern(bytes, x));
        items.push_back(&kept);
        held += sizeof(B) + 48;
        if constexpr (may_own_heap<B>) held += heap_bytes(kept);
        if constexpr (keep_probe) {
          invoke_user(label, [&] {
            build_keys.find_or_emplace(table_hash(kept.first), kept.first, key_of, [&] {
              return key_entry{KB(intern(key_bytes, kept.first))};
            });
          });
        }
        if (held + bytes.bytes_used() > policy_.thread_share) run_chunk();
      });
    }
    if (!items.empty()) run_chunk();
    if constexpr (keep_probe) {
      inputs::template stream<P>(probe_segs, label)([&](std::span<const P> block) {
        for (const P& p : block) {
          const bool matched = invoke_user(label, [&] {
            return build_keys.find(table_hash(p.first), p.first, key_of) != nullptr;
          });
          if (matched) continue;
          if constexpr (BuildIsLeft) {
            emit_row(e, nullptr, &p);
          } else {
            emit_row(e, &p, nullptr);
          }
        }
        e.flush();
      });
    }
  }

};

/// Checks that two datasets can be joined and makes the node.
template <join_kind Kind, class L, class SL, class Right>
auto make_join(const dataset<L, SL>& left, const Right& right, const char* op,
               shuffle_options options) {
  using R = typename Right::value_type;
  static_assert(is_pair_v<L> && is_pair_v<R>,
                "dataflow: join, left_join, right_join, full_join and co_group take datasets of "
                "std::pair<K, V> on both sides; map the items to (key, value) pairs first");
  using KL = std::remove_cv_t<typename L::first_type>;
  using KR = std::remove_cv_t<typename R::first_type>;
  static_assert(std::is_same_v<stored_t<KL>, stored_t<KR>>,
                "dataflow: the two sides of a join must have the same key type (std::string and "
                "std::string_view count as the same); convert one side's keys first");
  static_assert(key_type<KL> && hashable<KL>,
                "dataflow: join keys must be comparable with == and hashable (specialize "
                "dataflow::hash<K> or std::hash<K>)");
  // On a job of several ranks, each side's items go to the rank of their key first.
  auto node = exchange_input(
      left.node(), left.stack(), [](const L& x) { return table_hash(x.first); },
      [&](auto left_node, auto left_stack) {
        return exchange_input(
            right.node(), right.stack(), [](const R& x) { return table_hash(x.first); },
            [&](auto right_node, auto right_stack) {
              using Node = join_node<L, decltype(left_stack), R, decltype(right_stack), Kind>;
              return std::make_shared<Node>(left_node, left_stack, right_node, right_stack, op, options);
            });
      });
  return dataset<typename decltype(node)::element_type::value_type>(std::move(node));
}

}  // namespace detail

template <class T, class Stack>
template <class Right>
auto dataset<T, Stack>::join(const Right& right, shuffle_options options) const {
  return detail::make_join<join_kind::inner>(*this, right, "join", options);
}

template <class T, class Stack>
template <class Right>
auto dataset<T, Stack>::left_join(const Right& right, shuffle_options options) const {
  return detail::make_join<join_kind::left>(*this, right, "left_join", options);
}

template <class T, class Stack>
template <class Right>
auto dataset<T, Stack>::right_join(const Right& right, shuffle_options options) const {
  return detail::make_join<join_kind::right>(*this, right, "right_join", options);
}

template <class T, class Stack>
template <class Right>
auto dataset<T, Stack>::full_join(const Right& right, shuffle_options options) const {
  return detail::make_join<join_kind::full>(*this, right, "full_join", options);
}

template <class T, class Stack>
template <class Right>
auto dataset<T, Stack>::co_group(const Right& right, shuffle_options options) const {
  return detail::make_join<join_kind::co_group>(*this, right, "co_group", options);
}

}  // namespace dataflow
