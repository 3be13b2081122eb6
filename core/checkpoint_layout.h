// Where the elements of a checkpoint piece sit in the full parameter tensor, and which source
// pieces fill a range some other layout needs (re-sharding on load). Pure and torch-free.
//
// A TP slice k of t along dimension d of a row-major tensor of shape S is, with
// outer = S[0]*...*S[d-1], inner = S[d+1]*...*S[n-1] and c = (S[d]/t)*inner elements per outer
// index: slice element i (o = i / c, r = i % c) is full element o*S[d]*inner + k*c + r. So an
// element range of the slice is a run of full-tensor ranges, one per outer index it touches
// (a single run for split_dim 0 or a replicated tensor).
//
//   std::vector<FullRun> runs = full_runs(slice);          // sorted by full offset
//   StatusOr<std::vector<Copy>> cp = plan_copies(target, sources, "layer3.wq");
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace paratune {

/// A range of a TP slice of a full tensor: slice tp_rank of tp along split_dim (-1: the whole
/// tensor), elements [begin, end) of its row-major flattening.
struct SliceRange {
  std::vector<int64_t> full_shape;
  int split_dim = -1;
  int tp = 1;
  int tp_rank = 0;
  int64_t begin = 0, end = 0;
};

struct FullRun {
  int64_t full = 0;   // first element in the flattened full tensor
  int64_t local = 0;  // the same element's offset from the range's begin
  int64_t len = 0;
};

/// The full-tensor runs of `r`, in increasing full (and local) order. Expects a valid range.
std::vector<FullRun> full_runs(const SliceRange& r);

/// One copy: `len` elements from source `source`, element `src` (from its begin), to the
/// target's element `dst` (from its begin).
struct Copy {
  int source = 0;
  int64_t src = 0, dst = 0, len = 0;
};

/// Copies that fill `target` from `sources` (ranges of the same full tensor, any layout), in
/// increasing target order; where sources overlap the first in full order is used. An element of
/// the target that no source holds is an error naming `what` and the first missing element.
StatusOr<std::vector<Copy>> plan_copies(const SliceRange& target,
                                        const std::vector<SliceRange>& sources,
                                        const std::string& what);

}  // namespace paratune
