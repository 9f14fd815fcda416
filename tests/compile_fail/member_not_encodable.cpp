#include <dataflow/dataflow.hpp>
#include <vector>
struct widget {
  int id;
  const char* label;  // a pointer cannot be written to disk
};
int main() {
  std::vector<char> buf;
  dataflow::byte_writer w(buf);
  dataflow::encode(w, widget{1, "x"});
}
