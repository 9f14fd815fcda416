// Plans as text and as Graphviz DOT: the stages an action would run, the local operators fused
// into each, and the shuffles between them.
#pragma once

#include <dataflow/detail/config.hpp>
#include <dataflow/graph/node.hpp>
#include <dataflow/run_stats.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace dataflow::detail {

/// One stage: a node's output, through fused operators, into a consumer.
struct plan_stage {
  const node_base* input;
  std::vector<std::string> ops;
  const node_base* consumer;  // null for the final stage (the action)
  std::size_t side = 0;       // which input of the consumer
};

/// Lists the stages that computing `root` and then reading it through `final_ops` would run,
/// in execution order. A filled cache ends the walk: nothing upstream of it runs again.
std::vector<plan_stage> plan_stages(const node_base& root,
                                    const std::vector<std::string>& final_ops);

std::string node_title(const node_base& n);

/// The figures of a plan stage in `run`, if that run ran it (the stage's name is its input, its
/// operators and its consumer, the action's label for the last stage).
const stage_stats* stage_figures(const plan_stage& s, const run_stats& run);

/// "ran: 14238989 items in, 149473309 out, 17 partitions (skew 1.00), 3.597 s, 0 spilled".
std::string figures_text(const stage_stats& st);

/// The plan; with `run`, each stage that run ran is annotated with its figures.
std::string explain_text(const node_base& root, const std::vector<std::string>& final_ops,
                         const run_stats* run = nullptr);

std::string dot_escape(const std::string& s);

/// The plan as a DOT graph, a cluster per stage; with `run`, each stage that run ran carries its
/// figures in the cluster's label, and each shuffle edge the items and bytes it moved.
std::string explain_dot_text(const node_base& root, const std::vector<std::string>& final_ops,
                             const run_stats* run = nullptr);

}  // namespace dataflow::detail

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/memory.hpp>

#include <dataflow/detail/format.hpp>

#include <unordered_set>
#include <utility>

namespace dataflow::detail {

DATAFLOW_INLINE std::vector<plan_stage> plan_stages(const node_base& root,
                                                   const std::vector<std::string>& final_ops) {
  std::vector<plan_stage> stages;
  std::unordered_set<const node_base*> seen;
  auto visit = [&](auto& self, const node_base& n) -> void {
    if (!seen.insert(&n).second || n.keeps_result()) return;
    for (std::size_t i = 0; i < n.parents().size(); ++i) {
      const auto& p = n.parents()[i];
      self(self, *p);
      stages.push_back({p.get(), n.input_ops(i), &n, i});
    }
  };
  visit(visit, root);
  stages.push_back({&root, final_ops, nullptr});
  return stages;
}

DATAFLOW_INLINE std::string node_title(const node_base& n) {
  std::string s = n.label();
  std::string d = n.describe();
  if (!d.empty()) s += " (" + d + ")";
  return s;
}

DATAFLOW_INLINE const stage_stats* stage_figures(const plan_stage& s, const run_stats& run) {
  std::string name = s.input->label();
  for (const auto& op : s.ops) name += " -> " + op;
  name += " -> " + (s.consumer ? s.consumer->input_label(s.side) : run.action);
  for (const auto& st : run.stages) {
    if (st.name == name) return &st;
  }
  return nullptr;
}

DATAFLOW_INLINE std::string figures_text(const stage_stats& st) {
  return fmt::format(
      "ran: {} items in ({}), {} out ({}), {} partitions (skew {:.2f}), {:.3f} s, {} spilled, "
      "peak memory {}",
      st.items_in, format_size(st.bytes_in), st.items_out, format_size(st.bytes_out),
      st.partitions, st.skew(), st.wall_seconds, format_size(st.spilled_bytes),
      format_size(st.peak_memory));
}

DATAFLOW_INLINE std::string explain_text(const node_base& root,
                                         const std::vector<std::string>& final_ops,
                                         const run_stats* run) {
  auto stages = plan_stages(root, final_ops);
  std::size_t shuffles = 0;
  for (const auto& s : stages) shuffles += s.consumer && s.consumer->kind() == node_kind::barrier;
  std::string out = "plan: " + std::to_string(stages.size()) + " stage" +
                    (stages.size() == 1 ? "" : "s") + ", " + std::to_string(shuffles) +
                    " shuffle" + (shuffles == 1 ? "" : "s") + "\n";
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    out += "stage " + std::to_string(i + 1) + ": " + node_title(*s.input);
    if (s.input->keeps_result()) out += " [cached]";
    for (const auto& op : s.ops) out += " -> " + op;
    if (s.consumer) {
      out += " -> " + s.consumer->input_label(s.side) + "\n";
      std::string d = s.consumer->describe_input();
      if (!d.empty()) out += "  " + s.consumer->label() + ": " + d + "\n";
    } else {
      out += " -> (action)\n";
    }
    if (run) {
      if (const stage_stats* st = stage_figures(s, *run)) out += "  " + figures_text(*st) + "\n";
    }
  }
  return out;
}

