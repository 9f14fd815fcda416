#include <dataflow/dataflow.hpp>
#include <string_view>
struct bigram {
  std::string_view first, second;
};
int main() {
  dataflow::context ctx;
  ctx.from({std::string("a b")})
      .map([](const std::string& s) { return bigram{std::string_view(s).substr(0, 1), std::string_view(s).substr(2)}; })
      .collect();
}
