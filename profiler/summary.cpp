#include "profiler/summary.h"

#include <algorithm>
#include <cmath>
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
    s += "\n  p2p    placement  latency_ms   bw_GB/s  handoff\n";
    for (const P2pFit& p : c.p2p) {
      char line[160];
      std::snprintf(line, sizeof line, "         %-9s  %10.4f  %8.4f  %7s\n", to_string(p.placement),
                    p.latency.value, p.bandwidth.value / 1e9,
                    p.handoff_fraction > 0 ? fmt("%.3f", p.handoff_fraction).c_str() : "-");
      s += line;
    }
    s += "  (handoff: how late a pipeline send arrives, as a fraction of the compute its sender\n"
         "   does after it; '-' = not measured)\n";
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
    s += fmt("  host sharing: %.0f ranks per host, compute x%.3f when all of them compute",
             double(c.host_sharing.ranks_per_host), c.host_sharing.compute_slowdown) +
         (c.host_sharing.call_cpu_ms > 0
              ? fmt(", %.3f ms of CPU per small collective call\n", c.host_sharing.call_cpu_ms)
              : std::string("\n"));
  if (!c.host_sharing.cpus.empty()) {
    std::string list;
    for (int cpu : c.host_sharing.cpus) list += (list.empty() ? "" : ",") + std::to_string(cpu);
    s += "  ranks of a host bound to CPUs " + list + " (by position on the host)\n";
  }
  return s;
}

double AgreementRow::rel_diff() const {
  if (a == b) return 0;
  return std::abs(b - a) / std::max(std::abs(a), 1e-12);
}

int ProfileAgreement::within(double tol) const {
  return int(std::count_if(times.begin(), times.end(),
                           [&](const AgreementRow& r) { return r.rel_diff() <= tol; }));
}

double ProfileAgreement::max_rel_diff() const {
  double m = 0;
  for (const AgreementRow& r : times) m = std::max(m, r.rel_diff());
  return m;
}

double ProfileAgreement::median_rel_diff() const {
  if (times.empty()) return 0;
  std::vector<double> d;
  for (const AgreementRow& r : times) d.push_back(r.rel_diff());
  std::sort(d.begin(), d.end());
  const size_t n = d.size();
  return n % 2 ? d[n / 2] : 0.5 * (d[n / 2 - 1] + d[n / 2]);
}

double ProfileAgreement::median_ratio() const {
  if (times.empty()) return 1;
  std::vector<double> q;
  for (const AgreementRow& r : times) q.push_back(r.a > 0 ? r.b / r.a : 1.0);
  std::sort(q.begin(), q.end());
  const size_t n = q.size();
  return n % 2 ? q[n / 2] : 0.5 * (q[n / 2 - 1] + q[n / 2]);
}

ProfileAgreement ProfileAgreement::speed_removed() const {
  ProfileAgreement g = *this;
  const double f = median_ratio();
  if (f > 0)
    for (AgreementRow& r : g.times) r.b /= f;
  return g;
}

ProfileAgreement ProfileAgreement::at_probe_speed() const {
  ProfileAgreement g = *this;
  if (probe_ratio > 0) {
    for (AgreementRow& r : g.times) r.b /= probe_ratio;
    g.probe_ratio = 1;
  }
  return g;
}

std::string ProfileAgreement::report(double tol) const {
  std::vector<AgreementRow> rows = times;
  std::stable_sort(rows.begin(), rows.end(), [](const AgreementRow& x, const AgreementRow& y) {
    return x.rel_diff() > y.rel_diff();
  });
  std::string s = "  time                                          A ms        B ms     diff\n";
  for (const AgreementRow& r : rows) {
    char line[200];
    std::snprintf(line, sizeof line, "  %-40s %11.4f %11.4f  %6.1f%%%s\n", r.what.c_str(), r.a,
                  r.b, 100 * r.rel_diff(), r.rel_diff() > tol ? "  *" : "");
    s += line;
  }
  double act_max = 0;
  for (const AgreementRow& r : activations) act_max = std::max(act_max, r.rel_diff());
  char line[300];
  std::snprintf(line, sizeof line,
                "\n  %d of %zu times within %.0f%% (median difference %.1f%%, max %.1f%%); "
                "activation bytes: %zu points, max difference %.2f%%",
                within(tol), times.size(), 100 * tol, 100 * median_rel_diff(),
                100 * max_rel_diff(), activations.size(), 100 * act_max);
  s += line;
  if (unmatched) s += fmt("; %.0f points in only one profile", unmatched);
  s += "\n";
  const ProfileAgreement g = speed_removed();
  std::snprintf(line, sizeof line,
                "  B / A at the median point: x%.3f; with B divided by it (each run's overall "
                "speed taken out): %d of %zu within %.0f%% (median %.1f%%, max %.1f%%)\n",
                median_ratio(), g.within(tol), g.times.size(), 100 * tol,
                100 * g.median_rel_diff(), 100 * g.max_rel_diff());
  s += line;
  if (probe_ratio > 0) {
    const ProfileAgreement h = at_probe_speed();
    std::snprintf(line, sizeof line,
                  "  speed probe B / A: x%.3f; with B divided by it (B put on A's speed, as "
                  "profile-model --speed-reference A does): %d of %zu within %.0f%% (median "
                  "%.1f%%, max %.1f%%)\n",
                  probe_ratio, h.within(tol), h.times.size(), 100 * tol,
                  100 * h.median_rel_diff(), 100 * h.max_rel_diff());
    s += line;
  } else {
    s += "  speed probe: not in both profiles (or probes of different calls)\n";
  }
  return s;
}

