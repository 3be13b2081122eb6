// A c10 CPU allocator that counts live bytes and their peak, installed with c10::SetAllocator,
// and optionally enforces a per-rank budget: an allocation that would push the live bytes past
// the limit throws OutOfMemory (a clean error instead of the kernel's OOM killer), so memory
// limits are real on CPU too. Counts what libtorch allocates on CPU (parameters, gradients,
// optimizer state, activations, communication buffers), not Gloo's internal buffers.
//
//   install_tracking_allocator(/*limit_bytes=*/2LL << 30);
//   ...; int64_t peak = tracked_peak_bytes();
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace paratune::executor {

struct OutOfMemory : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Installs the tracking allocator for CPU tensors (idempotent); limit_bytes <= 0: no limit.
void install_tracking_allocator(int64_t limit_bytes);
void set_memory_limit(int64_t limit_bytes);
int64_t tracked_current_bytes();
int64_t tracked_peak_bytes();
/// Resets the peak to the current live bytes.
void reset_tracked_peak();

}  // namespace paratune::executor
