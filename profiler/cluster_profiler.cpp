#include "profiler/cluster_profiler.h"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

#include <ATen/Parallel.h>

#include "executor/launcher.h"
#include "executor/tracking_allocator.h"
#include "profiler/fit.h"
#include "profiler/group_shapes.h"
#include "profiler/progress.h"

namespace paratune::profiler {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// CPU time of this process (every thread), ms.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
}

// This kernel's steady clock in ms: one clock for every process on the kernel (the arrival and
// handoff stamps compare it across ranks).
double now_ms() {
  return std::chrono::duration<double, std::milli>(Clock::now().time_since_epoch()).count();
}

double time_ms(const std::function<void()>& f) {
  const auto t0 = Clock::now();
  f();
  return ms_since(t0);
}

void barrier(executor::Comms& comms) {
  at::Tensor t = at::zeros({1});
  comms.world().allreduce_(t);
}

/// Elementwise reduction of `v` over the world (every rank gets the result).
std::vector<double> world_reduce(executor::Comms& comms, const std::vector<double>& v,
                                 c10d::ReduceOp op) {
  at::Tensor t = at::tensor(v, at::kDouble);
  comms.world().allreduce_(t, op);
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = t[int64_t(i)].item<double>();
  return out;
}


// Ranks per host when the world is made of equal blocks of consecutive ranks with one id each,
// else 0 (nothing recorded).
int ranks_per_host(const std::vector<double>& ids) {
  const int world = int(ids.size());
  int r = 1;
  while (r < world && ids[r] == ids[0]) ++r;
  if (world % r != 0) return 0;
  for (int i = 0; i < world; ++i)
    if (ids[i] != ids[i - i % r] || (i % r == 0 && i > 0 && ids[i] == ids[i - r])) return 0;
  return r;
}

// The CPU this process is bound to when its affinity allows exactly one, else -1.
int only_cpu() {
  const std::vector<int> cpus = executor::allowed_cpus();
  return cpus.size() == 1 ? cpus[0] : -1;
}

// host_sharing.cpus from every rank's 1 + only_cpu(): the first host's CPUs when every rank is
// bound to one CPU and every host binds its ranks alike, else empty.
std::vector<int> host_cpus(const std::vector<double>& bound, int per_host) {
  if (per_host < 2) return {};
  for (size_t i = 0; i < bound.size(); ++i)
    if (bound[i] < 1 || bound[i] != bound[i % per_host]) return {};
  std::vector<int> cpus;
  for (int i = 0; i < per_host; ++i) cpus.push_back(int(bound[i]) - 1);
  return cpus;
}

int64_t numel_for(int64_t bytes, int n) {
  int64_t e = bytes / 4;
  e -= e % n;
  return e < n ? n : e;
}

// Compute run before every timed collective call (ComputeLoad::calls GEMMs of side 128), so
// that ranks arrive at the collective as they do in training: each from its own compute, and
// on a shared host while other ranks still compute.
struct ComputeLoad {
  int calls = 0;
  at::Tensor a, b;
  void run() const {
    for (int i = 0; i < calls; ++i) (void)at::mm(a, b);
  }
};

// A load of about `ms` of compute at one rank's speed alone (the same call count on every rank).
ComputeLoad load_of(double ms, double unit_ms, const at::Tensor& a, const at::Tensor& b) {
  return ComputeLoad{int(std::min(1e5, std::max(1.0, std::ceil(ms / std::max(unit_ms, 1e-6))))),
                     a, b};
}

// Compute before the arrival-wait allreduces, ms at one rank's speed alone.
constexpr double kWaitLoadsMs[] = {0.5, 2.0, 8.0};
// The arrival-wait allreduce: 512 doubles (4 KiB), one arrival stamp per rank of the group.
constexpr int64_t kWaitSlots = 512;
// The pipeline handoff probe: the sender's compute per round (ms alone) and the message size.
constexpr double kHandoffLoadMs = 4.0;
constexpr int64_t kHandoffBytes = 64 << 10;
// The message of the call-CPU probe (host sharing): one element (see below).
constexpr int64_t kCallCpuBytes = 4;

