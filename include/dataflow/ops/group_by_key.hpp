// group_by_key / group_by: each distinct key with all the values that have it.
//
// Pre phase: each thread appends its items to one block list per output partition (copying the
// bytes of any views into its arena). Post phase, per partition in parallel: a hash table gives
// every key a group number, a counting sort lays the values of each group side by side, and the
// output is (key, span of values) over that array. No per-group allocation.
//
// Under a memory budget a thread whose lists outgrow its share writes them to a spill file, a
// segment per partition. If anything spilled, the rest follows at the end of the input stage
// and each partition is grouped when it is read: loaded whole if it fits the thread's share,
// else split on disk by a hash of another seed into sub-partitions, recursively. A single key
// whose values alone exceed the share (no split can separate it) is loaded whole anyway: a
// group is handed over as one span.
//
// @code
// auto by_doc = postings.group_by_key();  // std::pair<term, std::span<const doc_id>>
// @endcode
#pragma once

#include <dataflow/dataset.hpp>
#include <dataflow/detail/failure.hpp>
#include <dataflow/detail/heap_bytes.hpp>
#include <dataflow/detail/hash_table.hpp>
#include <dataflow/detail/item_bytes.hpp>
#include <dataflow/detail/item_traits.hpp>
#include <dataflow/detail/requirements.hpp>
#include <dataflow/detail/safe_sort.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/partition_lists.hpp>
#include <dataflow/graph/partitioning.hpp>
#include <dataflow/graph/spill_policy.hpp>
#include <dataflow/graph/stage.hpp>
#include <dataflow/ops/exchange.hpp>
#include <dataflow/group_values.hpp>
#include <dataflow/hash.hpp>
#include <dataflow/storage/arena.hpp>
#include <dataflow/storage/block_list.hpp>
#include <dataflow/storage/item_buffer.hpp>
#include <dataflow/storage/spill_file.hpp>

#include <algorithm>
#include <atomic>
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

/// No order asked of a group's values: they come in input order.
struct no_value_order {};

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

