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
/// Also calls keep_heap().
void install_tracking_allocator(int64_t limit_bytes);

/// Keeps freed tensor memory in this process's heap for reuse (glibc: blocks up to 32 MiB come
/// from the heap instead of their own mmap, and the heap's top is not given back), so that a
/// step's activations do not page-fault fresh zeroed pages from the kernel on every call. With
/// several ranks time-sharing cores, that churn cost gpt-mini's largest layer point 60-110% of
/// its time and moved it by up to 30% between runs. Idempotent; does nothing off glibc, and
/// leaves glibc's own settings alone when MALLOC_MMAP_THRESHOLD_ or MALLOC_TRIM_THRESHOLD_ is
/// set in the environment. Returns whether it changed the settings.
bool keep_heap();
void set_memory_limit(int64_t limit_bytes);
int64_t tracked_current_bytes();
int64_t tracked_peak_bytes();
/// Resets the peak to the current live bytes.
void reset_tracked_peak();

}  // namespace paratune::executor
