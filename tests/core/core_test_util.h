// Helpers shared by the core tests: repository paths, temporary files, error assertions.
#pragma once

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "core/json_reader.h"
#include "core/status.h"

namespace paratune::testing_util {

/// Repository root (ctest sets PARATUNE_SOURCE_DIR; tests also run from the root).
inline std::string source_dir() {
  const char* d = std::getenv("PARATUNE_SOURCE_DIR");
  return d ? d : ".";
}
inline std::string repo_path(const std::string& rel) { return source_dir() + "/" + rel; }

/// Writes `text` to a fresh file in the test temp dir and returns its path.
inline std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
  return path;
}

/// Asserts that `st` is an error whose message contains every one of `parts`.
template <class... Parts>
::testing::AssertionResult error_contains(const Status& st, const Parts&... parts) {
  if (st.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  for (const std::string& p : {std::string(parts)...}) {
    if (st.message().find(p) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message \"" << st.message() << "\" lacks \"" << p << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace paratune::testing_util
