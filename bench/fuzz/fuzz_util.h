// Shared by the libFuzzer targets of bench/fuzz/: the input goes through the reader's real
// entry point (a file on disk, read by load_*()), and a successful read must round-trip:
// from_json(to_json(x)) == x, else the target aborts (a finding).
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/json_reader.h"

namespace paratune::fuzz {

/// Writes the input to a per-process temporary file (in /dev/shm when present) and returns its
/// path; the same file is reused by every input of the process.
inline std::string input_file(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return std::string(dir) + "/paratune-fuzz-" + std::to_string(getpid()) + ".json";
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

/// Aborts with a message when a round trip fails (libFuzzer reports it as a crash).
[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "paratune fuzz finding: %s\n", what.c_str());
  std::abort();
}

}  // namespace paratune::fuzz
