// A small command-line parser shared by the example tools: `--name value` options and
// positional arguments, with errors that say what was wrong.
#pragma once

#include <dataflow/context.hpp>
#include <dataflow/errors.hpp>
#include <dataflow/memory.hpp>
#include <dataflow/signals.hpp>

#if defined(EXAMPLES_WITH_MPI)
#include <dataflow/mpi.hpp>
#endif

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace examples {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class cli {
 public:
  cli(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--") {
        for (++i; i < argc; ++i) positional_.push_back(argv[i]);
        break;
      }
      if (a == "--mapper" || a == "--combiner" || a == "--reducer") {  // switches, no value
        switches_.push_back(a);
        continue;
      }
      if (a == "--direct") {  // a flag, no value
        flags_.insert(a);
        continue;
      }
      // "--name value", or a one-letter "-o value".
      if ((a.size() > 2 && a.compare(0, 2, "--") == 0) || (a.size() == 2 && a[0] == '-' && a[1] != '-')) {
        if (i + 1 >= argc) throw usage_error("option " + a + " needs a value");
        options_[a] = argv[++i];
      } else {
        positional_.push_back(a);
      }
    }
  }

  /// Returns the non-negative integer given for `name`, or `fallback`.
  std::size_t number(const std::string& name, std::size_t fallback) {
    auto it = options_.find(name);
    if (it == options_.end()) return fallback;
    const std::string& v = it->second;
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (errno == ERANGE) throw usage_error("option " + name + " is out of range: '" + v + "'");
    if (v.empty() || *end != '\0' || v[0] == '-') {
      throw usage_error("option " + name + " needs a non-negative integer, got '" + v + "'");
    }
    options_.erase(it);
    return static_cast<std::size_t>(n);
  }

  /// Returns the byte size given for `name` ("256M", "1G", "65536"), or `fallback`.
  std::size_t size(const std::string& name, std::size_t fallback) {
    auto it = options_.find(name);
    if (it == options_.end()) return fallback;
    try {
      std::size_t n = dataflow::parse_size(it->second);
      options_.erase(it);
      return n;
    } catch (const dataflow::usage_error&) {
      throw usage_error("option " + name + " needs a size such as 256M, got '" + it->second + "'");
    }
  }

  /// Returns the text given for `name`, or `fallback`.
  std::string text(const std::string& name, const std::string& fallback) {
    auto it = options_.find(name);
    if (it == options_.end()) return fallback;
    std::string v = it->second;
    options_.erase(it);
    return v;
  }

  /// Whether the flag `name` (a switch with no value) was given.
  bool flag(const std::string& name) { return flags_.erase(name) > 0; }

  /// The Hadoop Streaming role given (--mapper, --combiner or --reducer), or "" for none; two
  /// roles at once are a usage error.
  std::string role() {
    if (switches_.size() > 1) throw usage_error("give one of --mapper, --combiner and --reducer");
    std::string r = switches_.empty() ? "" : switches_.front().substr(2);
    switches_.clear();
    return r;
  }

  /// Returns the positional arguments, requiring at least `min`; call after the options.
  std::vector<std::string> positional(std::size_t min) const {
    if (!options_.empty()) throw usage_error("unknown option " + options_.begin()->first);
    if (!flags_.empty()) throw usage_error("unknown option " + *flags_.begin());
    if (!switches_.empty()) throw usage_error(switches_.front() + " is not a role of this tool");
    if (positional_.size() < min) throw usage_error("missing FILE argument");
    return positional_;
  }

 private:
  std::vector<std::string> switches_;
  std::set<std::string> flags_;
  std::map<std::string, std::string> options_;
  std::vector<std::string> positional_;
};

/// True when mpirun (Open MPI, PMIx) or Slurm's srun (PMI) started this process as one rank of
/// a job of several. A job of one rank (`mpirun -np 1`, `srun -n 1`) runs as one process: MPI
/// would add nothing but its start and end (0.33 s for Open MPI's default transport here).
inline bool started_as_rank() {
  bool rank = false;
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    rank = rank || std::getenv(v) != nullptr;
  }
  if (!rank) return false;
  // The job's size where the launcher says it (srun's step, not an allocation's SLURM_NTASKS,
  // which a batch script's own commands see too).
  for (const char* size : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_STEP_NUM_TASKS"}) {
    if (const char* v = std::getenv(size); v != nullptr) return std::string_view(v) != "1";
  }
  return true;
}

/// A context on `threads` threads (0: every core). A tool built with MPI (dataflow::mpi) and
/// started by mpirun or srun as a rank of a job of several runs as one rank of the job: the same
/// flags, the same output (written by rank 0), the input split between the ranks.
inline dataflow::context make_context(std::size_t threads) {
#if defined(EXAMPLES_WITH_MPI)
  if (started_as_rank()) return dataflow::context(dataflow::mpi_world{}, threads);
#endif
  return dataflow::context(threads);
}

/// A context with the threads and memory budget of --threads N and --budget SIZE (by default,
/// every core and no budget).
inline dataflow::context context_from(cli& args) {
  dataflow::context ctx = make_context(args.number("--threads", 0));
  ctx.memory_budget(args.size("--budget", 0));
  return ctx;
}

/// The run figures a tool prints to stderr after its output: --stats text (a table) or
/// --stats json; "" when not asked for.
inline std::string stats_format(cli& args) {
  std::string stats = args.text("--stats", "");
  if (!stats.empty() && stats != "text" && stats != "json") {
    throw usage_error("--stats takes text or json, got '" + stats + "'");
  }
  return stats;
}

/// Prints the last run's per-stage figures to stderr in `format` (from stats_format), on rank 0.
inline void print_stats(const dataflow::context& ctx, const std::string& format) {
  if (format.empty() || ctx.rank() != 0) return;
  if (format == "text") std::fputs(ctx.last_run().table().c_str(), stderr);
  if (format == "json") std::fprintf(stderr, "%s\n", ctx.last_run().json().c_str());
}

/// Writes `text` to standard output and flushes it; throws naming standard output when that
/// fails (a full disk, /dev/full), so that a tool never exits 0 with its output cut short.
inline void write_stdout(std::string_view text) {
  errno = 0;
  if (!text.empty() && std::fwrite(text.data(), 1, text.size(), stdout) != text.size()) {
    throw dataflow::io_error("-", std::string("cannot write standard output: ") + std::strerror(errno));
  }
  if (std::fflush(stdout) != 0) {
    throw dataflow::io_error("-", std::string("cannot write standard output: ") + std::strerror(errno));
  }
}

/// Runs a tool's body: removes temporaries and dies of the signal on SIGINT, SIGTERM, SIGHUP and
/// SIGPIPE; a usage error exits 2 with the usage, any other error exits 1 with its message;
/// output still buffered is flushed and checked before the tool reports success.
template <class Body>
int tool_main(const char* name, const char* usage, Body&& body) {
  dataflow::remove_temporaries_on_signals();
  try {
    body();
    write_stdout({});
    return 0;
  } catch (const usage_error& e) {
    std::fprintf(stderr, "%s: %s\n%s", name, e.what(), usage);
    return 2;
  } catch (const dataflow::usage_error& e) {
    std::fprintf(stderr, "%s: %s\n%s", name, e.what(), usage);
    return 2;
  } catch (const dataflow::job_error& e) {
    // Another rank failed. Every rank says so: mpirun ends the job as soon as one rank exits
    // non-zero, maybe before the failing rank has printed its own error.
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name, e.what());
    return 1;
  }
}

}  // namespace examples
