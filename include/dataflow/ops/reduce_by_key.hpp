// reduce_by_key / reduce_by: merge the items that share a key.
//
// Pre phase (the input stage): each thread folds its items into its own hash tables, one per
// output partition, so that a key seen a million times costs one entry and hot keys stay in
// cache. Lookups are software-pipelined: an item's slot is prefetched when it arrives and the
// item is folded in sixteen items later, so that cache misses on cold keys overlap instead of
// queueing. Post phase: partition p merges the threads' tables for p into the largest of them,
// in parallel over partitions; the next stage reads the merged tables.
//
// @code
// auto counts = words.map([](std::string_view w) { return std::pair{w, 1ull}; })
//                    .reduce_by_key(std::plus<>{});
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/packed_string.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/arena.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// reduce_by_key on std::pair<K, V>: entries keep the key in table form (string views packed
/// into the slot) and merge values with op(V, V) -> V.
template <class T, class Op>
struct pair_reduce {
  using K = typename T::first_type;
  using V = typename T::second_type;
  using key_codec = table_key<K>;
  using entry = std::pair<typename key_codec::type, V>;

  Op op;

  static const K& key_of(const std::string&, const T& x) noexcept { return x.first; }
  static const auto& entry_key(const std::string&, const entry& e) noexcept { return e.first; }
  static entry make(arena& a, const T& x) {
    return entry(key_codec::make(x.first, a), intern(a, x.second));
  }
  static decltype(auto) item(const entry& e) {
    if constexpr (std::is_same_v<entry, T>) {
      return (e);
    } else {
      return T(key_codec::view(e.first), e.second);
    }
  }
  void absorb(const std::string& label, entry& acc, const T& x, arena& a) const {
    merge(label, acc.second, x.second, a);
  }
  void combine(const std::string& label, entry& acc, entry& other, arena& a) const {
    merge(label, acc.second, other.second, a);
  }

 private:
  void merge(const std::string& label, V& acc, const V& x, arena& a) const {
    if constexpr (has_views_v<V>) {
      acc = intern(a, V(invoke_user(label, op, std::as_const(acc), x)));
    } else {
      acc = invoke_user(label, op, std::as_const(acc), x);
    }
  }
};

/// reduce_by on whole items: key_fn(T) and op(T, T) -> T.
template <class T, class KeyFn, class Op>
struct item_reduce {
  using entry = T;

  KeyFn key_fn;
  Op op;

  decltype(auto) key_of(const std::string& label, const T& x) const {
    return invoke_user(label, key_fn, x);
  }
  decltype(auto) entry_key(const std::string& label, const entry& e) const {
    return invoke_user(label, key_fn, e);
  }
  static decltype(auto) make(arena& a, const T& x) { return intern(a, x); }
  static const T& item(const entry& e) noexcept { return e; }
  void absorb(const std::string& label, entry& acc, const T& x, arena& a) const {
    if constexpr (has_views_v<T>) {
      acc = intern(a, T(invoke_user(label, op, std::as_const(acc), x)));
    } else {
      acc = invoke_user(label, op, std::as_const(acc), x);
    }
  }
  void combine(const std::string& label, entry& acc, entry& other, arena& a) const {
    absorb(label, acc, other, a);
  }
};

template <class T, class Rules, class Stack>
class reduce_node final : public node<T> {
  using In = typename Stack::input_type;
  using entry = typename Rules::entry;
  using table = hash_table<entry>;

  // Items wait this many arrivals between their prefetch and their lookup.
  static constexpr std::size_t lookahead = 16;
  // Tables smaller than this (a partition's share of a 1 MiB L2 cache) are looked up at once.
  static constexpr std::size_t pipeline_from_slots = 8192;
  // The pipeline copies items into a ring; worth it for small ones that copy as bytes (which
  // std::pair of scalars and views does, though its assignment makes it not trivially copyable).
  static constexpr bool pipelined = std::is_trivially_copy_constructible_v<T> &&
                                    std::is_trivially_destructible_v<T> && sizeof(T) <= 64;

  // One thread's pre-phase state: a table per output partition and the bytes of its keys.
  struct local_tables {
    local_tables(std::size_t parts, const reduce_node* node) : tables(parts), self(node) {}