/// Everything of a grouping but taking its input: the per-thread lists, spilling, grouping and
/// output. It depends on the item type, the rules and the value order only, so groupings of one
/// type share its code whatever pipeline feeds them.
template <class T, class Rules, class Order>
class group_core : public node<std::pair<typename Rules::key_type,
                                         std::span<const typename Rules::value_type>>> {
 protected:
  using K = typename Rules::key_type;
  using V = typename Rules::value_type;
  using Out = std::pair<K, std::span<const V>>;

  struct local_lists : partition_lists<T> {
    local_lists(std::size_t parts, group_core* s)
        : partition_lists<T>(parts), self(s), charge(s->ctx().charged) {}
    group_core* self;
    gauge_charge charge;  // held() as of the last batch, for the run's statistics

    template <class X>
    void operator()(X&& x) {
      const T& item = x;
      const std::string& label = self->label();
      const std::uint64_t h = invoke_user(label, [&] { return table_hash(self->rules_.key_of(label, item)); });
      this->add(partition_of(h, this->lists.size()), item);
    }

    void end_batch() {
      charge.set(this->held());
      if (self->policy_.limited() && this->held() > self->policy_.thread_share) {
        spill();
        charge.set(this->held());
      }
    }

    void spill() {
      if (partition_lists<T>::spill(self->ctx(), self->label(), self->policy_.block_bytes)) {
        self->spilled_any_.store(true, std::memory_order_relaxed);
      }
    }
  };

  // One output partition: the values side by side, and (key, span) per group.
  struct groups {
    item_buffer<V> values;
    std::vector<Out> out;
    arena key_bytes;  // keys are copied here: a key may view into a value that moves
  };

 public:
  group_core(std::shared_ptr<node_base> parent, std::vector<std::string> labels, Rules rules,
             const char* op, shuffle_options options, Order order = {})
      : node<Out>(parent->ctx_ptr(), op, node_kind::barrier, {parent}, std::move(labels)),
        rules_(std::move(rules)),
        order_(std::move(order)),
        options_(options) {}

  std::string describe_input() const override {
    return "hash shuffle into " +
           std::to_string(spilling_shuffle_partitions(options_.partitions, this->ctx())) +
           " partitions, group";
  }
  std::size_t partition_count() const override {
    return segments_.empty() ? output_.size() : segments_.size();
  }

  void push_partition(std::size_t p, batch_consumer<Out>& out) override {
    if (!segments_.empty()) {
      push_sink sink{this, out};
      group_segments(segments_[p], 0, sink);
      return;
    }
    push_groups(output_[p], out);
  }

  void push_groups(const groups& g, batch_consumer<Out>& out) {
    const std::vector<Out>& items = g.out;
    constexpr std::size_t step = std::max<std::size_t>(batch_items<Out>, 4096);
    for (std::size_t i = 0; i < items.size() && !stop_requested(); i += step) {
      out.consume(std::span<const Out>(items.data() + i, std::min(step, items.size() - i)));
    }
  }

  void dispose() noexcept override {
    segments_.clear();
    output_.clear();
    locals_.reset();
  }

  /// Spilled: partition p's segments give their space and page cache back once it is read, as
  /// reduce_by_key's do.
  void release_partition(std::size_t p) noexcept override {
    if (p < segments_.size()) release_space(segments_[p]);
  }

 protected:
  /// Readies the node for a run's input.
  void begin(run_state& run) {
    parts_ = spilling_shuffle_partitions(options_.partitions, run.ctx());
    policy_ = spill_policy::for_context(run.ctx());
    spilled_any_.store(false);
    segments_.clear();
    locals_.emplace(run.ctx().threads());
  }

  /// The calling thread's lists.
  local_lists& local() {
    return locals_->local([&] { return local_lists(parts_, this); });
  }

  /// Groups each partition in memory, or spills them all.
  void finish(run_state& run) {
    const std::size_t parts = parts_;
    if (spilled_any_.load()) {
      segments_ = spill_everything(run, *locals_, parts, this->label());
      locals_.reset();
      return;
    }
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
    group_items(items, output_[p]);
  }

 public:
  /// Calls visit(const K&, group_values<V>&) for every group of partition p (after the node
  /// ran). A group too big for the thread's share of the budget streams from disk.
  template <class Visit>
  void visit_partition(std::size_t p, const Visit& visit) {
    visit_sink<Visit> sink{this, &visit};
    if (!segments_.empty()) {
      group_segments(segments_[p], 0, sink);
    } else {
      sink.groups(output_[p]);
    }
  }

 private:
  // Where group_segments delivers: whole groups (pushed downstream, or visited) and, when the
  // sink can take a stream, the segments of one group too big to load.
  struct push_sink {
    static constexpr bool can_stream = false;
    group_core* self;
    batch_consumer<Out>& out;
    void groups(groups& g) { self->push_groups(g, out); }
    void stream(const std::vector<spill_segment>&) {}
  };

  template <class Visit>
  struct visit_sink {
    static constexpr bool can_stream = true;
    group_core* self;
    const Visit* visit;
    void groups(groups& g) {
      for (const Out& o : g.out) {
        if (stop_requested()) return;
        group_values<V> values(o.second);
        invoke_user(self->label(), *visit, std::as_const(o.first), values);
      }
    }
    void stream(const std::vector<spill_segment>& segments) { self->stream_group(segments, *this); }
  };

  /// Streams the first key's values of `segments` to the visitor, block by block; items of
  /// other keys (they share the hash) go to a new segment, handled after.
  template <class Visit>
  void stream_group(const std::vector<spill_segment>& segments, visit_sink<Visit>& sink) {
    const std::string& label = this->label();
    std::size_t next_segment = 0;
    std::optional<spill_reader> in;
    item_buffer<T> block;
    auto load_block = [&]() -> bool {
      for (;;) {
        if (!in) {
          if (next_segment == segments.size()) return false;
          in.emplace(segments[next_segment++], label);
        }
        if (read_block(*in, block, label)) return true;
        in.reset();
      }
    };
    if (!load_block() || block.empty()) return;
    arena key_bytes;
    const K key = K(intern(key_bytes, K(rules_.key_of(label, block[0]))));
    std::optional<spill_writer> rest;
    std::vector<spill_segment> rest_segments;
    bool pending = true;  // the block loaded above is not consumed yet
    auto split = [&](item_buffer<V>* out) {
      for (std::size_t i = 0; i < block.size(); ++i) {
        T& x = block[i];
        if (invoke_user(label, [&] { return rules_.key_of(label, x) == key; })) {
          if (out) out->emplace_back(Rules::value_of(x));
        } else {
          if (!rest) rest.emplace(this->ctx().spill_dir(label), label, policy_.block_bytes);
          rest->add(x);
        }
      }
    };
    group_values<V> values([&](item_buffer<V>& out) -> bool {
      out.clear();
      if (!pending && !load_block()) return false;
      pending = false;
      split(&out);
      return true;
    });
    invoke_user(label, *sink.visit, std::as_const(key), values);
    // Whatever the visitor left unread still has to be sorted out from other keys.
    while (pending || load_block()) {
      pending = false;
      split(nullptr);
    }
    if (rest) {
      rest_segments.push_back(rest->end_segment());
      rest->close();
      rest.reset();
      group_segments(rest_segments, spill_policy::max_level, sink);
    }
  }

  /// Groups a spilled partition and hands the groups to the sink: loaded whole when it fits the
  /// thread's share, else split on disk into sub-partitions first; one key too big to load is
  /// streamed when the sink can take it (for_each_group), else loaded whole.
  template <class Sink>
  void group_segments(const std::vector<spill_segment>& segments, unsigned level, Sink& sink) {
    const std::string& label = this->label();
    std::uint64_t on_disk = 0;
    for (const auto& seg : segments) on_disk += seg.bytes;
    // In memory an item takes its size plus the bookkeeping of grouping (about 24 bytes).
    std::uint64_t items_count = 0;
    for (const auto& seg : segments) items_count += seg.items;
    const std::uint64_t need = on_disk + items_count * (sizeof(T) + 24);
    if constexpr (Sink::can_stream) {
      if (need > policy_.thread_share && level >= spill_policy::max_level) {
        group_in_bins(segments, sink);  // keys no hash separates; some may never fit at once
        return;
      }
    }
    if (need <= policy_.thread_share || level >= spill_policy::max_level) {
      load_and_group(segments, sink);
      return;
    }
    spill_router<T> router(this->ctx(), label, policy_, level + 1);
    for (const auto& seg : segments) {
      if (stop_requested()) return;
      for_each_spilled<T>(seg, label, [&](const T& x) {
        router.add(invoke_user(label, [&] { return table_hash(rules_.key_of(label, x)); }), x);
      });
    }
    const bool hot = router.one_hash();
    std::vector<spill_segment> parts = router.finish();
    for (const auto& part : parts) {
      if (stop_requested()) return;
      // One key (one hash) cannot be split further: load it whole.
      group_segments({part}, hot ? spill_policy::max_level : level + 1, sink);
    }
  }

  /// Groups spilled items whose keys no hash separates (one hot key, or keys whose hashes
  /// collide) in a few passes over the data: the first measures each distinct key; keys are
  /// packed into bins that fit the thread's share (a key too big for it gets a bin of its own
  /// and streams); then split_bins writes the bins apart, 16 ways a pass, and each bin is grouped
  /// in memory or streamed. A user hash that collides costs CPU (the key table probes through
  /// every colliding key), never a pass or a recursion per key.
  template <class Sink>
  void group_in_bins(const std::vector<spill_segment>& segments, Sink& sink) {
    const std::string& label = this->label();
    struct key_entry {
      K key;
      std::uint32_t id;
    };
    auto key_of_entry = [](const key_entry& e) -> const K& { return e.key; };
    hash_table<key_entry> table;
    arena key_bytes;
    std::vector<std::uint64_t> need;  // per key id
    auto id_of = [&](const T& x) -> std::uint32_t {
      auto&& key = rules_.key_of(label, x);
      auto [e, made] = invoke_user(label, [&] {
        return table.find_or_emplace(table_hash(key), key, key_of_entry, [&] {
          return key_entry{K(intern(key_bytes, K(key))), static_cast<std::uint32_t>(need.size())};
        });
      });
      if (made) need.push_back(0);
      return e->id;
    };
    for (const auto& seg : segments) {
      if (stop_requested()) return;
      for_each_spilled<T>(seg, label, [&](const T& x) { need[id_of(x)] += sizeof(T) + 24 + data_bytes(x); });
    }
    // Bins in order of first appearance; a key bigger than the share streams alone.
    std::vector<std::uint32_t> bin_of(need.size());
    std::vector<bool> streamed;
    std::optional<std::uint32_t> open;  // the bin small keys are packed into
    std::uint64_t filled = 0;
    for (std::size_t id = 0; id < need.size(); ++id) {
      if (need[id] > policy_.thread_share) {
        bin_of[id] = static_cast<std::uint32_t>(streamed.size());
        streamed.push_back(true);
        continue;
      }
      if (!open || filled + need[id] > policy_.thread_share) {
        open = static_cast<std::uint32_t>(streamed.size());
        streamed.push_back(false);
        filled = 0;
      }
      filled += need[id];
      bin_of[id] = *open;
    }
    split_bins(segments, 0, streamed.size(), bin_of, streamed, id_of, sink);
  }

  /// Writes the items of bins [lo, hi) to up to fan_out segments, each holding a run of whole
  /// bins, and goes on with each until a segment holds one bin, which is then grouped or
  /// streamed: every pass reads the data once, and there are log16(bins) of them.
  template <class IdOf, class Sink>
  void split_bins(const std::vector<spill_segment>& segments, std::size_t lo, std::size_t hi,
                  const std::vector<std::uint32_t>& bin_of, const std::vector<bool>& streamed,
                  IdOf& id_of, Sink& sink) {
    const std::string& label = this->label();
    const std::size_t count = hi - lo;
    if (count == 1) {
      if (streamed[lo]) {
        sink.stream(segments);
      } else {
        load_and_group(segments, sink);
      }
      return;
    }
    const std::size_t width = (count + spill_policy::fan_out - 1) / spill_policy::fan_out;
    const std::size_t ways = (count + width - 1) / width;
    const std::size_t block = std::clamp<std::size_t>(policy_.thread_share / 4 / ways, 4 * 1024,
                                                      policy_.block_bytes);
    std::vector<spill_writer> writers;
    writers.reserve(ways);
    for (std::size_t g = 0; g < ways; ++g) writers.emplace_back(this->ctx().spill_dir(label), label, block);
    for (const auto& seg : segments) {
      if (stop_requested()) return;
      for_each_spilled<T>(seg, label, [&](const T& x) { writers[(bin_of[id_of(x)] - lo) / width].add(x); });
    }
    std::vector<spill_segment> parts;
    for (auto& w : writers) {
      parts.push_back(w.end_segment());
      w.close();
    }
    writers.clear();
    for (std::size_t g = 0; g < ways; ++g) {
      if (stop_requested()) return;
      const std::size_t first = lo + g * width, last = std::min(hi, first + width);
      std::vector<spill_segment> one{std::move(parts[g])};
      split_bins(one, first, last, bin_of, streamed, id_of, sink);
    }
  }

  /// Loads spilled items whole and hands their groups to the sink.
  template <class Sink>
  void load_and_group(const std::vector<spill_segment>& segments, Sink& sink) {
    const std::string& label = this->label();
    block_list<T> list;
    arena bytes;
    for (const auto& seg : segments) {
      if (stop_requested()) return;
      for_each_spilled<T>(seg, label, [&](const T& x) { list.emplace_back(intern(bytes, x)); });
    }
    std::vector<T*> items;
    items.reserve(list.size());
    list.for_each_block_mut([&](std::span<T> block) {
      for (T& x : block) items.push_back(&x);
    });
    groups g;
    group_items(items, g);
    sink.groups(g);
  }

  void group_items(std::vector<T*>& items, groups& out) {
    if (items.empty()) return;

    // Number the groups in order of first appearance.
    struct group_entry {
      K key;
      std::uint32_t id;
    };
    const std::string& label = this->label();
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
    if constexpr (!std::is_same_v<Order, no_value_order>) sort_values(out, start);
  }

  /// Sorts each group's values with the order given (a secondary sort); any comparator is safe
  /// (detail/safe_sort.hpp), and one that throws names this node.
  void sort_values(groups& out, const std::vector<std::size_t>& start) {
    const std::string& label = this->label();
    auto less = [&](const V& a, const V& b) -> bool {
      return invoke_user(label, [&] { return static_cast<bool>(order_(a, b)); });
    };
    V* values = out.values.data();
    for (std::size_t g = 0; g < start.size(); ++g) {
      if (stop_requested()) return;
      const std::size_t end = g + 1 < start.size() ? start[g + 1] : out.values.size();
      safe_sort(values + start[g], values + end, less);
    }
  }

  Rules rules_;
  Order order_;
  shuffle_options options_;
  std::size_t parts_ = 0;
  std::optional<per_thread<local_lists>> locals_;
  std::vector<groups> output_;
  spill_policy policy_;
  std::atomic<bool> spilled_any_{false};
  std::vector<std::vector<spill_segment>> segments_;  // per partition, when spilled
};

