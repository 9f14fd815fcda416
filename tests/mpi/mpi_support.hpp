// What the MPI test files share: the job's world, the settings each test runs under, and the
// check of an action that a function fails on one rank.
#pragma once

#include <dataflow/mpi.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace mpi_test {

inline dataflow::mpi_world& world() {
  static dataflow::mpi_world w;
  return w;
}

// Thread counts and budgets as they differ between runs: each rank of a test uses the same.
struct setting {
  std::size_t threads;
  std::size_t budget;
};
inline const std::vector<setting>& settings() {
  static const std::vector<setting> s{{1, 0}, {2, 0}, {3, 0}, {2, std::size_t{1} << 20}};
  return s;
}

inline const std::vector<std::size_t>& lengths() {
  static const std::vector<std::size_t> n{0, 1, 2, 7, 1000, 100'003};
  return n;
}

// Runs an action that a function fails on rank `failing` with "bad item ...": that rank gets its
// own stage_error, every other one a job_error naming that rank, both with the message.
template <class Action>
void check_failed_on(std::size_t failing, std::size_t me, Action&& action) {
  std::string message;
  bool job = false;
  try {
    action();
  } catch (const dataflow::job_error& e) {
    job = true;
    message = e.what();
    CHECK(e.failed_rank() == failing);
  } catch (const dataflow::stage_error& e) {
    message = e.what();
  }
  CHECK(message.find("bad item") != std::string::npos);
  CHECK(job == (me != failing));
}

}  // namespace mpi_test
