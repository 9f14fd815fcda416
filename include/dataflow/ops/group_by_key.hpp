// group_by_key / group_by: each distinct key with all the values that have it.
//
// Pre phase: each thread appends its items to one block list per output partition (copying the
// bytes of any views into its arena). Post phase, per partition in parallel: a hash table gives
// every key a group number, a counting sort lays the values of each group side by side, and the
// output is (key, span of values) over that array. No per-group allocation.
//
// @code
// auto by_doc = postings.group_by_key();  // std::pair<term, std::span<const doc_id>>
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
#include <dataflow/storage/block_list.hpp>
#include <dataflow/storage/item_buffer.hpp>

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

/// Grouping rules for pairs: the key is .first and the value .second.
template <class T>
struct pair_grouping {
  using key_type = std::remove_cv_t<typename T::first_type>;
  using value_type = std::remove_cv_t<typename T::second_type>;
  static const key_type& key_of(const std::string&, const T& x) noexcept { return x.first; }
  static value_type value_of(T& x) { return std::move(x.second); }
};

/// Grouping rules for whole items: the key is key_fn(item) and the value the item.
template <class T, class KeyFn>
struct item_grouping {
  using key_type = std::remove_cv_t<call_result_t<KeyFn, const T&>>;
  using value_type = T;
  KeyFn key_fn;
  decltype(auto) key_of(const std::string& label, const T& x) const {
    return invoke_user(label, key_fn, x);
  }
  static T&& value_of(T& x) noexcept { return std::move(x); }
};

template <class T, class Rules, class Stack>
class group_node final
    : public node<std::pair<typename Rules::key_type,
                            std::span<const typename Rules::value_type>>> {
  using In = typename Stack::input_type;
  using K = typename Rules::key_type;
  using V = typename Rules::value_type;
  using Out = std::pair<K, std::span<const V>>;

  struct local_lists {
    std::vector<block_list<T>> lists;
    arena bytes;
    group_node* self;

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::string& label = self->label();
      const std::uint64_t h = invoke_user(label, [&] { return table_hash(self->rules_.key_of(label, item)); });
      lists[partition_of(h, lists.size())].emplace_back(intern(bytes, item));
    }
  };

  // One output partition: the values side by side, and (key, span) per group.
  struct groups {
    item_buffer<V> values;
    std::vector<Out> out;
    arena key_bytes;  // keys are copied here: a key may view into a value that moves
  };

 public:
  group_node(std::shared_ptr<node<In>> parent, Stack stack, Rules rules, const char* op,
             shuffle_options options)
      : node<Out>(parent->ctx_ptr(), op, node_kind::barrier, {parent}, stack.labels()),
        parent_(std::move(parent)),
        stack_(std::move(stack)),
        rules_(std::move(rules)),
        options_(options) {}

  std::string describe_input() const override {
    return "hash shuffle into " +
           std::to_string(shuffle_partitions(options_.partitions, this->ctx().threads())) +
           " partitions, group";
  }
  std::size_t partition_count() const override { return output_.size(); }

  void push_partition(std::size_t p, batch_consumer<Out>& out) override {
    const std::vector<Out>& items = output_[p].out;
    constexpr std::size_t step = std::max<std::size_t>(batch_items<Out>, 4096);
    for (std::size_t i = 0; i < items.size() && !stop_requested(); i += step) {
      std::span<const Out> batch(items.data() + i, std::min(step, items.size() - i));
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
    locals_.reset();
  }

 protected:
  void execute(run_state& run) override {
    const std::size_t parts = shuffle_partitions(options_.partitions, run.ctx().threads());
    locals_.emplace(run.ctx().threads());
    run_stage(run, *parent_, stack_, this->label(), [&](std::size_t) -> local_lists& {
      return locals_->local([&] {
        return local_lists{std::vector<block_list<T>>(parts), arena{}, this};
      });
    });
    output_ = std::vector<groups>(parts);
    parallel_partitions(run, parts, this->label() + " (group)",
                        [&](std::size_t p) { group_partition(p); });
  }

 private:
  void group_partition(std::size_t p) {
    // Gather the partition's items from every thread.
    std::vector<T*> items;
    locals_->for_each([&](local_lists& l) {
      l.lists[p].for_each_block_mut([&](std::span<T> block) {
        for (T& x : block) items.push_back(&x);
      });
    });
    if (items.empty()) return;

    // Number the groups in order of first appearance.
    struct group_entry {
      K key;
      std::uint32_t id;
    };
    const std::string& label = this->label();
    groups& out = output_[p];
    hash_table<group_entry> table;
    std::vector<std::uint32_t> group_of(items.size());
    std::vector<std::size_t> start;
    auto key_of_entry = [](const group_entry& e) -> const K& { return e.key; };
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto&& key = rules_.key_of(label, *items[i]);
      auto [e, made] = invoke_user(label, [&] {  // a user key's hash and == run here
        return table.find_or_emplace(table_hash(key), key, key_of_entry, [&] {
          return group_entry{K(intern(out.key_bytes, K(key))), static_cast<std::uint32_t>(start.size())};
        });
      });
      if (made) start.push_back(0);
      group_of[i] = e->id;
      ++start[e->id];
    }

    // Counting sort: place each group's values side by side, in input order.
    const std::size_t g = start.size();
    std::size_t at = 0;
    for (std::size_t& s : start) at += std::exchange(s, at);
    std::vector<std::uint32_t> order(items.size());
    {
      std::vector<std::size_t> next = start;
      for (std::size_t i = 0; i < items.size(); ++i) {
        order[next[group_of[i]]++] = static_cast<std::uint32_t>(i);
      }
    }
    out.values.reserve(items.size());
    for (std::uint32_t i : order) out.values.emplace_back(Rules::value_of(*items[i]));

    out.out.reserve(g);
    table.for_each([&](std::uint64_t, group_entry& e) {
      std::size_t begin = start[e.id];
      std::size_t end = e.id + 1 < g ? start[e.id + 1] : items.size();
      out.out.emplace_back(std::move(e.key),
                           std::span<const V>(out.values.data() + begin, end - begin));
    });
  }

  std::shared_ptr<node<In>> parent_;
  Stack stack_;
  Rules rules_;
  shuffle_options options_;
  std::optional<per_thread<local_lists>> locals_;
  std::vector<groups> output_;
};

}  // namespace detail