    std::vector<table> tables;
    arena bytes;
    const reduce_node* self;
    // The lookahead ring (used when pipelined): raw copies of waiting items.
    struct waiting {
      std::uint64_t hash;
      std::size_t part;
      alignas(T) unsigned char raw[sizeof(T)];
    };
    waiting ring[pipelined ? lookahead : 1] = {};
    std::size_t head = 0, count = 0;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::uint64_t h = table_hash(self->rules_.key_of(self->label(), item));
      const std::size_t part = partition_of(h, tables.size());
      if constexpr (pipelined) {
        table& t = tables[part];
        if (t.capacity() < pipeline_from_slots) {  // a small table stays in cache: no need to wait
          fold_in(h, part, item);
          return;
        }
        t.prefetch(h);
        if (count == lookahead) {
          waiting& w = ring[head];
          fold_in(w);
          w.hash = h;
          w.part = part;
          ::new (static_cast<void*>(w.raw)) T(item);
          head = (head + 1) % lookahead;
        } else {
          waiting& w = ring[(head + count++) % lookahead];
          w.hash = h;
          w.part = part;
          ::new (static_cast<void*>(w.raw)) T(item);
        }
      } else {
        fold_in(h, part, item);
      }
    }

    /// Folds in the waiting items; their views point into the batch, which ends now.
    void end_batch() {
      if constexpr (pipelined) {
        for (; count > 0; --count, head = (head + 1) % lookahead) fold_in(ring[head]);
        head = 0;
      }
    }

    void fold_in(waiting& w) {
      try {
        fold_in(w.hash, w.part, *std::launder(reinterpret_cast<const T*>(w.raw)));
      } catch (op_failure& f) {
        f.item = op_failure::unknown_item;  // the failing item arrived up to 16 items ago
        throw;
      }
    }

    void fold_in(std::uint64_t h, std::size_t part, const T& item) {
      const std::string& label = self->label();
      const Rules& rules = self->rules_;
      auto entry_key = [&](const entry& e) -> decltype(auto) { return rules.entry_key(label, e); };
      auto [e, made] = tables[part].find_or_emplace(h, rules.key_of(label, item), entry_key,
                                                    [&] { return entry(rules.make(bytes, item)); });
      if (!made) rules.absorb(label, *e, item, bytes);
    }
  };

 public:
  reduce_node(std::shared_ptr<node<In>> parent, Stack stack, Rules rules, const char* op,
              shuffle_options options)
      : node<T>(parent->ctx_ptr(), op, node_kind::barrier, {parent}, stack.labels()),
        parent_(std::move(parent)),
        stack_(std::move(stack)),
        rules_(std::move(rules)),
        options_(options) {}

  std::string describe_input() const override {
    return "combine per thread, hash shuffle into " +
           std::to_string(shuffle_partitions(options_.partitions, this->ctx().threads())) +
           " partitions, merge";
  }
  std::size_t partition_count() const override { return merged_.size(); }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    try {
      if constexpr (std::is_same_v<entry, T>) {
        // Entries are the items: push the compacted table as it is.
        std::span<const T> items = dense_[p];
        constexpr std::size_t step = std::max<std::size_t>(batch_items<T>, 4096);
        for (std::size_t i = 0; i < items.size() && !stop_requested(); i += step) {
          out.consume(items.subspan(i, std::min(step, items.size() - i)));
        }
      } else {
        // Entries hold keys in table form: build batches of items that view into the table.
        std::vector<T> batch;
        batch.reserve(std::min(batch_items<T>, merged_[p].size()));
        merged_[p].for_each([&](std::uint64_t, entry& e) {
          batch.push_back(Rules::item(e));
          if (batch.size() == batch_items<T>) {
            if (!stop_requested()) out.consume(batch);
            batch.clear();
          }
        });
        if (!batch.empty() && !stop_requested()) out.consume(batch);
      }
    } catch (op_failure& f) {
      if (f.where.empty()) f.where = "partition " + std::to_string(p) + " of " + this->label();
      throw;
    }
  }

  void dispose() noexcept override {
    dense_.clear();
    merged_.clear();
    locals_.reset();
    merge_bytes_.clear();
  }

 protected:
  void execute(run_state& run) override {
    const std::size_t parts = shuffle_partitions(options_.partitions, run.ctx().threads());
    locals_.emplace(run.ctx().threads());
    run_stage(run, *parent_, stack_, this->label(), [&](std::size_t) -> local_tables& {
      return locals_->local([&] { return local_tables(parts, this); });
    });

    merged_ = std::vector<table>(parts);
    dense_.assign(parts, {});
    merge_bytes_ = std::vector<arena>(parts);
    parallel_partitions(run, parts, this->label() + " (merge)",
                        [&](std::size_t p) { merge_partition(p); });
  }

 private:
  void merge_partition(std::size_t p) {
    std::vector<table*> tables;
    locals_->for_each([&](local_tables& l) { tables.push_back(&l.tables[p]); });
    if (tables.empty()) return;
    std::swap(*std::max_element(tables.begin(), tables.end(),
                                [](table* a, table* b) { return a->size() < b->size(); }),
              tables.front());
    table& into = merged_[p];
    into = std::move(*tables.front());
    const std::string& label = this->label();
    auto entry_key = [&](const entry& e) -> decltype(auto) { return rules_.entry_key(label, e); };
    for (std::size_t i = 1; i < tables.size(); ++i) {
      tables[i]->for_each([&](std::uint64_t h, entry& e) {
        auto [acc, made] = into.find_or_emplace(h, entry_key(e), entry_key, [&] { return std::move(e); });
        if (!made) rules_.combine(label, *acc, e, merge_bytes_[p]);
      });
      tables[i]->clear();
    }
    if constexpr (std::is_same_v<entry, T>) dense_[p] = into.compact();
  }

  std::shared_ptr<node<In>> parent_;
  Stack stack_;
  Rules rules_;
  shuffle_options options_;
  std::optional<per_thread<local_tables>> locals_;
  std::vector<table> merged_;
  std::vector<std::span<T>> dense_;  // when entries are items: each merged table, compacted
  std::vector<arena> merge_bytes_;
};

}  // namespace detail

