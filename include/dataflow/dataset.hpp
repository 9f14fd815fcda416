// dataflow::dataset: the typed, cheap-to-copy handle a pipeline is written with.
//
// A dataset is a node (a source or a barrier) plus the stack of local operators applied to the
// node's output. Local operators return a new dataset with a longer stack; shuffles and caches
// return a dataset over a new node; actions run the graph and return a result. Each operation is
// defined in its own header under dataflow/ops/; include <dataflow/dataflow.hpp> to get them all.
//
// Evaluation rule: nothing runs until an action (collect, count, reduce, fold, for_each, top_k,
// write_lines). Each action runs the graph from its sources, or from the nearest cached
// dataset; a dataset that two actions both need is computed twice unless it is cached with
// cache(). When that happens the context reports it (see context::on_recompute).
#pragma once

#include <dataflow/detail/item_traits.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/graph/stack.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace dataflow {

namespace detail {
/// A node that reads `parent` through `stack` (ops/handle.hpp): how dataset<T> holds a dataset
/// of T with local operators.
template <class T, class Stack>
std::shared_ptr<node<T>> erase_stack(const std::shared_ptr<node<typename Stack::input_type>>& parent,
                                     const Stack& stack);

/// top_k's default order: the largest items; on pairs, the largest values.
struct default_rank {};
}  // namespace detail

/// Where a file sink writes.
struct write_options {
  /// False: one file, in partition order. True: `path` is a directory (made if missing) with
  /// one file per partition, part-00000 and on, so that names sort in partition order; they
  /// replace the part files of an earlier run there, once every new part is written. On a job
  /// of several ranks (which must all see the directory) each rank writes its own partitions,
  /// part-RRRRR-PPPPP: names sort in rank order, then partition order, which is the order of a
  /// sorted dataset; they replace the earlier run's once every rank has written all of its own.
  /// All or none: if a part cannot be put in place (renamed) once the earlier parts are gone,
  /// the new parts already in place are taken out too, and the directory holds no part.
  bool part_files = false;
  /// Appended to part file names (".csv", ".txt").
  std::string extension = {};
  /// One regular file (not part files, not a device or standard output) written with O_DIRECT
  /// through reused aligned buffers, past the page cache (storage/direct_writer.hpp): faster
  /// where filling page-cache pages is dear (virtual machines) and the disk is fast; slower on
  /// a slow disk, where buffered writes return before the data reaches it. A file system that
  /// refuses O_DIRECT is written without it.
  bool direct = false;
};

/// Settings of write_csv.
struct csv_options {
  /// A first line of column names (in every part file); none when empty, except for items that
  /// are plain structs, whose member names make it (see member_names).
  std::vector<std::string> header;
  char separator = ',';
  /// For struct items with no header given: a first line of their member names.
  bool member_names = true;
  /// How floating-point fields are written, as an fmt format: "{}" (the default) is the
  /// shortest text that reads back as the same number; "{:.2f}" two decimals.
  std::string float_format = "{}";
};

/// Settings of a shuffle (reduce_by_key, reduce_by, group_by_key, group_by).
struct shuffle_options {
  /// Number of output partitions; 0 picks one from the thread count.
  std::size_t partitions = 0;
};

template <class T, class Stack = detail::op_stack<T>>
class dataset {
  static_assert(std::is_copy_constructible_v<T>,
                "dataflow: items must be copyable (move-only items such as std::unique_ptr are "
                "not supported yet; wrap them in std::shared_ptr)");

 public:
  using value_type = T;
  using stack_type = Stack;
  using input_type = typename Stack::input_type;
  using node_type = detail::node<input_type>;
  /// The owning type that actions return for items of type T (std::string for string_view).
  using stored_type = detail::stored_t<T>;

  dataset(std::shared_ptr<node_type> node, Stack stack = {})
      : node_(std::move(node)), stack_(std::move(stack)) {
    hold();
  }

  /// A dataset<T> handle from any dataset of T items, so that one variable can name each round
  /// of a loop: `dataflow::dataset<T> state = ctx.from(v); state = state.map(f).cache();`. The
  /// local operators of `other` run where it is read, as a stage of their own.
  template <class OtherStack>
    requires(!std::is_same_v<OtherStack, Stack> && std::is_same_v<Stack, detail::op_stack<T>>)
  dataset(const dataset<T, OtherStack>& other)
      : dataset(detail::erase_stack<T>(other.node(), other.stack())) {}