template <class T, class Stack>
auto dataset<T, Stack>::group_by_key(shuffle_options options) const {
  static_assert(detail::is_pair_v<T>,
                "dataflow::group_by_key: items must be std::pair<K, V>; use group_by(key_fn) for "
                "other item types");
  static_assert(detail::key_type<typename T::first_type>,
                "dataflow::group_by_key: keys must be comparable with ==");
  static_assert(detail::hashable<typename T::first_type>,
                "dataflow::group_by_key: the key type has no hash; specialize dataflow::hash<K> or "
                "std::hash<K> for it");
  using Rules = detail::pair_grouping<T>;
  auto node = std::make_shared<detail::group_node<T, Rules, Stack>>(node_, stack_, Rules{},
                                                                   "group_by_key", options);
  using Out = typename decltype(node)::element_type::value_type;
  return dataset<Out>(std::move(node));
}

template <class T, class Stack>
template <class KeyFn>
auto dataset<T, Stack>::group_by(KeyFn key_fn, shuffle_options options) const {
  static_assert(detail::const_callable<KeyFn, const T&>,
                "dataflow::group_by: the key function must be callable as key_fn(const T&) -> K, "
                "on a const object");
  static_assert(detail::key_type<detail::call_result_t<KeyFn, const T&>>,
                "dataflow::group_by: keys must be comparable with ==");
  static_assert(detail::hashable<detail::call_result_t<KeyFn, const T&>>,
                "dataflow::group_by: the key type has no hash; specialize dataflow::hash<K> or "
                "std::hash<K> for it");
  using Rules = detail::item_grouping<T, KeyFn>;
  auto node = std::make_shared<detail::group_node<T, Rules, Stack>>(
      node_, stack_, Rules{std::move(key_fn)}, "group_by", options);
  using Out = typename decltype(node)::element_type::value_type;
  return dataset<Out>(std::move(node));
}

}  // namespace dataflow
