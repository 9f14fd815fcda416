// Leaving nothing behind on SIGINT, SIGTERM, SIGHUP and SIGPIPE.
//
// Spill files and staged outputs have no name while they are written (O_TMPFILE), so a signal,
// even SIGKILL, leaves none of them. Only on file systems without O_TMPFILE, or for the moment
// between linking a finished output and renaming it into place, does a temporary have a name;
// the handler installed here removes those names and then dies of the same signal, so the
// shell sees 128 + the signal's number as it would without a handler.
#pragma once

#include <dataflow/detail/config.hpp>

namespace dataflow {
namespace detail {

extern "C" void remove_temporaries_and_die(int sig);

}  // namespace detail

/// Installs handlers for SIGINT, SIGTERM, SIGHUP and SIGPIPE that remove the named temporaries
/// of running writes and end the process with the signal. A signal the process ignores (under
/// nohup, say) stays ignored. For programs; a library embedding dataflow may keep its own.
void remove_temporaries_on_signals();

}  // namespace dataflow

#if DATAFLOW_HEADER_DEFINITIONS
#include <dataflow/storage/output_file.hpp>

#include <signal.h>

namespace dataflow {
namespace detail {

extern "C" DATAFLOW_INLINE void remove_temporaries_and_die(int sig) {
  temp_registry::instance().unlink_all();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

}  // namespace detail

DATAFLOW_INLINE void remove_temporaries_on_signals() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) {
    struct sigaction old {};
    if (::sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    struct sigaction sa {};
    sa.sa_handler = detail::remove_temporaries_and_die;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESETHAND;
    ::sigaction(sig, &sa, nullptr);
  }
}

}  // namespace dataflow
#endif
