// What the MPI test files share: the job's world, the settings each test runs under, and the
// check of an action that a function fails on one rank.
#pragma once

#include <dataflow/mpi.hpp>

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <utility>
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

// How an action failed on this rank: with a job_error naming rank `failing` (`job`), or with an
// `Own` error of this rank's; an empty message when it did not fail.
struct failure {
  std::string message;
  bool job = false;
};
template <class Own, class Action>
failure failure_of(std::size_t failing, Action&& action) {
  failure f;
  try {
    action();
  } catch (const dataflow::job_error& e) {
    f.job = true;
    f.message = e.what();
    CHECK(e.failed_rank() == failing);
  } catch (const Own& e) {
    f.message = e.what();
  }
  return f;
}

// Runs an action that a function fails on rank `failing` with "bad item ...": that rank gets its
// own stage_error, every other one a job_error naming that rank, both with the message.
template <class Action>
void check_failed_on(std::size_t failing, std::size_t me, Action&& action) {
  const failure f = failure_of<dataflow::stage_error>(failing, std::forward<Action>(action));
  CHECK(f.message.find("bad item") != std::string::npos);
  CHECK(f.job == (me != failing));
}

}  // namespace mpi_test