  // A dataset is a handle: a cache that no handle names any more gives up its items once the
  // run that reads them (to compute what followed it) is done.
  dataset(const dataset& o) : node_(o.node_), stack_(o.stack_) { hold(); }
  dataset(dataset&& o) noexcept : node_(std::move(o.node_)), stack_(std::move(o.stack_)) {}
  dataset& operator=(const dataset& o) {
    if (this != &o) {
      dataset copy(o);
      *this = std::move(copy);
    }
    return *this;
  }
  dataset& operator=(dataset&& o) noexcept {
    if (this != &o) {
      drop();
      node_ = std::move(o.node_);
      stack_ = std::move(o.stack_);
    }
    return *this;
  }
  ~dataset() { drop(); }

  /// Names the last operator (or the source) in plans, statistics, progress and errors:
  /// `.map(parse).name("parse logs")`.
  dataset name(std::string label) const;

  // ---- Local operators: fused into the next stage, no node of their own. ----

  /// Applies fn to every item: `ds.map([](int x) { return x * 2; })`.
  template <class F>
  auto map(F fn) const;

  /// Keeps the items for which pred returns true: `ds.filter([](int x) { return x > 0; })`.
  template <class F>
  auto filter(F pred) const;

  /// Emits zero or more items per item. fn either returns a range
  /// (`flat_map([](std::string_view l) { return dataflow::split_words(l); })`) or a
  /// std::optional (one item or none: a parse that may fail), or takes an
  /// emit callback and U names the output type
  /// (`flat_map<int>([](int x, auto&& emit) { emit(x); emit(-x); })`).
  template <class U = void, class F>
  auto flat_map(F fn) const;

  /// On pairs (K, V): the keys. A std::string member is passed on as a std::string_view into
  /// the item (actions return std::string again).
  auto keys() const;
  /// On pairs (K, V): the values (a std::string as a std::string_view, like keys()).
  auto values() const;
  /// On pairs (K, V): (K, fn(V)).
  template <class F>
  auto map_values(F fn) const;

  /// Items of this dataset, then those of `other` (a dataset of the same item type and
  /// context); no data moves: the partitions of both are read in turn.
  template <class Other>
  auto concat(const Other& other) const;

  /// Each item with its position in the dataset's order: (item, index), indices 0, 1, 2, ...
  /// in partition order. Keeps the input (spilling under a budget) to count the partitions.
  auto zip_with_index() const;

  /// Each item with probability `fraction` (Bernoulli sampling). The choice is a hash of the
  /// seed and the item's index (zip_with_index), so a seed picks the same items whatever the
  /// thread count, provided the input's order does not depend on it (sources, local operators
  /// and sort keep order; shuffles do not).
  auto sample(double fraction, std::uint64_t seed) const;

  /// Inclusive prefix sums in the dataset's order: item i becomes op(op(x0, x1), ..., xi). op
  /// must be associative. Each partition is folded in parallel, then scanned from its offset.
  template <class Op = std::plus<>>
  auto scan(Op op = {}) const;

  /// fn(std::span<const S>) over every window of n consecutive items (S is the owning item
  /// type): windows start at every item, and only full windows are emitted (count - n + 1 of
  /// them, none when there are fewer than n items).
  template <class F>
  auto sliding(std::size_t n, F fn) const;

  /// fn(std::span<const S>) over consecutive, non-overlapping windows of n items; the last
  /// window has the items left over (1 to n).
  template <class F>
  auto tumbling(std::size_t n, F fn) const;

  // ---- Shuffles: barriers that repartition by key. ----

  /// On pairs (K, V): merges the values of each key with op(V, V) -> V (or in place with
  /// op(V& acc, V) -> void), combining within each thread before the shuffle. op must be associative and commutative: values meet in an order
  /// that depends on the threads. Output: one (K, V) per distinct key, in no particular order.
  template <class ReduceFn>
  auto reduce_by_key(ReduceFn op, shuffle_options options = {}) const;

  /// Merges whole items whose key_fn(item) is equal with an associative and commutative
  /// op(T, T) -> T.
  template <class KeyFn, class ReduceFn>
  auto reduce_by(KeyFn key_fn, ReduceFn op, shuffle_options options = {}) const;

  /// On pairs (K, V): each distinct key with all its values, as
  /// std::pair<K, std::span<const V>>. The span stays valid for the rest of the run; collect()
  /// returns std::pair<K, std::vector<V>>.
  auto group_by_key(shuffle_options options = {}) const;
  /// group_by_key with each group's values sorted by less(const V&, const V&) (a secondary
  /// sort: events of a user by time, for sessions); ties in no particular order.
  template <class ValueOrder>
  auto group_by_key(ValueOrder value_order, shuffle_options options = {}) const;

