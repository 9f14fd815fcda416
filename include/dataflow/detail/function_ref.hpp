// A non-owning, type-erased reference to a callable, for calls made per block, per partition or
// per task: one indirect call and no allocation, where a template parameter would compile the
// callee again for every caller.
#pragma once

#include <concepts>
#include <memory>
#include <type_traits>
#include <utility>

namespace dataflow::detail {

/// A non-owning reference to a callable: one indirect call, no allocation. The callable must
/// outlive the reference (pass it down a call, never store it).
template <class Signature>
class function_ref;

template <class R, class... Args>
class function_ref<R(Args...)> {
 public:
  template <class F>
    requires(!std::same_as<std::remove_cvref_t<F>, function_ref> && std::invocable<F&, Args...>)
  function_ref(F&& f) noexcept  // NOLINT: converts like std::function does
      : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
        call_([](void* o, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...);
        }) {}

  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

}  // namespace dataflow::detail
