#include <dataflow/dataflow.hpp>
#include <utility>
struct opaque {
  int v;
  bool operator==(const opaque&) const = default;
};
int main() {
  dataflow::context ctx;
  ctx.from({std::pair{opaque{1}, 1}}).reduce_by_key(std::plus<>{}).count();
}