StatusOr<ProfileAgreement> compare_model_profiles(const ModelProfile& a, const ModelProfile& b) {
  if (a.model != b.model)
    return InvalidArgument("profiles are of different models: \"" + a.model + "\" and \"" +
                           b.model + "\"");
  if (!a.model_fingerprint.empty() && !b.model_fingerprint.empty() &&
      a.model_fingerprint != b.model_fingerprint)
    return InvalidArgument("profiles of \"" + a.model +
                           "\" were measured for different configs (model_fingerprint " +
                           a.model_fingerprint + " vs " + b.model_fingerprint + ")");
  ProfileAgreement g;
  for (const LayerTypeProfile& la : a.layer_types) {
    const LayerTypeProfile* lb = b.find(la.name);
    if (!lb) {
      g.unmatched += int(la.compute.size());
      continue;
    }
    for (const ComputePoint& ca : la.compute) {
      auto cb = std::find_if(lb->compute.begin(), lb->compute.end(), [&](const ComputePoint& c) {
        return c.tp == ca.tp && c.micro_batch == ca.micro_batch;
      });
      if (cb == lb->compute.end()) {
        ++g.unmatched;
        continue;
      }
      const std::string at =
          la.name + " tp " + std::to_string(ca.tp) + " mb " + std::to_string(ca.micro_batch);
      g.times.push_back({at + " forward", ca.forward.value, cb->forward.value});
      g.times.push_back({at + " backward", ca.backward.value, cb->backward.value});
      if (ca.forward_no_grad && cb->forward_no_grad)
        g.times.push_back({at + " forward no_grad", ca.forward_no_grad->value,
                           cb->forward_no_grad->value});
    }
    for (const ActivationPoint& xa : la.activation) {
      auto xb = std::find_if(lb->activation.begin(), lb->activation.end(),
                             [&](const ActivationPoint& x) { return x.tp == xa.tp && x.sp == xa.sp; });
      if (xb != lb->activation.end())
        g.activations.push_back({la.name + " tp " + std::to_string(xa.tp) + (xa.sp ? " sp" : ""),
                                 xa.bytes_per_sample.value, xb->bytes_per_sample.value});
    }
  }
  for (const LayerTypeProfile& lb : b.layer_types) {
    const LayerTypeProfile* la = a.find(lb.name);
    for (const ComputePoint& cb : lb.compute)
      if (!la || std::none_of(la->compute.begin(), la->compute.end(), [&](const ComputePoint& c) {
            return c.tp == cb.tp && c.micro_batch == cb.micro_batch;
          }))
        ++g.unmatched;
  }
  for (const OptimizerPoint& ob : b.optimizer_step)
    if (std::none_of(a.optimizer_step.begin(), a.optimizer_step.end(),
                     [&](const OptimizerPoint& o) { return o.params == ob.params; }))
      ++g.unmatched;
  for (const OptimizerPoint& oa : a.optimizer_step) {
    auto ob = std::find_if(b.optimizer_step.begin(), b.optimizer_step.end(),
                           [&](const OptimizerPoint& o) { return o.params == oa.params; });
    if (ob == b.optimizer_step.end()) {
      ++g.unmatched;
      continue;
    }
    g.times.push_back({"optimizer step " + std::to_string(oa.params) + " params", oa.time.value,
                       ob->time.value});
  }
  if (a.speed_probe && b.speed_probe && a.speed_probe->call == b.speed_probe->call)
    g.probe_ratio =
        b.speed_probe->at_profile_speed().value / a.speed_probe->at_profile_speed().value;
  return g;
}

}  // namespace paratune::profiler
