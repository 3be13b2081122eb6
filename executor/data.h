// Training batches: byte-level tokens of a text file (token = byte mod vocab) or random tokens.
// Batch `step` is a pure function of (source, seed, step), identical on every rank, so each rank
// slices its own samples without communication.
//
//   StatusOr<TokenSource> src = TokenSource::from_file("/usr/share/common-licenses/GPL-3", 64, 1);
//   at::Tensor b = src->batch(0, 16, 17);  // [16, 17] int64
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/status.h"

namespace paratune::executor {

/// The default corpus: a text file that ships with Debian.
inline constexpr const char* kDefaultCorpus = "/usr/share/common-licenses/GPL-3";

class TokenSource {
 public:
  static StatusOr<TokenSource> from_file(const std::string& path, int vocab, uint64_t seed);
  static TokenSource synthetic(int vocab, uint64_t seed);
  /// [batch, len] int64 token ids of step `step`.
  at::Tensor batch(int64_t step, int64_t batch, int64_t len) const;
  const std::string& description() const { return desc_; }

 private:
  std::vector<uint8_t> bytes_;  // empty: synthetic
  int vocab_ = 0;
  uint64_t seed_ = 0;
  std::string desc_;
};

}  // namespace paratune::executor