// Median ms of one GEMM of side 128 (ComputeLoad's unit), the slowest rank's.
double unit_gemm_ms(executor::Comms& comms, const at::Tensor& a, const at::Tensor& b) {
  const ComputeLoad one{1, a, b};
  one.run();
  std::vector<double> t;
  for (int i = 0; i < 20; ++i) t.push_back(time_ms([&] { one.run(); }));
  return world_reduce(comms, {median(t)}, c10d::ReduceOp::MAX)[0];
}

// Per-rank time (ms) of one call of `op` on `g` at `numel` fp32 elements: the median of the
// timed calls, or with a compute load their mean (a call after compute waits for the slowest
// rank to arrive, a random delay whose mean is what training pays).
// `from_last_arrival` (every rank of `g` on this rank's kernel, so one steady clock): a call is
// timed from the group's last arrival (the ranks' stamps, gathered after the loop) to this
// rank's return, without the wait for the others to come in (priced apart: arrival waits, host
// sharing).
double measure_collective(executor::Group& g, CollectiveOp op, int64_t numel, int warmup,
                          int repeats, executor::Comms& comms, const ComputeLoad& load,
                          bool from_last_arrival) {
  const int n = g.size();
  at::Tensor full = at::ones({numel});
  at::Tensor chunk = at::ones({numel / n});
  at::Tensor out = at::empty({numel});
  auto call = [&]() {
    switch (op) {
      case CollectiveOp::kAllReduce: g.allreduce_(full); break;
      case CollectiveOp::kAllGather: g.allgather_into(chunk, out); break;
      case CollectiveOp::kReduceScatter:
      case CollectiveOp::kAllToAll: (void)g.reduce_scatter(full); break;
    }
  };
  for (int i = 0; i < warmup; ++i) call();
  barrier(comms);
  std::vector<double> t, arrive;
  for (int i = 0; i < repeats; ++i) {
    load.run();
    const double a = now_ms();
    call();
    t.push_back(now_ms() - a);
    arrive.push_back(a);
  }
  if (from_last_arrival && n > 1) {
    at::Tensor all = at::empty({int64_t(n) * repeats}, at::kDouble);
    g.allgather_into(at::tensor(arrive, at::kDouble), all);
    const double* p = all.data_ptr<double>();
    for (int i = 0; i < repeats; ++i) {
      double last = arrive[i];
      for (int j = 0; j < n; ++j) last = std::max(last, p[int64_t(j) * repeats + i]);
      t[i] = std::max(arrive[i] + t[i] - last, 1e-3);
    }
  }
  double m = load.calls > 0 ? mean(t) : median(t);
  if (op == CollectiveOp::kAllToAll) {  // subtract the local sum of reduce_scatter
    std::vector<double> s;
    for (int i = 0; i < repeats; ++i)
      s.push_back(time_ms([&] { (void)full.view({n, numel / n}).sum(0); }));
    m = std::max(m - median(s), 1e-3);
  }
  return m;
}

// One-way time (ms) of `numel` fp32 between this rank and its peer (round trip / 2); 0 when
// this rank has no peer.
double measure_p2p(executor::Comms& comms, const std::vector<std::pair<Rank, Rank>>& pairs,
                   int64_t numel, int warmup, int repeats, int tag) {
  Rank peer = -1;
  bool first = false;
  for (auto [a, b] : pairs) {
    if (a == comms.rank()) peer = b, first = true;
    if (b == comms.rank()) peer = a, first = false;
  }
  at::Tensor buf = at::ones({numel});
  auto round = [&]() {
    if (peer < 0) return;
    if (first) {
      executor::wait_work(comms.isend(buf, peer, tag), "p2p send");
      executor::wait_work(comms.irecv(buf, peer, tag), "p2p recv");
    } else {
      executor::wait_work(comms.irecv(buf, peer, tag), "p2p recv");
      executor::wait_work(comms.isend(buf, peer, tag), "p2p send");
    }
  };
  for (int i = 0; i < warmup; ++i) round();
  barrier(comms);
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(time_ms(round) / 2);
  return peer < 0 ? 0.0 : median(t);
}