  /// Each distinct key_fn(item) with all the items that have it, as
  /// std::pair<K, std::span<const T>>.
  template <class KeyFn>
  auto group_by(KeyFn key_fn, shuffle_options options = {}) const;
  /// group_by with each group's items sorted by less(const T&, const T&).
  template <class KeyFn, class ItemOrder>
  auto group_by(KeyFn key_fn, ItemOrder item_order, shuffle_options options = {}) const;

  /// On pairs (K, V): the number of items of each key, as (K, std::uint64_t).
  auto count_by_key(shuffle_options options = {}) const;
  /// The number of times each distinct item occurs, as (T, std::uint64_t).
  auto count_by_value(shuffle_options options = {}) const;
  /// Each distinct item once, in no particular order.
  auto distinct(shuffle_options options = {}) const;
  /// On pairs (K, V): the number of distinct values of each key, as (K, std::uint64_t).
  auto count_distinct_by_key(shuffle_options options = {}) const;
  /// On pairs (K, V): per key, fold_fn(Acc, V) -> Acc from `zero` and merge_fn(Acc, Acc) ->
  /// Acc, or in place: fold_fn(Acc&, const V&) and merge_fn(Acc&, Acc&&) returning void (linear
  /// for a vector or set accumulator, which the value forms copy at every merge). Each value is
  /// folded into a copy of zero and the accumulators are merged (per thread before the
  /// shuffle), so zero must be merge_fn's identity and merge_fn associative and commutative.
  /// Output: (K, Acc).
  template <class Acc, class FoldFn, class MergeFn>
  auto aggregate_by_key(Acc zero, FoldFn fold_fn, MergeFn merge_fn,
                        shuffle_options options = {}) const;

  /// On pairs (K, V): groups by key like group_by_key, then calls
  /// fn(const K& key, dataflow::group_values<V>& values) once per distinct key, concurrently for
  /// different keys. `values` is an input range to read once; under a memory budget, a group
  /// too big to hold (one very hot key) streams from disk while fn reads it.
  template <class F>
  void for_each_group(F fn, shuffle_options options = {}) const;

  /// Moves each item to partition fn(item) % partitions. Later stages see exactly those
  /// partitions (collect_partitions() returns them).
  template <class PartitionFn>
  auto partition_by(PartitionFn fn, std::size_t partitions) const;

  /// Sorts the items by comp (default: <). The output's partitions are in order, so collect()
  /// and write_lines() see every item sorted. Under a memory budget, sorted runs spill to disk
  /// and are merged. Not stable: items that compare equal come out in no particular order.
  template <class Compare = std::less<>>
  auto sort(Compare comp = {}) const;

  /// Sorts the items by key_fn(item), compared with <.
  template <class KeyFn>
  auto sort_by(KeyFn key_fn) const;

  // ---- Joins: both sides are pairs (K, V) with the same key type. ----

  /// Each pair of rows with equal keys: (K, (VL, VR)). Hash join per partition, built on the
  /// side with fewer rows there; under a memory budget both sides spill by partition.
  template <class Right>
  auto join(const Right& right, shuffle_options options = {}) const;
  /// Like join, plus each left row without a partner: (K, (VL, std::optional<VR>)).
  template <class Right>
  auto left_join(const Right& right, shuffle_options options = {}) const;
  /// Like join, plus each right row without a partner: (K, (std::optional<VL>, VR)).
  template <class Right>
  auto right_join(const Right& right, shuffle_options options = {}) const;
  /// Like join, plus the rows of either side without a partner:
  /// (K, (std::optional<VL>, std::optional<VR>)).
  template <class Right>
  auto full_join(const Right& right, shuffle_options options = {}) const;
  /// Each key of either side once, with the values of both:
  /// (K, (std::span<const VL>, std::span<const VR>)); collect() returns vectors.
  template <class Right>
  auto co_group(const Right& right, shuffle_options options = {}) const;

  /// Keeps this dataset's items once computed, so that later actions read them instead of
  /// computing them again (spilling past a quarter of the budget). The items stay until
  /// unpersist(), or until no dataset handle names the cache any more and a run has read it.
  dataset<T> cache() const;
  /// Computes the items now and keeps them like cache(), and cuts the lineage: the returned
  /// dataset has no parents, so what it was computed from can be freed. For long iterations,
  /// whose lineage would otherwise grow every round.
  dataset<T> checkpoint() const;
  /// Drops what this dataset's cache (or checkpoint) keeps, now. A later action computes a
  /// cache again; a checkpoint cannot be, and reports it.
  void unpersist() const;

