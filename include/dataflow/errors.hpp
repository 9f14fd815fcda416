// The exceptions dataflow throws.
//
// Every error derives from dataflow::error. A user function that throws inside a run surfaces as
// a stage_error naming the operator, the stage and the input position; the user's own exception
// stays reachable through original() and std::rethrow_if_nested.
#pragma once

#include <dataflow/detail/config.hpp>

#include <exception>
#include <stdexcept>
#include <string>

namespace dataflow {

/// Base of every exception the library throws.
class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Reports a file that cannot be found, opened, read or written; the message names the path.
class io_error : public error {
 public:
  io_error(std::string path, const std::string& what);
  /// Returns the path the failure concerns.
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

/// Reports an invalid use of the API (a bad argument, an impossible option).
class usage_error : public error {
 public:
  using error::error;
};

/// Reports memory a stage could not get (std::bad_alloc inside it); the message names the stage
/// and suggests a memory budget, under which the stage would have spilled instead.
class memory_error : public error {
 public:
  explicit memory_error(const std::string& stage);
  /// Returns the stage that ran out of memory.
  const std::string& stage() const noexcept { return stage_; }

 private:
  std::string stage_;
};

/// Reports a user function that threw during a run.
///
/// Thrown with std::throw_with_nested, so `std::rethrow_if_nested(e)` rethrows the user's
/// exception; original() returns it as an exception_ptr.
class stage_error : public error {
 public:
  stage_error(std::string op, std::string stage, std::string where, std::exception_ptr original,
              const std::string& original_what);

  /// Returns the operator whose function threw, such as "map#3".
  const std::string& op() const noexcept { return op_; }
  /// Returns the stage that ran it, as the chain of operators it fuses.
  const std::string& stage() const noexcept { return stage_; }
  /// Returns the input position ("file.txt:17", "partition 3"), or "" when unknown.
  const std::string& where() const noexcept { return where_; }
  /// Returns the exception the user function threw.
  const std::exception_ptr& original() const noexcept { return original_; }

 private:
  static std::string compose(const std::string& op, const std::string& stage,
                             const std::string& where, const std::string& what);

  std::string op_;
  std::string stage_;
  std::string where_;
  std::exception_ptr original_;
};

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <utility>

namespace dataflow {

DATAFLOW_INLINE io_error::io_error(std::string path, const std::string& what)
    : error("dataflow: " + what), path_(std::move(path)) {}

DATAFLOW_INLINE memory_error::memory_error(const std::string& stage)
    : error("dataflow: out of memory in stage " + stage +
            " (set context::memory_budget below the memory the process may use, so that it spills to disk)"),
      stage_(stage) {}

DATAFLOW_INLINE stage_error::stage_error(std::string op, std::string stage, std::string where,
                                         std::exception_ptr original, const std::string& original_what)
    : error(compose(op, stage, where, original_what)),
      op_(std::move(op)),
      stage_(std::move(stage)),
      where_(std::move(where)),
      original_(std::move(original)) {}

DATAFLOW_INLINE std::string stage_error::compose(const std::string& op, const std::string& stage,
                                                 const std::string& where, const std::string& what) {
  std::string m = "dataflow: " + op + " threw";
  if (!where.empty()) m += " at " + where;
  m += " (stage: " + stage + "): " + what;
  return m;
}

}  // namespace dataflow
#endif
