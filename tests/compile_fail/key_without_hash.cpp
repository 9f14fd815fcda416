#include <dataflow/dataflow.hpp>
#include <utility>
// A class with private members is not seen through, so it has no derived hash.
class opaque {
 public:
  explicit opaque(int v) : v_(v) {}
  bool operator==(const opaque&) const = default;

 private:
  int v_;
};
int main() {
  dataflow::context ctx;
  ctx.from({std::pair{opaque{1}, 1}}).reduce_by_key(std::plus<>{}).count();
}
