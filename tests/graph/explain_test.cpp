// explain() and explain_dot(): the stages, the fused operators and the shuffles of a plan.
#include "../support/test_support.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

TEST_CASE("explain lists stages with their fused operators and shuffles", "[graph][explain]") {
  dataflow::context ctx(2);
  test::temp_dir dir;
  test::write_file(dir.file("a.txt"), "x y\n");
  auto counts = ctx.read_lines(dir.file("a.txt"))
                    .flat_map(dataflow::split_words)
                    .map([](std::string_view w) { return std::pair{w, 1}; })
                    .reduce_by_key(std::plus<>{});
  auto plan = counts.filter([](const auto& p) { return p.second > 1; }).explain();
  INFO(plan);
  CHECK(plan.rfind("plan: 2 stages, 1 shuffle\n", 0) == 0);
  auto stage1 = plan.find("stage 1: read_lines#");
  auto stage2 = plan.find("stage 2: reduce_by_key#");
  REQUIRE(stage1 != std::string::npos);
  REQUIRE(stage2 != std::string::npos);
  CHECK(stage1 < stage2);
  // Local operators are fused into stage 1, in order, ending in the shuffle.
  auto line1 = plan.substr(stage1, plan.find('\n', stage1) - stage1);
  CHECK(line1.find("flat_map#") < line1.find("map#", line1.find("flat_map#") + 9));
  CHECK(line1.find("-> reduce_by_key#") != std::string::npos);
  CHECK(plan.find("hash shuffle into 16 partitions") != std::string::npos);
  CHECK(plan.find("filter#") > stage2);

  // Nothing ran.
  CHECK(counts.explain().find("plan: 2 stages") == 0);
}

namespace {

/// Checks that Graphviz's dot accepts `dot` and draws an SVG of it.
void render_with_graphviz(const std::string& dot) {
  INFO("Graphviz's dot is needed (cmake/deps.sh installs the graphviz package)");
  REQUIRE(std::system("command -v dot >/dev/null 2>&1") == 0);
  test::temp_dir dir;
  test::write_file(dir.file("plan.dot"), dot);
  std::string cmd = "dot -Tsvg " + dir.file("plan.dot") + " -o " + dir.file("plan.svg");
  CHECK(std::system(cmd.c_str()) == 0);
  CHECK(test::read_file(dir.file("plan.svg")).find("<svg") != std::string::npos);
}

}  // namespace

TEST_CASE("explain_dot is a Graphviz digraph with one cluster per stage", "[graph][explain]") {
  dataflow::context ctx(2);
  auto ds = ctx.from({1, 2, 3})
                .map([](int x) { return std::pair{x % 2, x}; })
                .group_by_key()
                .map([](const auto& g) { return std::pair{g.first, g.second.size()}; })
                .reduce_by_key(std::plus<>{});
  auto dot = ds.explain_dot();
  INFO(dot);
  CHECK(dot.rfind("digraph dataflow {", 0) == 0);
  CHECK(dot.find("subgraph cluster_1") != std::string::npos);
  CHECK(dot.find("subgraph cluster_3") != std::string::npos);
  CHECK(dot.find("subgraph cluster_4") == std::string::npos);
  CHECK(dot.find("style=dashed, label=\"shuffle\"") != std::string::npos);
  CHECK(dot.back() == '\n');

  CHECK(dot.find("items in") == std::string::npos);  // nothing ran yet
  render_with_graphviz(dot);
}

TEST_CASE("explain after a run shows each stage's figures", "[graph][explain][stats]") {
  dataflow::context ctx(2);
  std::vector<int> v(1000);
  for (int i = 0; i < 1000; ++i) v[static_cast<std::size_t>(i)] = i;
  auto sums = ctx.from(v)
                  .filter([](int x) { return x % 2 == 0; })
                  .map([](int x) { return std::pair{x % 10, x}; })
                  .reduce_by_key(std::plus<>{});
  CHECK(sums.explain().find("ran:") == std::string::npos);  // nothing ran yet
  CHECK(sums.count() == 5);
  auto plan = sums.explain();
  INFO(plan);
  CHECK(plan.find("ran: 1000 items in (3.9 KiB), 500 out (3.9 KiB),") != std::string::npos);
  CHECK(plan.find("ran: 5 items in (40 B), 5 out (40 B),") != std::string::npos);

  // The DOT plan carries the same figures: per stage in its cluster's label, per shuffle on
  // its edge. Graphviz draws it.
  auto dot = sums.explain_dot();
  INFO(dot);
  CHECK(dot.find("label=\"stage 1\\n1000 items in (3.9 KiB), 500 out (3.9 KiB)\\n") != std::string::npos);
  CHECK(dot.find("label=\"stage 2\\n5 items in (40 B), 5 out (40 B)\\n") != std::string::npos);
  CHECK(dot.find("style=dashed, label=\"shuffle\\n500 items, 3.9 KiB\"") != std::string::npos);
  render_with_graphviz(dot);
}

TEST_CASE("both inputs of a self-join are stages of their own", "[graph][explain][stats]") {
  dataflow::context ctx(2);
  std::vector<std::pair<int, int>> rows;
  for (int i = 0; i < 1000; ++i) rows.push_back({i % 100, i});
  auto pairs = ctx.from(rows).map([](const std::pair<int, int>& r) { return r; });
  auto grouped = pairs.co_group(pairs);
  CHECK(grouped.count() == 100);
  const auto& run = ctx.last_run();
  int left = 0, right = 0;
  for (const auto& s : run.stages) {
    left += s.name.size() > 7 && s.name.compare(s.name.size() - 7, 7, " (left)") == 0;
    right += s.name.size() > 8 && s.name.compare(s.name.size() - 8, 8, " (right)") == 0;
  }
  CHECK(left == 1);
  CHECK(right == 1);
  auto plan = grouped.explain();
  INFO(plan);
  auto l = plan.find(" (left)\n");
  auto r = plan.find(" (right)\n");
  REQUIRE(l != std::string::npos);
  REQUIRE(r != std::string::npos);
  // Each side's stage line is followed by its own figures.
  CHECK(plan.find("ran: 1000 items in", l) < plan.find("stage", l));
  CHECK(plan.find("ran: 1000 items in", r) < plan.find("stage", r));
}