  // ---- Actions: run the graph. ----

  /// Returns every item, in partition order (input order for sources and local operators).
  std::vector<stored_type> collect() const;

  /// On a job of several ranks: returns every item, in the order collect() gives, on `rank`
  /// alone, and an empty vector on every other rank (the items go straight to that rank, for a
  /// result too large for every rank to hold). On one process, rank 0: the same as collect().
  std::vector<stored_type> collect_on(std::size_t rank) const;

  /// Returns every item, grouped by partition.
  std::vector<std::vector<stored_type>> collect_partitions() const;

  /// Returns the number of items.
  std::size_t count() const;

  /// Merges all items with an associative op(T, T) -> T; empty when there are none. Items are
  /// merged in partition order, so op need not be commutative.
  template <class ReduceFn>
  std::optional<stored_type> reduce(ReduceFn op) const;

  /// Folds items into accumulators starting from init with fold_fn(Acc, T) -> Acc, one per
  /// partition, then merges those in partition order with merge_fn(Acc, Acc) -> Acc. init must
  /// be the identity of merge_fn (0 for +, 1 for *).
  template <class Acc, class FoldFn, class MergeFn>
  Acc fold(Acc init, FoldFn fold_fn, MergeFn merge_fn) const;

  /// Calls fn(item) for every item, concurrently from several threads.
  template <class F>
  void for_each(F fn) const;

  /// Returns the first k items in the order of comp, sorted, without sorting everything. By
  /// default the k largest; on pairs (K, V) the k largest values (ties: smaller key first), as
  /// in `counts.top_k(10)`. Give comp a tie-break to make the result independent of thread
  /// count.
  template <class Compare = detail::default_rank>
  std::vector<stored_type> top_k(std::size_t k, Compare comp = {}) const;

  /// The k items with the largest key_fn(item), largest first: `top_k_by(10, &page::rank)`
  /// or with a lambda.
  template <class KeyFn>
  std::vector<stored_type> top_k_by(std::size_t k, KeyFn key_fn) const;

  /// The first n items in the dataset's order (partition order). Reads partitions in order and
  /// starts no more once it has n items.
  std::vector<stored_type> take(std::size_t n) const;
  /// The first item; empty when there is none.
  std::optional<stored_type> first() const;
  /// Prints the first n items as a table to `out`: a column per member of a pair (key, value),
  /// a tuple or a plain struct (named after its members).
  void show(std::size_t n = 20, std::FILE* out = stdout) const;

  /// Returns the k smallest items by `less` (default <), in ascending order.
  template <class Compare = std::less<>>
  std::vector<stored_type> bottom_k(std::size_t k, Compare less = {}) const;

  /// Returns the least item by `less` (the earliest of equal ones); empty when there are none.
  template <class Compare = std::less<>>
  std::optional<stored_type> min(Compare less = {}) const;
  /// Returns the greatest item by `less` (the earliest of equal ones); empty when there are none.
  template <class Compare = std::less<>>
  std::optional<stored_type> max(Compare less = {}) const;

  /// Writes every item as a line (formatted with fmt's "{}") to `path`, in partition order.
  /// The file appears only once complete: it is written under a temporary name and renamed.
  /// The path "-" writes to standard output. See write_options for part files.
  void write_lines(const std::string& path, write_options options = {}) const;

  /// Writes every item as a CSV row (RFC 4180 quoting): a pair or tuple gives a field per
  /// member, anything else one field; an empty optional is an empty field.
  void write_csv(const std::string& path, csv_options csv = {}, write_options options = {}) const;

  /// Writes the items' bytes back to back (trivially copyable items), the format that
  /// context::read_records reads.
  void write_records(const std::string& path, write_options options = {}) const;

  // ---- Plans. ----

  /// Returns the plan an action on this dataset runs: stages, fused operators, shuffles; after
  /// an action, the stages it ran show its figures (items in and out, partitions, time).
  std::string explain() const;
  /// Returns the same plan as a Graphviz DOT digraph.
  std::string explain_dot() const;

  const std::shared_ptr<node_type>& node() const noexcept { return node_; }
  const Stack& stack() const noexcept { return stack_; }

 private:
  void hold() noexcept {
    if (node_) node_->add_handle();
  }
  void drop() noexcept {
    if (node_) node_->drop_handle();
  }

  std::shared_ptr<node_type> node_;
  Stack stack_;
};

}  // namespace dataflow
