// 1F1B pipeline model.
//
// Stage s of pp runs M micro-batches; micro_s = sum over its layers of (forward + backward) +
// resharding + embedding / head + p2p to the next stage (ms per micro-batch).
//   in flight(s) = min(M, pp - s)   activations of that many micro-batches are alive at the
//                                   peak (stage 0 after its warm-up holds pp of them)
//   T = sum_s micro_s + (M - 1) * max_s micro_s + max_s sync_s
// The first term is one micro-batch crossing every stage (fill + drain), the second the steady
// state paced by the slowest stage, the last the exposed gradient synchronisation / optimizer
// step after the last backward (stages sync in parallel). With equal stages this is the usual
// (M + pp - 1) * micro.
// Ranks that share a host's cores (cluster.host_sharing: R ranks per host, compute k times
// slower when all R compute than alone, i.e. R / k cores' worth; the model profile is measured
// with all of them computing, so its times are the slow ones). A stage waiting in the 1F1B
// bubble frees cores for the others, so the plain formula over-predicts pipelines. Per stage s:
// c_s its compute and m_s its whole micro-batch time as above, n_s its ranks on one host,
//   k(n) = max(1, n k / R)                     (slowdown with n ranks of the host computing)
//   solo_s = m_s - (1 - k(n_s) / k) (c_s + w_s) (stage s computing while the rest of its host
//                                              waits; = m_s when the stage fills its host)
// with w_s the stage's arrival waits (LayerCost::waits): measured with every rank of the host
// computing, they come from peers that the oversubscribed cores left behind, and shrink with
// the compute when fewer ranks compute.
// Sets of ranks that run out of step (G_s = host_groups(): the stage's ranks on its busiest
// host that no per-micro-batch collective joins; TP groups that span islands, say). In step
// (G_s = 1) the ranks of the host compute together and communicate together. Out of step, one
// set's communication frees cores for another's compute, and the host's compute runs faster
// than profiled. Processor sharing with G_s sets of n_s / G_s ranks, each computing a fraction
// u of its time: given that one set computes, the other G_s - 1 compute with probability u
// each, so with j of them computing N = (1 + j) n_s / G_s ranks do and
//   e(u)    = E_j[k(N)] / k,   j ~ Binomial(G_s - 1, u)
//   shared_s = e c_s + e w_s + x_s,   x_s = m_s - c_s - w_s (the communication itself)
//   u       = e c_s / shared_s
// iterated from u = 1 (where shared_s = solo_s) to its fixed point; shared_s = solo_s when
// G_s = 1. With the host full and many sets this tends to max(c_s, (c_s + w_s) / k + x_s):
// the host's compute capacity or the solo critical path, whichever is longer.
//   T1 = sum_s shared_s + (M - 1) max_s shared_s + max_s sync_s    (the schedule at that speed)
//   T2 = max over hosts h of  M * sum_s n_sh (c_s + k q n_calls_s) / R + M * min_{s on h} v_s
//        + max_s sync_s
// with n_sh the ranks of stage s on host h: the host's compute work (n_sh M c_s / k core-ms on
// R / k cores), the CPU of the stage's blocking calls (q = host_sharing.call_cpu_ms per call,
// n_calls_s per micro-batch: StageTime::calls; 0 when not profiled), plus the communication no
// rank of the host can hide behind another's compute,
// v_s = max(0, m_s - c_s - k q n_calls_s n_sh / R) (1 - u)^(G_s - 1): all the other sets
// communicate too, and the calls' CPU is inside the communication time when the ranks call
// together (one stage in step on a full host: T2 = M m_s + sync, the plain formula).
//   T = max(T1, T2)
// One stage per host in step (pp 1, or stages the size of a host, G = 1): shared_s = m_s, so T1
// is the plain formula and T2 <= T1. Without sharing (k = 1) T1 is the plain formula and
// T2 <= T1. In both cases T is the plain formula.
// Ranks bound one CPU each (host_sharing.cpus, `paratune launch --cpu-bind spread` with fewer
// CPUs than ranks): which stages compete is known, so T2 is replaced by the 1F1B schedule played
// out on those CPUs (bound_pipeline_time()): every stage runs its micro-batches' forwards and
// backwards in 1F1B order (pp - 1 - s forwards of warm-up, then one forward and one backward in
// turn, then the backwards left); F(s, m) starts when F(s - 1, m) has ended, B(s, m) when
// B(s + 1, m) has. A task is its compute, f_s (c_s + w_s + k q n_calls_s) for the forward and
// (1 - f_s) (...) for the backward (f_s = StageTime::forward_share), then its communication
// f_s x_s or (1 - f_s) x_s with x_s = max(0, m_s - c_s - w_s - k q n_calls_s), which holds no
// CPU. While computing, a stage progresses at the speed of its slowest CPU: with L ranks
// computing on a CPU that F ranks of the host are bound to, profiled compute takes
// max(1, L k / F) / k of its time (k(n) above, per CPU; L = F is the profiled speed). Ranks on
// one CPU share it equally; a stage alone on its CPUs runs at 1 / k. Then
//   T2 = the last task's end + max_s sync_s,   T = max(T1, T2)
// (T1 carries the handoff delays; on one stage per CPU with nothing shared T2 is the plain
// formula at solo speed). Measured on the emulated 2 x 2 cluster bound 0,1,0,1 (pp4-m8, stages
// 0 and 2 on one CPU): the capacity form of T2 said the cores are busy all the time, but 26-35%
// of a step they were idle waiting for a neighbour's handoff.
// Handoff delay (cluster p2p handoff_fraction h of the link's placement; 0 when not measured).
// A send that is not waited for progresses on Gloo's event-loop thread, which on ranks that share
// cores runs when the sender stops computing, so the message arrives up to the sender's next
// compute segment late. Per link s -> s+1, added to stage s's micro-batch time in T1:
//   d_s = h * (solo c_s + solo c_{s+1}) / 2
// (the forward activation waits for a segment of s, the gradient for one of s+1; a segment is
// on average half a micro-batch's forward + backward). It occupies no core, so T2 is unchanged.
// p2p (per micro-batch, forward activation + backward gradient), in the layout of the stage's
// last layer (dp, and seq_split = tp with SP, 1 without: TP ranks without SP send copies):
//   bytes = (B / M) * seq * hidden * e / (dp * seq_split),   p2p = 2 * (alpha + bytes / bw)
// with the p2p fit (comm_model.cpp) of the placement of pairs (s*g + i, (s+1)*g + i).
#include "estimator/pipeline.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include "core/device_mesh.h"
#include "estimator/comm_model.h"

