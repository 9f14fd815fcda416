// The core of the sort_lines tool: the lines of text files sorted bytewise (as LC_ALL=C sort
// does), written to a file or standard output ("-"). Under the context's memory budget, sorted
// runs spill to disk and are merged.
#pragma once

#include <dataflow/dataflow.hpp>

#include <string>
#include <vector>

namespace examples {

inline void sort_lines(dataflow::context& ctx, const std::vector<std::string>& files,
                       const std::string& out, dataflow::write_options options = {}) {
  ctx.read_lines(files).sort().write_lines(out, options);
}

}  // namespace examples
