// Communication model.
//
// Collective over n devices, full tensor of B bytes (nccl-tests bus-bandwidth convention):
//   t_ms = alpha_ms * calls + f(op, n) * B / busbw_Bps * 1e3  [+ calls * r(B / calls)],
//   f(allreduce) = 2(n-1)/n,  f(allgather) = f(reduce_scatter) = f(all2all) = (n-1)/n.
// `calls` is 1 for one collective; gradient buckets charge a fraction (see layer_cost.cpp).
// r (EstimatorOptions::comm_samples, default OFF; tried in round 21): where the profile entry
// found in step 1 or 2 below has measured samples, the residual of the samples against the fit
// (measured - fitted time at each measured size), linear in log2(size) between the nearest
// measured sizes and constant beyond them. At a measured size one call costs what was measured.
// The fit is least squares on absolute times, so it follows the largest sizes and misses small
// ones: on the emulated 2 x 2 cluster of row AC a 64 KiB allgather across the link measured
// 0.99 ms where the fit said 2.05 ms. But single samples are noisy (a 4 MiB allreduce measured
// 25.8 ms where 16 MiB took 22.3 ms), and re-predicting 11 stored accuracy rows with the
// residual was worse than the fit alone (docs/accuracy.md, round 21), so it is off.
// Point-to-point: t_ms = alpha_ms + B / bw_Bps * 1e3.
//
// Lookup of (op, n, placement, consecutive) in the profile, first hit wins:
//   for op' in [op, allreduce]              (a missing allgather / reduce_scatter / all2all
//                                            uses allreduce's bus bandwidth and latency)
//     1. exact (op', n, placement, consecutive)
//     2. exact (op', n, placement, !consecutive)
//     3. same (op', placement, consecutive), other group sizes: bandwidth and latency linear in
//        log2(n) between the nearest smaller and larger measured sizes; outside the measured
//        range the nearest size (no extrapolation)
//     4. as 3 with !consecutive
//   5. the p2p fit of the placement (its link bandwidth taken as the bus bandwidth)
//   6. 1-5 with the other placement (optimistic for inter-island groups: better than nothing,
//      and a profile that measured anything across islands never gets here)
// p2p lookup: p2p fit of the placement; else allreduce n = 2 of the placement (steps 1-4);
// else the same with the other placement.
//
// Arrival wait (cluster.arrival_waits, optional): a collective called after c ms of compute
// also pays wait(c), linear between the measured (load, wait) points with (0, 0) first and the
// last wait beyond the last load (it saturates at a scheduler slice). Lookup: exact (n,
// placement, consecutive), then !consecutive, then the nearest measured group size of the
// placement, then the other placement; none measured: no wait.
// Not charged where ranks share their host's cores (cluster.host_sharing.shared()): there the
// model profile's compute time is the time with all of a host's ranks computing, i.e. until the
// last of them is done, so the earlier ranks' wait for it is already inside that time. Measured
// with `paratune train --trace` and bench/executor/trace_arrivals.py (docs/accuracy.md, round
// 14): pp1-m2 tp8-dp1 on 8 ranks over 2 CPUs spent 2.5 ms computing and 4.3 ms waiting before
// each TP allreduce, 6.8 ms in all against the profile's 6.8 ms of compute per call, where the
// estimator had added the probe's 10-13.5 ms wait on top; tp4-dp1 on 4 ranks, 3.6 ms against
// 2.2 x 1.57 (that day's CPU speed) = 3.5 ms. Every calibration had fitted wait x0.22-0.55.
//
// Group shape of a layer on stage s: the TP / DP groups of core/device_mesh.h; the placement is
// inter-island when ANY group of the layer has ranks in two islands (cluster.island_of), since
// a collective of the layer finishes with its slowest group.
#include "estimator/comm_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/device_mesh.h"