namespace paratune::estimator {

int in_flight_micro_batches(int pp, StageIdx stage, int micro_batches) {
  PARATUNE_CHECK(pp >= 1 && stage >= 0 && stage < pp && micro_batches >= 1);
  return std::min(micro_batches, pp - stage);
}

Milliseconds pipeline_iteration_time(const std::vector<Milliseconds>& stage_micro,
                                     const std::vector<Milliseconds>& stage_sync,
                                     int micro_batches) {
  PARATUNE_CHECK(!stage_micro.empty() && stage_micro.size() == stage_sync.size());
  PARATUNE_CHECK(micro_batches >= 1);
  Milliseconds sum, slowest, sync;
  for (size_t s = 0; s < stage_micro.size(); ++s) {
    sum += stage_micro[s];
    slowest = std::max(slowest, stage_micro[s]);
    sync = std::max(sync, stage_sync[s]);
  }
  return sum + slowest * (micro_batches - 1) + sync;
}

namespace {

// Ranks of stage `stage` (g consecutive ranks) on the host of ranks [host_lo, host_lo + r).
int stage_ranks_on_host(const CostContext& ctx, StageIdx stage, int host_lo, int r) {
  const int g = ctx.devices_per_stage();
  return std::max(0, std::min((stage + 1) * g, host_lo + r) - std::max(stage * g, host_lo));
}

// Placement of the p2p between stage `from_stage` and the next: inter-island when any of the
// stage's devices sends across islands.
Placement link_placement(const CostContext& ctx, StageIdx from_stage) {
  const int g = ctx.devices_per_stage();
  for (int i = 0; i < g; ++i) {
    const Rank r = from_stage * g + i;
    if (island_of_rank(ctx, r) != island_of_rank(ctx, r + g)) return Placement::kInterIsland;
  }
  return Placement::kIntraIsland;
}

}  // namespace

double solo_compute_factor(const CostContext& ctx, StageIdx stage) {
  const HostSharing& h = ctx.cluster->host_sharing;
  if (!h.shared()) return 1.0;
  const int g = ctx.devices_per_stage(), r = h.ranks_per_host;
  int on_host = 0;
  for (int host_lo = (stage * g / r) * r; host_lo < (stage + 1) * g; host_lo += r)
    on_host = std::max(on_host, stage_ranks_on_host(ctx, stage, host_lo, r));
  const double k = h.compute_slowdown;
  return std::max(1.0, on_host * k / r) / k;
}

double least_solo_compute_factor(const CostContext& ctx) {
  const HostSharing& h = ctx.cluster->host_sharing;
  if (!h.shared()) return 1.0;
  // One rank computing alone: the least any stage's compute can take (shared_micro).
  return std::max(1.0, h.compute_slowdown / h.ranks_per_host) / h.compute_slowdown;
}

Milliseconds solo_micro(const CostContext& ctx, StageIdx stage, const StageTime& s) {
  return s.micro - (s.compute + s.waits) * (1.0 - solo_compute_factor(ctx, stage));
}

namespace {

// Ranks of stage `stage` on its busiest host, and that host's first rank.
std::pair<int, int> busiest_host(const CostContext& ctx, StageIdx stage) {
  const int g = ctx.devices_per_stage(), r = ctx.cluster->host_sharing.ranks_per_host;
  int best_n = 0, best_lo = 0;
  for (int host_lo = (stage * g / r) * r; host_lo < (stage + 1) * g; host_lo += r) {
    const int n = stage_ranks_on_host(ctx, stage, host_lo, r);
    if (n > best_n) {
      best_n = n;
      best_lo = host_lo;
    }
  }
  return {best_n, best_lo};
}

// A stage at shared speed (see the top of the file): its micro-batch time, and the chance
// that no other set of the host's ranks computes while it communicates (T2's v_s).
struct Shared {
  Milliseconds micro;
  double alone = 1;  // the chance that no other set computes: (1 - u)^(groups - 1)
  // e(u) / e(1): how much faster the stage's compute runs with its sets out of step than in
  // step (1 when in step); bound_pipeline_time() scales the stage's compute by it.
  double compute_scale = 1;
};

Shared shared_stage(const CostContext& ctx, StageIdx st, const StageTime& s) {
  const HostSharing& h = ctx.cluster->host_sharing;
  const Milliseconds solo = solo_micro(ctx, st, s);
  if (!h.shared() || s.groups <= 1 || s.compute.value <= 0) return {solo, 1.0};
  const int n = busiest_host(ctx, st).first, groups = std::min(s.groups, std::max(1, n));
  const double k = h.compute_slowdown, r = h.ranks_per_host, per_group = double(n) / groups;
  const double c = s.compute.value, w = s.waits.value;
  const double x = std::max(0.0, s.micro.value - c - w);
  // u: the fraction of a set's time spent computing. Given one set computes, each of the other
  // groups - 1 computes with probability u; the compute runs max(1, N k / R) / k times its
  // profiled speed with N of the host's ranks computing. Iterated from u = 1 (every set
  // computing: the in-step speed) down to the fixed point.
  auto speed = [&](double u) {  // e(u): E_j[max(1, N k / R)] / k
    if (u >= 1) return std::max(1.0, n * k / r) / k;  // every other set computes
    double e = 0, p_j = std::pow(1 - u, groups - 1);   // P(j others compute), from j = 0
    for (int j = 0; j < groups; ++j) {
      e += p_j * std::max(1.0, per_group * (1 + j) * k / r) / k;
      p_j *= double(groups - 1 - j) / (j + 1) * u / (1 - u);
    }
    return e;
  };
  double u = 1, micro = solo.value;
  for (int it = 0; it < 60; ++it) {
    const double e = speed(u), ce = c * e, we = w * e;
    micro = std::min(solo.value, ce + we + x);
    const double nu = ce / (ce + we + x);
    if (std::fabs(nu - u) < 1e-9) break;
    u = nu;
  }
  return {Milliseconds(micro), std::pow(std::max(0.0, 1 - u), groups - 1),
          std::min(1.0, speed(u) / speed(1.0))};
}

}  // namespace

double p2p_calls(const CostContext& ctx, StageIdx stage) {
  return (stage > 0 ? 2.0 : 0.0) + (stage + 1 < ctx.pp ? 2.0 : 0.0);
}

Milliseconds shared_micro(const CostContext& ctx, StageIdx stage, const StageTime& s) {
  return shared_stage(ctx, stage, s).micro;
}

int host_groups(const CostContext& ctx, StageIdx stage, const LayerStrategy& embedding,
                const std::vector<LayerStrategy>& layers, bool reshards) {
  const HostSharing& h = ctx.cluster->host_sharing;
  if (!h.shared() || reshards) return 1;
  const auto [n, lo] = busiest_host(ctx, stage);
  if (n <= 1) return 1;
  const int g = ctx.devices_per_stage();
  const Rank first = stage_first_rank(ctx.num_devices, ctx.pp, stage);
  std::vector<int> parent(g);
  for (int i = 0; i < g; ++i) parent[i] = i;
  auto find = [&](int i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  auto join = [&](const std::vector<std::vector<Rank>>& groups) {
    for (const std::vector<Rank>& grp : groups)
      for (Rank r : grp) parent[find(r - first)] = find(grp.front() - first);
  };
  auto add = [&](const LayerStrategy& ls) {
    if (ls.tp > 1) join(tp_groups(ctx.num_devices, ctx.pp, stage, ls));
    if (ls.dp > 1 && ls.dp_type != DpType::kDdp)
      join(dp_groups(ctx.num_devices, ctx.pp, stage, ls));
  };
  if (stage == 0 || stage == ctx.pp - 1) add(embedding);
  for (const LayerStrategy& ls : layers) add(ls);
  std::vector<int> roots;
  for (Rank r = std::max(first, lo); r < std::min(first + g, lo + h.ranks_per_host); ++r)
    roots.push_back(find(r - first));
  std::sort(roots.begin(), roots.end());
  return static_cast<int>(std::unique(roots.begin(), roots.end()) - roots.begin());
}

bool bound_one_cpu_each(const CostContext& ctx) {
  const HostSharing& h = ctx.cluster->host_sharing;
  return h.shared() && static_cast<int>(h.cpus.size()) == h.ranks_per_host &&
         ctx.num_devices % h.ranks_per_host == 0;
}

Milliseconds bound_pipeline_time(const CostContext& ctx, const std::vector<StageTime>& stages,
                                 const std::vector<double>& handoff) {
  PARATUNE_CHECK(bound_one_cpu_each(ctx));
  PARATUNE_CHECK(static_cast<int>(stages.size()) == ctx.pp);
  PARATUNE_CHECK(static_cast<int>(handoff.size()) == ctx.pp - 1);
  const HostSharing& h = ctx.cluster->host_sharing;
  const int pp = ctx.pp, M = ctx.micro_batches, g = ctx.devices_per_stage(),
            R = h.ranks_per_host;
  const double k = h.compute_slowdown;
  // Dense CPU ids over the whole cluster (host, cpu), the ranks bound to each, and per stage
  // its ranks on each CPU it uses.
  std::vector<std::pair<int, int>> cpu_keys;
  std::vector<int> cpu_of(ctx.num_devices);
  for (Rank r = 0; r < ctx.num_devices; ++r) {
    const std::pair<int, int> key{r / R, h.cpus[r % R]};
    auto it = std::find(cpu_keys.begin(), cpu_keys.end(), key);
    cpu_of[r] = static_cast<int>(it - cpu_keys.begin());
    if (it == cpu_keys.end()) cpu_keys.push_back(key);
  }
  const int ncpu = static_cast<int>(cpu_keys.size());
  std::vector<int> full(ncpu, 0);
  for (Rank r = 0; r < ctx.num_devices; ++r) ++full[cpu_of[r]];
  std::vector<std::vector<std::pair<int, int>>> uses(pp);  // (cpu, ranks of the stage on it)
  for (StageIdx s = 0; s < pp; ++s) {
    for (Rank r = s * g; r < (s + 1) * g; ++r) {
      auto it = std::find_if(uses[s].begin(), uses[s].end(),
                             [&](const std::pair<int, int>& u) { return u.first == cpu_of[r]; });
      if (it == uses[s].end()) uses[s].push_back({cpu_of[r], 1});
      else ++it->second;
    }
  }
  // Per stage and direction (0 forward, 1 backward): CPU work in profiled ms, then the
  // communication that holds no CPU.
  std::vector<std::array<double, 2>> work(pp), comm(pp);
  Milliseconds sync_max;
  for (StageIdx s = 0; s < pp; ++s) {
    const StageTime& st = stages[s];
    const double cpu = k * h.call_cpu_ms * st.calls;
    // Loopback copies hold the CPU: the stage's intra-island collectives as work (at most
    // the communication there is).
    const double held =
        ctx.options.host_comm_holds_cpu
            ? std::clamp(st.host_comm.value, 0.0,
                         std::max(0.0, st.micro.value - st.compute.value - st.waits.value - cpu))
            : 0.0;
    const double x =
        std::max(0.0, st.micro.value - st.compute.value - st.waits.value - cpu - held);
    const double w =
        (st.compute.value + st.waits.value) * shared_stage(ctx, s, st).compute_scale + cpu + held;
    const double f = std::clamp(st.forward_share, 0.0, 1.0);
    work[s] = {f * w, (1 - f) * w};
    comm[s] = {f * x, (1 - f) * x};
    sync_max = std::max(sync_max, st.sync);
  }
  // Each stage's tasks in 1F1B order: (direction, micro-batch).
  std::vector<std::vector<std::pair<int, int>>> order(pp);
  for (StageIdx s = 0; s < pp; ++s) {
    int fwd = std::min(pp - 1 - s, M), bwd = 0;
    for (int m = 0; m < fwd; ++m) order[s].push_back({0, m});
    while (bwd < M) {
      if (fwd < M) order[s].push_back({0, fwd++});
      order[s].push_back({1, bwd++});
    }
  }
  constexpr double kNever = std::numeric_limits<double>::infinity();
  // done[dir][s * M + m]: when the task ended (kNever: not yet).
  std::array<std::vector<double>, 2> done{std::vector<double>(pp * M, kNever),
                                          std::vector<double>(pp * M, kNever)};
  enum Phase { kIdle, kCompute, kComm };
  std::vector<Phase> phase(pp, kIdle);
  std::vector<size_t> next(pp, 0);
  std::vector<double> left(pp, 0), comm_end(pp, 0);
  std::vector<int> load(ncpu);
  double now = 0;
  size_t finished = 0, total = size_t(pp) * 2 * M;
  while (finished < total) {
    double arrival = kNever;  // the next handoff that lets an idle stage start
    for (StageIdx s = 0; s < pp; ++s) {
      if (phase[s] != kIdle || next[s] >= order[s].size()) continue;
      const auto [dir, m] = order[s][next[s]];
      const double ready =
          dir == 0 ? (s == 0 ? 0.0 : done[0][(s - 1) * M + m] + handoff[s - 1])
                   : (s == pp - 1 ? done[0][s * M + m] : done[1][(s + 1) * M + m] + handoff[s]);
      if (ready > now) {
        arrival = std::min(arrival, ready);
        continue;
      }
      phase[s] = kCompute;
      left[s] = work[s][dir];
    }
    std::fill(load.begin(), load.end(), 0);
    for (StageIdx s = 0; s < pp; ++s)
      if (phase[s] == kCompute)
        for (auto [c, n] : uses[s]) load[c] += n;
    // Profiled ms of work per ms: the slowest of the stage's CPUs.
    auto rate = [&](StageIdx s) {
      double r = kNever;
      for (auto [c, n] : uses[s]) r = std::min(r, k / std::max(1.0, load[c] * k / full[c]));
      return r;
    };
    double step = arrival - now;
    for (StageIdx s = 0; s < pp; ++s) {
      if (phase[s] == kCompute) step = std::min(step, left[s] / rate(s));
      if (phase[s] == kComm) step = std::min(step, comm_end[s] - now);
    }
    PARATUNE_CHECK(step < kNever);  // a stage is always running: the schedule has no deadlock
    now += std::max(0.0, step);
    for (StageIdx s = 0; s < pp; ++s) {
      const auto [dir, m] = order[s][std::min(next[s], order[s].size() - 1)];
      if (phase[s] == kCompute) {
        left[s] -= step * rate(s);
        if (left[s] <= 1e-9 * std::max(1.0, work[s][dir])) {
          phase[s] = kComm;
          comm_end[s] = now + comm[s][dir];
        }
      }
      if (phase[s] == kComm && comm_end[s] <= now) {
        done[dir][s * M + m] = now;
        phase[s] = kIdle;
        ++next[s];
        ++finished;
      }
    }
  }
  return Milliseconds(now) + sync_max;
}

Milliseconds iteration_time(const CostContext& ctx, const std::vector<StageTime>& stages) {
  PARATUNE_CHECK(static_cast<int>(stages.size()) == ctx.pp);
  std::vector<Milliseconds> solo, sync;
  std::vector<double> alone, handoff(ctx.pp - 1, 0.0);
  Milliseconds sync_max;
  for (StageIdx st = 0; st < ctx.pp; ++st) {
    const Shared sh = shared_stage(ctx, st, stages[st]);
    solo.push_back(sh.micro);
    alone.push_back(sh.alone);
    sync.push_back(stages[st].sync);
    sync_max = std::max(sync_max, stages[st].sync);
  }
  for (StageIdx st = 0; st + 1 < ctx.pp; ++st) {
    const double h =
        handoff_fraction(*ctx.cluster, link_placement(ctx, st)) * ctx.options.scales.pipeline;
    if (h <= 0) continue;
    handoff[st] = ((stages[st].compute * solo_compute_factor(ctx, st) +
                    stages[st + 1].compute * solo_compute_factor(ctx, st + 1)) *
                   (h / 2))
                      .value;
    solo[st] += Milliseconds(handoff[st]);
  }
  const Milliseconds t1 = pipeline_iteration_time(solo, sync, ctx.micro_batches);
  const HostSharing& h = ctx.cluster->host_sharing;
  if (!h.shared()) return t1;
  if (ctx.pp > 1 && bound_one_cpu_each(ctx)) return std::max(t1, bound_pipeline_time(ctx, stages, handoff));
  const int n = ctx.num_devices, r = h.ranks_per_host;
  Milliseconds t2;
  for (int lo = 0; lo < n; lo += r) {
    Milliseconds work, comm = Milliseconds(std::numeric_limits<double>::infinity());
    for (StageIdx s = 0; s < ctx.pp; ++s) {
      const int on_host = stage_ranks_on_host(ctx, s, lo, r);
      if (on_host == 0) continue;
      const double share = static_cast<double>(on_host) / r;
      // The calls' CPU in profiled-compute units (k ranks' worth of slowdown); inside the
      // stage's own communication time when its ranks call together.
      const Milliseconds cpu(h.compute_slowdown * h.call_cpu_ms * stages[s].calls);
      work += (stages[s].compute + cpu) * share;
      comm = std::min(comm, Milliseconds(std::max(
                                0.0, (stages[s].micro - stages[s].compute - cpu * share).value)) *
                                alone[s]);
    }
    t2 = std::max(t2, (work + comm) * ctx.micro_batches + sync_max);
  }
  return std::max(t1, t2);
}

Milliseconds p2p_time(const CostContext& ctx, StageIdx from_stage, const LayerStrategy& last) {
  PARATUNE_CHECK(from_stage >= 0 && from_stage < ctx.pp);
  if (from_stage == ctx.pp - 1) return Milliseconds(0);
  const ModelConfig& m = *ctx.model;
  const int split = std::max(1, last.dp) * (last.sp && last.tp > 1 ? last.tp : 1);
  const Bytes bytes(static_cast<double>(ctx.stage_micro_batch()) * m.seq_len * m.hidden *
                    dtype_bytes(m.dtype) / split);
  const std::optional<CommFit> fit = find_p2p(*ctx.cluster, link_placement(ctx, from_stage));
  if (!fit) return Milliseconds(std::numeric_limits<double>::infinity());
  return p2p_transfer_time(*fit, bytes) * (2.0 * ctx.options.scales.pipeline);
}

}  // namespace paratune::estimator
