// Status / StatusOr for user, config and file errors; PARATUNE_CHECK for broken invariants.
//
// Errors a user can cause (bad file, bad flag, infeasible request) travel as a Status whose
// message names the file and the field. Broken internal invariants abort via PARATUNE_CHECK
// (always on, also in release builds), like XLA's TF_RET_CHECK / ggml's GGML_ASSERT.
//
//   StatusOr<ModelConfig> cfg = load_model_config("m.json");
//   if (!cfg.ok()) { std::cerr << cfg.status().message(); return 1; }
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

namespace paratune {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // a file, field or flag is wrong
  kNotFound,         // a file or entry does not exist
  kInfeasible,       // no plan satisfies the constraints
  kInternal,         // something that should not happen
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string msg) {
  return Status(StatusCode::kInvalidArgument, std::move(msg));
}
inline Status NotFound(std::string msg) { return Status(StatusCode::kNotFound, std::move(msg)); }
inline Status Infeasible(std::string msg) {
  return Status(StatusCode::kInfeasible, std::move(msg));
}
inline Status Internal(std::string msg) { return Status(StatusCode::kInternal, std::move(msg)); }

template <class T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    if (status_.ok()) status_ = Internal("StatusOr constructed from an OK status without value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  const T& value() const& { check(); return *value_; }
  T& value() & { check(); return *value_; }
  T&& value() && { check(); return std::move(*value_); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

 private:
  void check() const {
    if (!value_) {
      std::fprintf(stderr, "paratune: StatusOr::value() on error: %s\n", status_.message().c_str());
      std::abort();
    }
  }
  Status status_;
  std::optional<T> value_;
};

namespace internal {
[[noreturn]] inline void check_failed(const char* expr, const char* file, int line,
                                      const std::string& msg) {
  std::fprintf(stderr, "paratune: check failed at %s:%d: %s %s\n", file, line, expr, msg.c_str());
  std::abort();
}
}  // namespace internal

}  // namespace paratune

/// Always-on invariant check (not for user errors).
#define PARATUNE_CHECK(cond)                                                     \
  do {                                                                           \
    if (!(cond)) ::paratune::internal::check_failed(#cond, __FILE__, __LINE__, ""); \
  } while (0)
#define PARATUNE_CHECK_MSG(cond, msg)                                               \
  do {                                                                              \
    if (!(cond)) ::paratune::internal::check_failed(#cond, __FILE__, __LINE__, (msg)); \
  } while (0)

#define PARATUNE_RETURN_IF_ERROR(expr)          \
  do {                                          \
    ::paratune::Status _st = (expr);            \
    if (!_st.ok()) return _st;                  \
  } while (0)

#define PARATUNE_CONCAT_INNER(a, b) a##b
#define PARATUNE_CONCAT(a, b) PARATUNE_CONCAT_INNER(a, b)
#define PARATUNE_ASSIGN_OR_RETURN(lhs, expr) \
  PARATUNE_ASSIGN_OR_RETURN_IMPL(PARATUNE_CONCAT(_status_or_, __LINE__), lhs, expr)
#define PARATUNE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return tmp.status();                  \
  lhs = std::move(tmp).value()
