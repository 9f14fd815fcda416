// reduce_by_key / reduce_by: merge the items that share a key.
//
// Pre phase (the input stage): each thread folds its items into its own hash tables, one per
// output partition, so that a key seen a million times costs one entry and most merges hit
// cache. Post phase: partition p merges the threads' tables for p into the largest of them, in
// parallel over partitions, and compacts it into a dense array that the next stage reads.
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
#include <dataflow/detail/requirements.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/arena.hpp>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dataflow {
namespace detail {

/// Key and merge rules for reduce_by_key on std::pair<K, V>: op(V, V) -> V.
template <class T, class Op>
struct pair_reduce {
  Op op;
  static const auto& key_of(const std::string&, const T& x) noexcept { return x.first; }
  void merge(const std::string& label, T& acc, const T& x, arena& a) const {
    using V = typename T::second_type;
    if constexpr (has_views_v<V>) {
      acc.second = intern(a, V(invoke_user(label, op, std::as_const(acc.second), x.second)));
    } else {
      acc.second = invoke_user(label, op, std::as_const(acc.second), x.second);
    }
  }
};

/// Key and merge rules for reduce_by on whole items: key_fn(T) and op(T, T) -> T.
template <class T, class KeyFn, class Op>
struct item_reduce {
  KeyFn key_fn;
  Op op;
  decltype(auto) key_of(const std::string& label, const T& x) const {
    return invoke_user(label, key_fn, x);
  }
  void merge(const std::string& label, T& acc, const T& x, arena& a) const {
    if constexpr (has_views_v<T>) {
      acc = intern(a, T(invoke_user(label, op, std::as_const(acc), x)));
    } else {
      acc = invoke_user(label, op, std::as_const(acc), x);
    }
  }
};

template <class T, class Rules, class Stack>
class reduce_node final : public node<T> {
  using In = typename Stack::input_type;

  // One thread's pre-phase state: a table per output partition, and the bytes of its keys.
  struct local_tables {
    std::vector<hash_table<T>> tables;
    arena bytes;
    reduce_node* self;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::string& label = self->label();
      auto&& key = self->rules_.key_of(label, item);
      const std::uint64_t h = table_hash(key);
      auto& table = tables[partition_of(h, tables.size())];
      auto key_of = [&](const T& e) -> decltype(auto) { return self->rules_.key_of(label, e); };
      auto [entry, made] = table.find_or_emplace(h, key, key_of, [&] { return T(intern(bytes, item)); });
      if (!made) self->rules_.merge(label, *entry, item, bytes);
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
  std::size_t partition_count() const override { return output_.size(); }

  void push_partition(std::size_t p, batch_consumer<T>& out) override {
    std::span<const T> items = output_[p];
    constexpr std::size_t step = std::max<std::size_t>(batch_items<T>, 4096);
    for (std::size_t i = 0; i < items.size() && !stop_requested(); i += step) {
      auto batch = items.subspan(i, std::min(step, items.size() - i));
      try {
        out.consume(batch);
      } catch (op_failure& f) {
        if (f.where.empty()) f.where = "partition " + std::to_string(p) + " of " + this->label();
        throw;
      }
    }
  }

  void dispose() noexcept override {
    output_.clear();
    final_.clear();
    locals_.reset();
  }

 protected:
  void execute(run_state& run) override {
    const std::size_t parts = shuffle_partitions(options_.partitions, run.ctx().threads());
    locals_.emplace(run.ctx().threads());
    run_stage(run, *parent_, stack_, this->label(), [&](std::size_t) -> local_tables& {
      return locals_->local([&] {
        return local_tables{std::vector<hash_table<T>>(parts), arena{}, this};
      });
    });

    final_ = std::vector<hash_table<T>>(parts);
    output_.assign(parts, {});
    merge_bytes_ = std::vector<arena>(parts);
    parallel_partitions(run, parts, this->label() + " (merge)", [&](std::size_t p) {
      merge_partition(p);
    });
  }

 private:
  void merge_partition(std::size_t p) {
    std::vector<hash_table<T>*> tables;
    locals_->for_each([&](local_tables& l) { tables.push_back(&l.tables[p]); });
    if (!tables.empty()) {
      auto largest = std::max_element(tables.begin(), tables.end(),
                                      [](auto* a, auto* b) { return a->size() < b->size(); });
      std::swap(*largest, tables.front());
      hash_table<T>& into = final_[p];
      into = std::move(*tables.front());
      const std::string& label = this->label();
      auto key_of = [&](const T& e) -> decltype(auto) { return rules_.key_of(label, e); };
      for (std::size_t i = 1; i < tables.size(); ++i) {
        tables[i]->for_each([&](std::uint64_t h, T& e) {
          auto [entry, made] = into.find_or_emplace(h, key_of(e), key_of,
                                                    [&] { return std::move(e); });
          if (!made) rules_.merge(label, *entry, e, merge_bytes_[p]);
        });
        tables[i]->clear();
      }
    }
    output_[p] = final_[p].compact();
  }

  std::shared_ptr<node<In>> parent_;
  Stack stack_;
  Rules rules_;
  shuffle_options options_;
  std::optional<per_thread<local_tables>> locals_;
  std::vector<hash_table<T>> final_;
  std::vector<std::span<T>> output_;
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