DATAFLOW_INLINE std::string dot_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

DATAFLOW_INLINE std::string explain_dot_text(const node_base& root,
                                             const std::vector<std::string>& final_ops,
                                             const run_stats* run) {
  auto stages = plan_stages(root, final_ops);
  std::string out =
      "digraph dataflow {\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];\n";
  // A barrier appears twice: as the sink of the stage that feeds it and as the source of the
  // stage that reads it; a dashed edge (the shuffle) joins the two.
  struct fed {
    const node_base* node;
    std::string box;            // the sink box of the stage that fed it
    const stage_stats* figures;  // that stage's, if the run ran it
  };
  std::vector<fed> sinks;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const auto& s = stages[i];
    const stage_stats* st = run ? stage_figures(s, *run) : nullptr;
    std::string prefix = "s" + std::to_string(i + 1) + "_";
    std::string title = "stage " + std::to_string(i + 1);
    if (st) {
      // "\n" is a line break inside a DOT label.
      title += fmt::format(
          "\\n{} items in ({}), {} out ({})\\n{} partitions (skew {:.2f}), {:.3f} s wall, {:.3f} s cpu"
          "\\npeak memory {}, {} spilled",
          st->items_in, format_size(st->bytes_in), st->items_out, format_size(st->bytes_out),
          st->partitions, st->skew(), st->wall_seconds, st->cpu_seconds,
          format_size(st->peak_memory), format_size(st->spilled_bytes));
    }
    out += "  subgraph cluster_" + std::to_string(i + 1) + " {\n    label=\"" + title + "\";\n";
    std::vector<std::string> ids;
    auto box = [&](const std::string& label) {
      std::string id = prefix + std::to_string(ids.size());
      out += "    " + id + " [label=\"" + dot_escape(label) + "\"];\n";
      ids.push_back(id);
    };
    box(node_title(*s.input));
    for (const auto& op : s.ops) box(op);
    box(s.consumer ? s.consumer->input_label(s.side) : std::string("action"));
    for (std::size_t j = 1; j < ids.size(); ++j) out += "    " + ids[j - 1] + " -> " + ids[j] + ";\n";
    out += "  }\n";
    for (const auto& f : sinks) {
      if (f.node == s.input) {
        std::string how = f.node->kind() == node_kind::barrier ? "shuffle"
                          : f.node->kind() == node_kind::pass  ? "read"
                                                               : "cache";
        if (f.figures) {
          how += fmt::format("\\n{} items, {}", f.figures->items_out,
                             format_size(f.figures->bytes_out));
        }
        out += "  " + f.box + " -> " + ids.front() + " [style=dashed, label=\"" + how + "\"];\n";
      }
    }
    if (s.consumer) sinks.push_back({s.consumer, ids.back(), st});
  }
  out += "}\n";
  return out;
}

}  // namespace dataflow::detail
#endif