template <class T, class Stack>
template <class ReduceFn>
auto dataset<T, Stack>::reduce_by_key(ReduceFn op, shuffle_options options) const {
  static_assert(detail::is_pair_v<T>,
                "dataflow::reduce_by_key: items must be std::pair<K, V>; use reduce_by(key_fn, op) "
                "for other item types");
  using K = typename T::first_type;
  using V = typename T::second_type;
  static_assert(detail::key_type<K>, "dataflow::reduce_by_key: keys must be comparable with ==");
  static_assert(detail::hashable<K>,
                "dataflow::reduce_by_key: the key type has no hash; specialize dataflow::hash<K> "
                "or std::hash<K> for it");
  static_assert(detail::const_callable_r<ReduceFn, V, const V&, const V&>,
                "dataflow::reduce_by_key: the function must be callable as op(const V&, const V&) "
                "-> V, on a const object, where the items are std::pair<K, V>");
  using Rules = detail::pair_reduce<T, ReduceFn>;
  auto node = std::make_shared<detail::reduce_node<T, Rules, Stack>>(
      node_, stack_, Rules{std::move(op)}, "reduce_by_key", options);
  return dataset<T>(std::move(node));
}

template <class T, class Stack>
template <class KeyFn, class ReduceFn>
auto dataset<T, Stack>::reduce_by(KeyFn key_fn, ReduceFn op, shuffle_options options) const {
  static_assert(detail::const_callable<KeyFn, const T&>,
                "dataflow::reduce_by: the key function must be callable as key_fn(const T&) -> K, "
                "on a const object");
  using K = detail::call_result_t<KeyFn, const T&>;
  static_assert(detail::key_type<K>, "dataflow::reduce_by: keys must be comparable with ==");
  static_assert(detail::hashable<K>,
                "dataflow::reduce_by: the key type has no hash; specialize dataflow::hash<K> or "
                "std::hash<K> for it");
  static_assert(detail::const_callable_r<ReduceFn, T, const T&, const T&>,
                "dataflow::reduce_by: the function must be callable as op(const T&, const T&) -> T, "
                "on a const object");
  using Rules = detail::item_reduce<T, KeyFn, ReduceFn>;
  auto node = std::make_shared<detail::reduce_node<T, Rules, Stack>>(
      node_, stack_, Rules{std::move(key_fn), std::move(op)}, "reduce_by", options);
  return dataset<T>(std::move(node));
}

}  // namespace dataflow