// Pipeline handoff, for the pairs of p2p_pairs() (all pairs at once). Per round the first rank
// of a pair computes `load`, stamps a message with its clock, sends it without waiting, computes
// `load` again (as a pipeline stage goes on to its next forward or backward after a send), then
// waits for a tiny acknowledgement; the second waits for the message and acknowledges it. A
// rank without a peer computes `load` twice per round. Returns this rank's {sum of arrival -
// stamp, sum of the compute after the send} over the rounds after the first ({0, 0} for a rank
// without a peer). Needs the pair on one clock (one kernel: the caller checks).
std::array<double, 2> measure_handoff(executor::Comms& comms,
                                      const std::vector<std::pair<Rank, Rank>>& pairs,
                                      int64_t numel, const ComputeLoad& load, int rounds,
                                      int tag) {
  Rank peer = -1;
  bool sender = false;
  for (auto [a, b] : pairs) {
    if (a == comms.rank()) peer = b, sender = true;
    if (b == comms.rank()) peer = a, sender = false;
  }
  at::Tensor buf = at::zeros({std::max<int64_t>(numel, 1)}, at::kDouble);
  at::Tensor ack = at::zeros({1});
  std::array<double, 2> sum{0, 0};
  barrier(comms);
  for (int i = 0; i < rounds; ++i) {
    if (peer < 0) {
      load.run();
      load.run();
    } else if (sender) {
      load.run();
      buf.data_ptr<double>()[0] = now_ms();
      auto send = comms.isend(buf, peer, tag);
      const double post = time_ms([&] { load.run(); });
      executor::wait_work(comms.irecv(ack, peer, tag + 1), "p2p handoff ack");
      executor::wait_work(send, "p2p handoff send");
      if (i > 0) sum[1] += post;
    } else {
      executor::wait_work(comms.irecv(buf, peer, tag), "p2p handoff recv");
      const double ms = now_ms() - buf.data_ptr<double>()[0];
      executor::wait_work(comms.isend(ack, peer, tag + 1), "p2p handoff ack");
      if (i > 0) sum[0] += ms;  // the first round includes the barrier's skew
    }
  }
  barrier(comms);
  return sum;
}

}  // namespace

bool group_has_cpu_to_itself(const std::vector<Rank>& members, const std::vector<double>& bound,
                             const std::vector<double>& ids) {
  if (members.size() < 2 || bound.size() != ids.size()) return false;
  const size_t first = size_t(members[0]);
  if (first >= bound.size() || bound[first] < 1) return false;
  size_t on_cpu = 0;  // ranks of the world on this kernel bound to this CPU
  for (size_t r = 0; r < bound.size(); ++r)
    if (bound[r] == bound[first] && ids[r] == ids[first]) ++on_cpu;
  for (Rank r : members) {
    const size_t i = size_t(r);
    if (i >= bound.size() || bound[i] != bound[first] || ids[i] != ids[first]) return false;
  }
  return on_cpu == members.size();
}

double host_id() {
  std::ifstream f("/proc/sys/kernel/random/boot_id");
  std::string id;
  std::getline(f, id);
  std::string hex;
  for (char ch : id)
    if (std::isxdigit(static_cast<unsigned char>(ch)) && hex.size() < 12) hex += ch;
  if (hex.size() == 12) return double(std::stoull(hex, nullptr, 16));
  char name[256] = {0};
  gethostname(name, sizeof name - 1);
  return double(std::hash<std::string>{}(name) & ((uint64_t(1) << 48) - 1));
}

