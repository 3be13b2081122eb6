#include "executor/tracking_allocator.h"

#include <atomic>
#include <cstdlib>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <c10/core/Allocator.h>
#include <c10/core/impl/alloc_cpu.h>

namespace paratune::executor {

namespace {

constexpr size_t kHeader = 64;  // keeps the 64-byte alignment of alloc_cpu
std::atomic<int64_t> g_current{0}, g_peak{0}, g_limit{0};

std::string fmt_mib(int64_t b) { return std::to_string(double(b) / (1024.0 * 1024.0)) + " MiB"; }

void tracked_delete(void* base) {
  if (!base) return;
  const int64_t n = *static_cast<int64_t*>(base);
  g_current -= n;
  c10::free_cpu(base);
}

class TrackingAllocator final : public c10::Allocator {
 public:
  c10::DataPtr allocate(size_t nbytes) const override {
    const int64_t n = int64_t(nbytes);
    const int64_t now = g_current.fetch_add(n) + n;
    const int64_t limit = g_limit.load();
    if (limit > 0 && now > limit) {
      g_current -= n;
      throw OutOfMemory("out of memory: allocating " + fmt_mib(n) + " would bring this rank's " +
                        "tracked CPU memory to " + fmt_mib(now) + ", over --memory-per-device " +
                        fmt_mib(limit));
    }
    int64_t peak = g_peak.load();
    while (now > peak && !g_peak.compare_exchange_weak(peak, now)) {
    }
    void* base = c10::alloc_cpu(nbytes + kHeader);
    *static_cast<int64_t*>(base) = n;
    return {static_cast<char*>(base) + kHeader, base, &tracked_delete, at::Device(at::kCPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
};

TrackingAllocator g_allocator;
std::atomic<bool> g_installed{false};

}  // namespace

bool keep_heap() {
#if defined(__GLIBC__)
  static const bool changed = [] {
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TRIM_THRESHOLD_"))
      return false;
    // 32 MiB is glibc's largest mmap threshold on 64-bit; setting it also stops glibc's own
    // adjustment of both thresholds.
    const bool a = mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1;
    const bool b = mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1;
    return a && b;
  }();
  return changed;
#else
  return false;
#endif
}

void install_tracking_allocator(int64_t limit_bytes) {
  keep_heap();
  g_limit = limit_bytes;
  if (!g_installed.exchange(true)) c10::SetAllocator(at::kCPU, &g_allocator);
}
void set_memory_limit(int64_t limit_bytes) { g_limit = limit_bytes; }
int64_t tracked_current_bytes() { return g_current.load(); }
int64_t tracked_peak_bytes() { return g_peak.load(); }
void reset_tracked_peak() { g_peak = g_current.load(); }

}  // namespace paratune::executor