/// A grouping fed by a parent node through a fused operator stack.
template <class T, class Rules, class Stack, class Order = no_value_order>
using group_node = fed_node<group_core<T, Rules, Order>, Stack>;

}  // namespace detail

template <class T, class Stack>
auto dataset<T, Stack>::group_by_key(shuffle_options options) const {
  return group_by_key(detail::no_value_order{}, options);
}

template <class T, class Stack>
template <class ValueOrder>
auto dataset<T, Stack>::group_by_key(ValueOrder value_order, shuffle_options options) const {
  static_assert(detail::is_pair_v<T>,
                "dataflow::group_by_key: items must be std::pair<K, V>; use group_by(key_fn) for "
                "other item types");
  static_assert(detail::key_type<typename T::first_type>,
                "dataflow::group_by_key: keys must be comparable with == "
                "(for a struct of your own: bool operator==(const K&) const = default;)");
  static_assert(detail::hashable<typename T::first_type>,
                "dataflow::group_by_key: the key type has no hash; specialize dataflow::hash<K> or "
                "std::hash<K> for it");
  using Rules = detail::pair_grouping<T>;
  using V = typename Rules::value_type;
  if constexpr (!std::is_same_v<ValueOrder, detail::no_value_order>) {
    static_assert(detail::const_callable<ValueOrder, const V&, const V&>,
                  "dataflow::group_by_key: the value order must be callable as "
                  "less(const V&, const V&) -> bool on a const object, V being the pairs' "
                  "second type");
  }
  // On a job of several ranks, the items go to the rank of their key first (ops/exchange.hpp).
  auto node = detail::exchange_input(
      node_, stack_, [](const T& x) { return detail::table_hash(x.first); },
      [&](auto parent, auto stack) {
        return std::make_shared<detail::group_node<T, Rules, decltype(stack), ValueOrder>>(
            parent, stack, Rules{}, "group_by_key", options, value_order);
      });
  using Out = typename decltype(node)::element_type::value_type;
  return dataset<Out>(std::move(node));
}