namespace paratune::estimator {

namespace {

Placement other(Placement p) {
  return p == Placement::kIntraIsland ? Placement::kInterIsland : Placement::kIntraIsland;
}

const CollectiveFit* find_exact(const ClusterProfile& c, CollectiveOp op, int n, Placement p,
                                bool consecutive) {
  for (const CollectiveFit& f : c.collectives) {
    if (f.op == op && f.group_size == n && f.placement == p && f.consecutive == consecutive &&
        f.bus_bandwidth.value > 0) {
      return &f;
    }
  }
  return nullptr;
}

std::optional<CommFit> interpolate(const ClusterProfile& c, CollectiveOp op, int n, Placement p,
                                   bool consecutive) {
  const CollectiveFit* lo = nullptr;
  const CollectiveFit* hi = nullptr;
  for (const CollectiveFit& f : c.collectives) {
    if (f.op != op || f.placement != p || f.consecutive != consecutive ||
        f.bus_bandwidth.value <= 0 || f.group_size < 2) {
      continue;
    }
    if (f.group_size <= n && (lo == nullptr || f.group_size > lo->group_size)) lo = &f;
    if (f.group_size >= n && (hi == nullptr || f.group_size < hi->group_size)) hi = &f;
  }
  if (lo == nullptr && hi == nullptr) return std::nullopt;
  if (lo == nullptr) return CommFit{hi->latency, hi->bus_bandwidth};
  if (hi == nullptr || hi->group_size == lo->group_size) {
    return CommFit{lo->latency, lo->bus_bandwidth};
  }
  const double w = (std::log2(static_cast<double>(n)) - std::log2(lo->group_size)) /
                   (std::log2(hi->group_size) - std::log2(lo->group_size));
  return CommFit{lo->latency + (hi->latency - lo->latency) * w,
                 lo->bus_bandwidth + (hi->bus_bandwidth - lo->bus_bandwidth) * w};
}

// Steps 1-4 for one op.
std::optional<CommFit> find_collective_op(const ClusterProfile& c, CollectiveOp op, int n,
                                          Placement p, bool consecutive) {
  for (bool cons : {consecutive, !consecutive}) {
    if (const CollectiveFit* f = find_exact(c, op, n, p, cons)) {
      return CommFit{f->latency, f->bus_bandwidth, f->samples.empty() ? nullptr : &f->samples};
    }
  }
  for (bool cons : {consecutive, !consecutive}) {
    if (auto f = interpolate(c, op, n, p, cons)) return f;
  }
  return std::nullopt;
}

// Steps 1-4 for op, then for allreduce.
std::optional<CommFit> find_collective_only(const ClusterProfile& c, CollectiveOp op, int n,
                                            Placement p, bool consecutive) {
  if (auto f = find_collective_op(c, op, n, p, consecutive)) return f;
  if (op != CollectiveOp::kAllReduce) {
    return find_collective_op(c, CollectiveOp::kAllReduce, n, p, consecutive);
  }
  return std::nullopt;
}

std::optional<CommFit> find_p2p_only(const ClusterProfile& c, Placement p) {
  for (const P2pFit& f : c.p2p) {
    if (f.placement == p && f.bandwidth.value > 0) return CommFit{f.latency, f.bandwidth};
  }
  return std::nullopt;
}

}  // namespace

std::optional<CommFit> find_collective(const ClusterProfile& c, CollectiveOp op, int group_size,
                                       Placement placement, bool consecutive) {
  for (Placement p : {placement, other(placement)}) {
    if (auto f = find_collective_only(c, op, group_size, p, consecutive)) return f;
    if (auto f = find_p2p_only(c, p)) return f;
  }
  return std::nullopt;
}

std::optional<CommFit> find_p2p(const ClusterProfile& c, Placement placement) {
  for (Placement p : {placement, other(placement)}) {
    if (auto f = find_p2p_only(c, p)) return f;
    if (auto f = find_collective_op(c, CollectiveOp::kAllReduce, 2, p, true)) return f;
  }
  return std::nullopt;
}

double handoff_fraction(const ClusterProfile& c, Placement placement) {
  for (Placement p : {placement, other(placement)})
    for (const P2pFit& f : c.p2p)
      if (f.placement == p) return f.handoff_fraction;
  return 0.0;
}

Milliseconds sample_residual(const CommFit& fit, CollectiveOp op, int group_size, Bytes bytes) {
  if (fit.samples == nullptr || bytes.value <= 0) return Milliseconds(0);
  auto residual = [&](const CommSample& s) {  // measured - the fit alone, one call
    return s.time.value - collective_time(fit, op, group_size, s.bytes).value;
  };
  // The nearest measured sizes at or below and at or above `bytes` (the samples may come in any
  // order; no allocation: the search prices many collectives).
  const CommSample* lo = nullptr;
  const CommSample* hi = nullptr;
  const CommSample* smallest = nullptr;
  const CommSample* largest = nullptr;
  for (const CommSample& s : *fit.samples) {
    if (!(s.bytes.value > 0) || !std::isfinite(s.time.value)) continue;
    if (s.bytes.value <= bytes.value && (!lo || s.bytes.value > lo->bytes.value)) lo = &s;
    if (s.bytes.value >= bytes.value && (!hi || s.bytes.value < hi->bytes.value)) hi = &s;
    if (!smallest || s.bytes.value < smallest->bytes.value) smallest = &s;
    if (!largest || s.bytes.value > largest->bytes.value) largest = &s;
  }
  if (!smallest) return Milliseconds(0);
  if (!lo) return Milliseconds(residual(*smallest));  // below the measured sizes
  if (!hi) return Milliseconds(residual(*largest));   // above them
  if (hi->bytes.value == lo->bytes.value) return Milliseconds(residual(*lo));
  const double w = (std::log2(bytes.value) - std::log2(lo->bytes.value)) /
                   (std::log2(hi->bytes.value) - std::log2(lo->bytes.value));
  return Milliseconds(residual(*lo) + (residual(*hi) - residual(*lo)) * w);
}

Milliseconds collective_time(const CommFit& fit, CollectiveOp op, int group_size, Bytes bytes,
                             double latency_calls, bool use_samples) {
  if (group_size <= 1 || bytes.value <= 0) return Milliseconds(0);
  const Milliseconds fitted = fit.latency * latency_calls +
                              transfer_time(bytes * algo_factor(op, group_size), fit.bandwidth);
  if (!use_samples || fit.samples == nullptr || !(latency_calls > 0)) return fitted;
  const Milliseconds r =
      sample_residual(fit, op, group_size, Bytes(bytes.value / latency_calls)) * latency_calls;
  return Milliseconds(std::max(0.0, fitted.value + r.value));
}

Milliseconds p2p_transfer_time(const CommFit& fit, Bytes bytes) {
  if (bytes.value <= 0) return Milliseconds(0);
  return fit.latency + transfer_time(bytes, fit.bandwidth);
}

int island_of_rank(const CostContext& ctx, Rank r) {
  PARATUNE_CHECK_MSG(
      r >= 0 && r < ctx.cluster->num_devices(),
      "rank " + std::to_string(r) + " outside cluster \"" + ctx.cluster->name + "\"");
  return ctx.cluster->island_of(r);
}

namespace {

GroupShape shape_of(const CostContext& ctx, const std::vector<std::vector<Rank>>& groups) {
  GroupShape g;
  PARATUNE_CHECK(!groups.empty());
  g.size = static_cast<int>(groups.front().size());
  g.consecutive = is_consecutive(groups.front());
  for (const std::vector<Rank>& group : groups) {
    const int island = island_of_rank(ctx, group.front());
    for (Rank r : group) {
      if (island_of_rank(ctx, r) != island) {
        g.placement = Placement::kInterIsland;
        return g;
      }
    }
  }
  return g;
}

}  // namespace

GroupShape tp_group_shape(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls) {
  return shape_of(ctx, tp_groups(ctx.num_devices, ctx.pp, stage, ls));
}

GroupShape dp_group_shape(const CostContext& ctx, StageIdx stage, const LayerStrategy& ls) {
  return shape_of(ctx, dp_groups(ctx.num_devices, ctx.pp, stage, ls));
}

GroupShape stage_group_shape(const CostContext& ctx, StageIdx stage) {
  const int g = ctx.devices_per_stage();
  std::vector<Rank> ranks(g);
  for (int i = 0; i < g; ++i) ranks[i] = stage_first_rank(ctx.num_devices, ctx.pp, stage) + i;
  return shape_of(ctx, {ranks});
}

Milliseconds CommPricer::collective(CommUse use, CollectiveOp op, const GroupShape& g, Bytes bytes,
                                    double latency_calls) {
  if (g.size <= 1 || bytes.value <= 0) return Milliseconds(0);
  std::optional<CommFit> fit = find_collective(cluster_, op, g.size, g.placement, g.consecutive);
  if (!fit) {
    if (missing_.empty()) {
      missing_ = std::string("cluster profile \"") + cluster_.name + "\" has no data for " +
                 to_string(op) + " over " + std::to_string(g.size) + " " + to_string(g.placement) +
                 "-island devices (nor any other collective or p2p)";
    }
    return Milliseconds(0);
  }
  return collective_time(*fit, op, g.size, bytes, latency_calls, use_samples_) *
         (scales_ ? scales_->collective(use, op, g.size, g.placement) : 1.0);
}

namespace {

Milliseconds interpolate_wait(const ArrivalWait& w, Milliseconds compute) {
  double x0 = 0, y0 = 0;
  for (const WaitSample& p : w.samples) {
    if (compute.value <= p.load.value) {
      const double t = (compute.value - x0) / (p.load.value - x0);
      return Milliseconds(y0 + (p.wait.value - y0) * std::max(0.0, t));
    }
    x0 = p.load.value;
    y0 = p.wait.value;
  }
  return Milliseconds(y0);
}

const ArrivalWait* find_wait(const ClusterProfile& c, const GroupShape& g) {
  for (Placement p : {g.placement, other(g.placement)}) {
    for (bool cons : {g.consecutive, !g.consecutive})
      for (const ArrivalWait& w : c.arrival_waits)
        if (w.group_size == g.size && w.placement == p && w.consecutive == cons) return &w;
    const ArrivalWait* best = nullptr;
    for (const ArrivalWait& w : c.arrival_waits) {
      if (w.placement != p) continue;
      const double d = std::abs(std::log2(double(w.group_size)) - std::log2(double(g.size)));
      if (!best || d < std::abs(std::log2(double(best->group_size)) - std::log2(double(g.size))))
        best = &w;
    }
    if (best) return best;
  }
  return nullptr;
}

}  // namespace

Milliseconds CommPricer::wait(const GroupShape& g, Milliseconds compute_before) const {
  if (g.size <= 1 || cluster_.arrival_waits.empty()) return Milliseconds(0);
  // Ranks sharing their host's cores: the compute before the call is priced at the profile's
  // all-ranks-computing speed, which is when the last rank of a CPU gets done; the ranks that
  // finish before it wait inside that time, not after it (see the top of the file).
  if (cluster_.host_sharing.shared()) return Milliseconds(0);
  const ArrivalWait* w = find_wait(cluster_, g);
  return w ? interpolate_wait(*w, compute_before) * (scales_ ? scales_->wait : 1.0) : Milliseconds(0);
}

}  // namespace paratune::estimator
