#include "profiler/summary.h"

#include <cstdio>

namespace paratune::profiler {

namespace {

std::string fmt(const char* f, double a, double b = 0, double c = 0) {
  char buf[256];
  std::snprintf(buf, sizeof buf, f, a, b, c);
  return buf;
}

}  // namespace

std::string cluster_summary(const ClusterProfile& c) {
  std::string s = "cluster \"" + c.name + "\" (" + c.source + ")";
  if (!c.note.empty()) s += ": " + c.note;
  s += "\n";
  s += fmt("  %.0f islands x %.0f devices", double(c.islands.size()), c.devices_per_island());
  s += "; device " + c.device.name + fmt(": memory %.2f GiB, %.1f GFLOP/s, %.2f GB/s memory\n",
                                         c.device.memory.value / kGiB, c.device.flops.value / 1e9,
                                         c.device.memory_bandwidth.value / 1e9);
  s += "\n  collective        n  placement  layout       latency_ms   busbw_GB/s  samples\n";
  for (const CollectiveFit& f : c.collectives) {
    char line[200];
    std::snprintf(line, sizeof line, "  %-15s %3d  %-9s  %-11s %11.4f  %11.4f  %7zu\n",
                  to_string(f.op), f.group_size, to_string(f.placement),
                  f.consecutive ? "consecutive" : "strided", f.latency.value,
                  f.bus_bandwidth.value / 1e9, f.samples.size());
    s += line;
  }
  if (!c.p2p.empty()) {
    s += "\n  p2p    placement  latency_ms   bw_GB/s\n";
    for (const P2pFit& p : c.p2p) {
      char line[160];
      std::snprintf(line, sizeof line, "         %-9s  %10.4f  %8.4f\n", to_string(p.placement),
                    p.latency.value, p.bandwidth.value / 1e9);
      s += line;
    }
  }
  s += fmt("\n  overlap: compute x%.3f, communication x%.3f while both run\n",
           c.overlap.compute_slowdown, c.overlap.comm_slowdown);
  if (!c.arrival_waits.empty()) {
    s += "\n  arrival wait (ms) of a collective after compute (load ms):\n";
    for (const ArrivalWait& w : c.arrival_waits) {
      char line[256];
      int at = std::snprintf(line, sizeof line, "    n=%-3d %-5s %-11s", w.group_size,
                             to_string(w.placement), w.consecutive ? "consecutive" : "strided");
      for (const WaitSample& x : w.samples)
        if (at < int(sizeof line) - 32)
          at += std::snprintf(line + at, sizeof line - at, "  %.2f -> %.3f", x.load.value,
                              x.wait.value);
      s += line;
      s += "\n";
    }
  }
  if (c.host_sharing.ranks_per_host > 0)
    s += fmt("  host sharing: %.0f ranks per host, compute x%.3f when all of them compute\n",
             double(c.host_sharing.ranks_per_host), c.host_sharing.compute_slowdown);
  return s;
}

}  // namespace paratune::profiler