template <class T, class Stack>
template <class KeyFn>
auto dataset<T, Stack>::group_by(KeyFn key_fn, shuffle_options options) const {
  return group_by(std::move(key_fn), detail::no_value_order{}, options);
}

template <class T, class Stack>
template <class KeyFn, class ItemOrder>
auto dataset<T, Stack>::group_by(KeyFn key_fn, ItemOrder item_order, shuffle_options options) const {
  static_assert(detail::const_callable<KeyFn, const T&>,
                "dataflow::group_by: the key function must be callable as key_fn(const T&) -> K, "
                "on a const object");
  static_assert(detail::key_type<detail::call_result_t<KeyFn, const T&>>,
                "dataflow::group_by: keys must be comparable with == "
                "(for a struct of your own: bool operator==(const K&) const = default;)");
  static_assert(detail::hashable<detail::call_result_t<KeyFn, const T&>>,
                "dataflow::group_by: the key type has no hash; specialize dataflow::hash<K> or "
                "std::hash<K> for it");
  if constexpr (!std::is_same_v<ItemOrder, detail::no_value_order>) {
    static_assert(detail::const_callable<ItemOrder, const T&, const T&>,
                  "dataflow::group_by: the item order must be callable as "
                  "less(const T&, const T&) -> bool on a const object");
  }
  using Rules = detail::item_grouping<T, KeyFn>;
  auto node = detail::exchange_input(
      node_, stack_, [key_fn](const T& x) { return detail::table_hash(key_fn(x)); },
      [&](auto parent, auto stack) {
        return std::make_shared<detail::group_node<T, Rules, decltype(stack), ItemOrder>>(
            parent, stack, Rules{key_fn}, "group_by", options, item_order);
      });
  using Out = typename decltype(node)::element_type::value_type;
  return dataset<Out>(std::move(node));
}

}  // namespace dataflow