Status ClusterProfilerOptions::validate() const {
  if (sizes.empty()) return InvalidArgument("--sizes: at least one message size is needed");
  for (int64_t s : sizes)
    if (s < 4) return InvalidArgument("--sizes: every message size must be >= 4 bytes");
  if (warmup < 0 || repeats < 1)
    return InvalidArgument("--warmup must be >= 0 and --repeats >= 1");
  if (passes < 1 || passes > 100) return InvalidArgument("--passes must be in 1 .. 100");
  if (gemm_size < 16) return InvalidArgument("--gemm-size must be >= 16");
  if (!(min_time_ms >= 0) || !std::isfinite(min_time_ms))
    return InvalidArgument("--min-time-ms must be a finite number >= 0");
  if (!(load_ms >= 0) || !std::isfinite(load_ms))
    return InvalidArgument("--load-ms must be a finite number >= 0");
  if (!(shared_cpu_load_ms >= 0) || !std::isfinite(shared_cpu_load_ms))
    return InvalidArgument("--shared-cpu-load-ms must be a finite number >= 0");
  return Status::Ok();
}

ClusterProfile profile_cluster(executor::Comms& comms, const executor::DistEnv& env,
                               const ClusterProfilerOptions& o) {
  executor::keep_heap();  // GEMMs and buffers allocated as training allocates them
  const int world = comms.world_size();
  const int island = env.local_world_size;
  PARATUNE_CHECK_MSG(world % island == 0, "WORLD_SIZE must be a multiple of LOCAL_WORLD_SIZE");
  const Rank rank = comms.rank();
  const std::vector<GroupShape> shapes = group_shapes(world, island);
  std::vector<std::vector<Rank>> all_groups{comms.all_ranks()};
  for (const GroupShape& s : shapes)
    for (const auto& g : s.groups) all_groups.push_back(g);
  comms.ensure(all_groups);

  std::vector<Placement> p2p_placements;
  if (o.p2p && world > 1)
    for (Placement p : {Placement::kIntraIsland, Placement::kInterIsland})
      if (!p2p_pairs(world, island, p).empty()) p2p_placements.push_back(p);
  const int sizes = int(o.sizes.size());
  const int total = o.passes * (int(shapes.size() * o.ops.size()) * sizes +
                                int(p2p_placements.size()) * sizes +
                                (o.waits ? int(shapes.size() + p2p_placements.size()) : 0)) +
                    3 + (o.overlap && world > 1 ? 1 : 0);
  Progress bar(total, "profile-cluster", o.progress && rank == 0);

  // One clock per host (for the arrival stamps, the handoff stamps) and the host layout (host
  // sharing, below).
  std::vector<double> ids(world, 0.0);
  ids[rank] = host_id();
  ids = world_reduce(comms, ids, c10d::ReduceOp::SUM);
  // The one CPU each rank is bound to (1 + its number; 0 when its affinity allows several).
  std::vector<double> bound(world, 0.0);
  bound[rank] = double(1 + only_cpu());
  bound = world_reduce(comms, bound, c10d::ReduceOp::SUM);
  // Shapes whose every group has a CPU to itself (all its ranks bound to one CPU that no other
  // rank runs on): timed after compute, from the last arrival (see cluster_profiler.h); none
  // with --shared-cpu-load-ms 0.
  std::vector<bool> shared_cpu(shapes.size(), false);
  for (size_t si = 0; si < shapes.size() && o.shared_cpu_load_ms > 0; ++si) {
    const executor::Group& g = comms.group(group_of(shapes[si], rank));
    const double mine = group_has_cpu_to_itself(g.ranks(), bound, ids) ? 1 : 0;
    shared_cpu[si] = world_reduce(comms, {mine}, c10d::ReduceOp::MIN)[0] > 0;
  }
  const bool any_shared = std::find(shared_cpu.begin(), shared_cpu.end(), true) != shared_cpu.end();

  // The compute loads (--load-ms, --shared-cpu-load-ms, --waits): GEMMs of side 128, calibrated
  // once.
  const at::Tensor load_a = at::randn({128, 128}), load_b = at::randn({128, 128});
  const double unit_ms =
      o.load_ms > 0 || o.waits || any_shared ? unit_gemm_ms(comms, load_a, load_b) : 0.0;
  const ComputeLoad load =
      o.load_ms > 0 ? load_of(o.load_ms, unit_ms, load_a, load_b) : ComputeLoad{};
  const ComputeLoad shared_load =
      o.load_ms > 0 ? load
      : any_shared  ? load_of(o.shared_cpu_load_ms, unit_ms, load_a, load_b)
                    : ComputeLoad{};

  ClusterProfile c;
  c.name = o.name;
  c.source = "measured";
  for (int i = 0; i < world / island; ++i) c.islands.push_back({"node" + std::to_string(i), island});

  // Every measurement below runs in o.passes passes over all of them; a sample is the median
  // over the passes (a pass's own sample is the slowest rank's median, or mean). A slow period
  // of the machine then moves one pass of each sample instead of every repeat of a few.
  const int passes = o.passes;

  // Collectives: [shape][op] -> per pass, the per-size samples.
  std::vector<std::vector<std::vector<std::vector<double>>>> coll(
      shapes.size(), std::vector<std::vector<std::vector<double>>>(o.ops.size()));
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t si = 0; si < shapes.size(); ++si) {
      const GroupShape& shape = shapes[si];
      executor::Group& g = comms.group(group_of(shape, rank));
      for (size_t oi = 0; oi < o.ops.size(); ++oi) {
        const CollectiveOp op = o.ops[oi];
        std::vector<double> med;
        for (int64_t bytes : o.sizes) {
          bar.step(std::string(to_string(op)) + " " + describe(shape) + pass_label(pass, passes));
          med.push_back(measure_collective(g, op, numel_for(bytes, shape.size), o.warmup,
                                           o.repeats, comms, shared_cpu[si] ? shared_load : load,
                                           shared_cpu[si]));
        }
        coll[si][oi].push_back(world_reduce(comms, med, c10d::ReduceOp::MAX));
      }
    }
  }
  for (size_t si = 0; si < shapes.size(); ++si) {
    const GroupShape& shape = shapes[si];
    for (size_t oi = 0; oi < o.ops.size(); ++oi) {
      const CollectiveOp op = o.ops[oi];
      const std::vector<double> med = median_of_passes(coll[si][oi]);
      CollectiveFit f;
      f.op = op;
      f.group_size = shape.size;
      f.placement = shape.placement;
      f.consecutive = shape.consecutive;
      for (int i = 0; i < sizes; ++i)
        f.samples.push_back({Bytes(double(numel_for(o.sizes[i], shape.size) * 4)),
                             Milliseconds(med[i])});
      AlphaBeta ab = fit_alpha_beta_robust(f.samples, algo_factor(op, shape.size));
      f.latency = ab.latency;
      f.bus_bandwidth = ab.bandwidth;
      c.collectives.push_back(std::move(f));
    }
  }

  // Arrival waits: a 4 KiB allreduce (latency only) after compute of a few lengths on every
  // rank; per shape, all groups at once. Where every group of the shape runs on one kernel,
  // each rank stamps its arrival into its own slot of the allreduced buffer, so the wait is
  // measured directly: the last arrival's stamp minus this rank's, mean over calls and ranks.
  // Otherwise it is the call's mean time after the compute minus its median time without.
  // The stamps keep what the link adds to a call after compute out of the wait (the collective
  // fit prices the link).
  if (o.waits) {
    const int reps = std::max(10, o.repeats);
    std::vector<std::vector<std::vector<double>>> waits(shapes.size());  // [shape] -> per pass
    std::vector<bool> stamped(shapes.size(), false);
    for (size_t si = 0; si < shapes.size(); ++si) {
      const executor::Group& g = comms.group(group_of(shapes[si], rank));
      double mine = g.size() <= kWaitSlots ? 1 : 0;  // one slot per rank of the group
      for (Rank r : g.ranks()) mine = ids[r] == ids[rank] ? mine : 0;
      stamped[si] = world_reduce(comms, {mine}, c10d::ReduceOp::MIN)[0] > 0;
    }
    for (int pass = 0; pass < passes; ++pass) {
      for (size_t si = 0; si < shapes.size(); ++si) {
        const GroupShape& shape = shapes[si];
        bar.step("arrival wait " + describe(shape) + pass_label(pass, passes));
        executor::Group& g = comms.group(group_of(shape, rank));
        at::Tensor tiny = at::zeros({kWaitSlots}, at::kDouble);
        for (int i = 0; i < 3; ++i) g.allreduce_(tiny);
        barrier(comms);
        std::vector<double> idle;
        for (int i = 0; i < reps; ++i) idle.push_back(time_ms([&] { g.allreduce_(tiny); }));
        std::vector<double> v{median(idle)};  // idle, then (load, wait) per load
        for (double target : kWaitLoadsMs) {
          const ComputeLoad load = load_of(target, unit_ms, load_a, load_b);
          barrier(comms);
          double load_sum = 0, call_sum = 0, skew_sum = 0;
          for (int i = 0; i < reps; ++i) {
            load_sum += time_ms([&] { load.run(); });
            tiny.zero_();
            double* slot = tiny.data_ptr<double>();
            const double arrived = now_ms();
            slot[g.index()] = arrived;
            g.allreduce_(tiny);
            call_sum += now_ms() - arrived;
            double last = arrived;
            for (int k = 0; k < g.size(); ++k) last = std::max(last, slot[k]);
            skew_sum += last - arrived;
          }
          v.push_back(load_sum / reps);
          v.push_back(stamped[si] ? skew_sum / reps : call_sum / reps);
        }
        waits[si].push_back(world_reduce(comms, v, c10d::ReduceOp::SUM));
      }
    }
    for (size_t si = 0; si < shapes.size(); ++si) {
      const GroupShape& shape = shapes[si];
      // Per pass: the stamped wait, or the call's time over that pass's idle call; then the
      // median over passes.
      std::vector<std::vector<double>> per_pass;
      for (const std::vector<double>& v : waits[si]) {
        std::vector<double> lw;
        const double base = stamped[si] ? 0.0 : v[0] / world;
        for (size_t i = 1; i + 1 < v.size(); i += 2)
          lw.insert(lw.end(), {v[i] / world, std::max(0.0, v[i + 1] / world - base)});
        per_pass.push_back(lw);
      }
      const std::vector<double> lw = median_of_passes(per_pass);
      ArrivalWait w;
      w.group_size = shape.size;
      w.placement = shape.placement;
      w.consecutive = shape.consecutive;
      for (size_t i = 0; i + 1 < lw.size(); i += 2)
        if (w.samples.empty() || lw[i] > w.samples.back().load.value)
          w.samples.push_back({Milliseconds(lw[i]), Milliseconds(lw[i + 1])});
      c.arrival_waits.push_back(std::move(w));
    }
  }

  int tag = 1000;
  for (Placement p : p2p_placements) {
    const auto pairs = p2p_pairs(world, island, p);
    std::vector<std::vector<double>> per_pass;
    for (int pass = 0; pass < passes; ++pass) {
      std::vector<double> med;
      for (int64_t bytes : o.sizes) {
        bar.step(std::string("p2p ") + to_string(p) + pass_label(pass, passes));
        med.push_back(measure_p2p(comms, pairs, numel_for(bytes, 1), o.warmup, o.repeats, tag++));
      }
      per_pass.push_back(world_reduce(comms, med, c10d::ReduceOp::MAX));
    }
    const std::vector<double> med = median_of_passes(per_pass);
    P2pFit f;
    f.placement = p;
    for (int i = 0; i < sizes; ++i)
      f.samples.push_back({Bytes(double(numel_for(o.sizes[i], 1) * 4)), Milliseconds(med[i])});
    AlphaBeta ab = fit_alpha_beta_robust(f.samples, 1.0);
    f.latency = ab.latency;
    f.bandwidth = ab.bandwidth;
    // The handoff, where every pair's two ranks share one kernel's clock: the median over passes
    // of each pass's fraction.
    bool one_clock = true;
    for (auto [a, b] : pairs) one_clock = one_clock && ids[a] == ids[b];
    const ComputeLoad handoff_load = load_of(kHandoffLoadMs, unit_ms, load_a, load_b);
    const int64_t numel = kHandoffBytes / 8;
    const int rounds = std::max(40, 4 * o.repeats);
    std::vector<double> fractions;
    for (int pass = 0; o.waits && pass < passes; ++pass) {
      bar.step(std::string("p2p handoff ") + to_string(p) + pass_label(pass, passes));
      if (!one_clock) continue;
      const std::array<double, 2> mine = measure_handoff(comms, pairs, numel, handoff_load, rounds, tag);
      tag += 2;
      const std::vector<double> sum =
          world_reduce(comms, {mine[0], mine[1]}, c10d::ReduceOp::SUM);
      // The delay beyond the idle one-way time of the message, over the compute after the send.
      const double idle = f.latency.value + double(numel * 8) / f.bandwidth.value * 1e3;
      const double n = double(pairs.size()) * (rounds - 1);
      if (sum[1] > 0) fractions.push_back(std::max(0.0, (sum[0] - idle * n) / sum[1]));
    }
    if (!fractions.empty()) f.handoff_fraction = median(fractions);
    c.p2p.push_back(std::move(f));
  }

  // GEMM throughput and memory bandwidth, every rank at once. The GEMM is timed over a window
  // of min_time_ms (the same call count on every rank): ranks sharing cores take turns in
  // scheduler slices, and only a window of many slices shows the speed each one gets.
  bar.step("gemm");
  const int64_t n = o.gemm_size;
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  auto gemm = [&] { (void)at::mm(a, b); };
  gemm();
  barrier(comms);
  std::vector<double> gt;
  for (int i = 0; i < 3; ++i) gt.push_back(time_ms(gemm));
  const int calls = int(std::min(
      1e5, world_reduce(comms, {std::ceil(o.min_time_ms / std::max(median(gt), 1e-6))},
                        c10d::ReduceOp::MAX)[0]));
  auto gemm_loop = [&] {
    for (int i = 0; i < calls; ++i) gemm();
  };
  // Host sharing: the window with every rank computing, then on rank 0 alone (the others
  // waiting), 3 times in turn; compute_slowdown = the median of the 3 ratios (mean over ranks
  // of the window with all / rank 0's alone). One pair of windows gave 1.6 to 4.1 on the
  // emulated 2 x 2 cluster (4 ranks on 2 cores: about 2); a slow or fast spell of the machine
  // moves one pair, not the median. Also which ranks run on one host (one kernel: the same boot
  // id).
  std::vector<double> all_windows, ratios;
  for (int pass = 0; pass < 3; ++pass) {
    barrier(comms);
    const double all_ms = time_ms(gemm_loop);
    if (pass == 0) bar.step("host sharing");
    barrier(comms);
    const double solo_ms = rank == 0 ? time_ms(gemm_loop) : 0.0;
    barrier(comms);
    const std::vector<double> share = world_reduce(comms, {all_ms, solo_ms}, c10d::ReduceOp::SUM);
    all_windows.push_back(share[0] / world);
    if (share[1] > 0) ratios.push_back(share[0] / world / share[1]);
  }
  const double gemm_ms = median(all_windows) / calls;
  c.host_sharing.ranks_per_host = ranks_per_host(ids);
  c.host_sharing.cpus = host_cpus(bound, c.host_sharing.ranks_per_host);
  c.host_sharing.compute_slowdown =
      c.host_sharing.ranks_per_host > 0 && !ratios.empty() ? std::max(1.0, median(ratios)) : 1.0;
  // The CPU one call takes: every rank calls a 1-element allreduce over its group of 2 (the
  // shape of most of training's blocking calls: TP 2, p2p pairs), all at once; the process's
  // CPU time (every thread, the backend's own too) per call, the median of 5 batches after 20
  // calls of warm-up, mean over ranks. Measured only where ranks share a host: it is what they
  // take from each other's compute. One batch right after 5 warm-up calls gave 0.07 to 0.5 ms
  // from run to run (its first calls cost up to 1.4 ms each); the batches after the warm-up
  // settle at 0.05-0.09 ms. Training-sized messages (64 KiB) measured 0.36-1.06 ms over three
  // profiles: Gloo's loop thread, at nice 19, spins while a send holds its socket, and that CPU
  // time counts here but takes little from compute.
  if (c.host_sharing.ranks_per_host > 1) {
    const GroupShape* pair = nullptr;
    for (const GroupShape& s : shapes)
      if (s.size == 2 && (!pair || (pair->placement != Placement::kIntraIsland &&
                                     s.placement == Placement::kIntraIsland)))
        pair = &s;
    if (pair) {
      executor::Group& g = comms.group(group_of(*pair, rank));
      at::Tensor msg = at::ones({kCallCpuBytes / 4});
      const int calls = std::max(100, 10 * o.repeats);
      for (int i = 0; i < 20; ++i) g.allreduce_(msg);
      std::vector<double> batches;
      for (int b = 0; b < 5; ++b) {
        barrier(comms);
        const double cpu0 = process_cpu_ms();
        for (int i = 0; i < calls; ++i) g.allreduce_(msg);
        batches.push_back((process_cpu_ms() - cpu0) / calls);
      }
      barrier(comms);
      c.host_sharing.call_cpu_ms =
          std::max(0.0, world_reduce(comms, {median(batches)}, c10d::ReduceOp::SUM)[0] / world);
    }
  }
  bar.step("memory bandwidth");
  at::Tensor src = at::ones({16 << 20}), dst = at::empty({16 << 20});
  dst.copy_(src);
  barrier(comms);
  std::vector<double> ct;
  for (int i = 0; i < std::max(3, o.repeats); ++i) ct.push_back(time_ms([&] { dst.copy_(src); }));
  const double copy_ms = median(ct);
  std::vector<double> dev = world_reduce(
      comms, {2.0 * n * n * n / (gemm_ms / 1e3), 2.0 * src.nbytes() / (copy_ms / 1e3)},
      c10d::ReduceOp::SUM);
  c.device.flops = FlopsPerSecond(dev[0] / world);
  c.device.memory_bandwidth = BytesPerSecond(dev[1] / world);
  c.device.memory =
      Bytes(double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGESIZE)) / island);
  c.device.name = "cpu-fp32 (" + std::to_string(at::get_num_threads()) + " threads/rank)";
  // The CPU executor's memory limit counts tensors only (its tracking allocator): no runtime
  // buffer on top of them.
  c.device.runtime_buffer = Bytes(0);

  if (o.overlap && world > 1) {
    bar.step("overlap");
    executor::Group& w = comms.world();
    at::Tensor buf = at::ones({numel_for(o.sizes.back(), world)});
    std::vector<double> alone;
    w.allreduce_(buf);
    for (int i = 0; i < o.repeats; ++i) alone.push_back(time_ms([&] { w.allreduce_(buf); }));
    const double comm_ms = median(alone);
    barrier(comms);
    std::atomic<bool> running{true};
    std::vector<double> comm_during, gemm_during;
    std::thread th([&] {
      for (int i = 0; i < o.repeats; ++i) comm_during.push_back(time_ms([&] { w.allreduce_(buf); }));
      running = false;
    });
    while (running || gemm_during.empty()) gemm_during.push_back(time_ms(gemm));
    th.join();
    std::vector<double> k = world_reduce(
        comms, {median(gemm_during) / median(gt), median(comm_during) / comm_ms}, c10d::ReduceOp::SUM);
    c.overlap.compute_slowdown = std::max(1.0, k[0] / world);
    c.overlap.comm_slowdown = std::max(1.0, k[1] / world);
  }
  bar.done();
  c.note = std::to_string(world) + " ranks (" + std::to_string(world / island) + " x " +
           std::to_string(island) + "), Gloo on CPU, " + std::to_string(o.repeats) +
           " repeats per size in " + std::to_string(o.passes) + " passes (median of passes), " +
           (load.calls > 0 ? "each after " + std::to_string(load.calls) +
                                 " GEMMs of side 128 on every rank, means"
                           : std::string("medians")) +
           "; slowest rank per sample" +
           (any_shared ? "; groups with a CPU to themselves: each call after " +
                             std::to_string(shared_load.calls) +
                             " GEMMs of side 128, from the last arrival, means"
                       : std::string());
  return c;
}

}  // namespace paratune::profiler
