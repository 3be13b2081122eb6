#include "profiler/cluster_profiler.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include <ATen/Parallel.h>

#include "profiler/fit.h"
#include "profiler/group_shapes.h"
#include "profiler/progress.h"

namespace paratune::profiler {

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
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

int64_t numel_for(int64_t bytes, int n) {
  int64_t e = bytes / 4;
  e -= e % n;
  return e < n ? n : e;
}

// Per-rank median time (ms) of one call of `op` on `g` at `numel` fp32 elements.
double measure_collective(executor::Group& g, CollectiveOp op, int64_t numel, int warmup,
                          int repeats, executor::Comms& comms) {
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
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) t.push_back(time_ms(call));
  double m = median(t);
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

}  // namespace

Status ClusterProfilerOptions::validate() const {
  if (sizes.empty()) return InvalidArgument("--sizes: at least one message size is needed");
  for (int64_t s : sizes)
    if (s < 4) return InvalidArgument("--sizes: every message size must be >= 4 bytes");
  if (warmup < 0 || repeats < 1)
    return InvalidArgument("--warmup must be >= 0 and --repeats >= 1");
  if (gemm_size < 16) return InvalidArgument("--gemm-size must be >= 16");
  return Status::Ok();
}

ClusterProfile profile_cluster(executor::Comms& comms, const executor::DistEnv& env,
                               const ClusterProfilerOptions& o) {
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
  const int total = int(shapes.size() * o.ops.size()) * sizes +
                    int(p2p_placements.size()) * sizes + 2 + (o.overlap && world > 1 ? 1 : 0);
  Progress bar(total, "profile-cluster", o.progress && rank == 0);

  ClusterProfile c;
  c.name = o.name;
  c.source = "measured";
  for (int i = 0; i < world / island; ++i) c.islands.push_back({"node" + std::to_string(i), island});

  for (const GroupShape& shape : shapes) {
    executor::Group& g = comms.group(group_of(shape, rank));
    for (CollectiveOp op : o.ops) {
      std::vector<double> med;
      for (int64_t bytes : o.sizes) {
        bar.step(std::string(to_string(op)) + " " + describe(shape));
        med.push_back(measure_collective(g, op, numel_for(bytes, shape.size), o.warmup,
                                         o.repeats, comms));
      }
      med = world_reduce(comms, med, c10d::ReduceOp::MAX);
      CollectiveFit f;
      f.op = op;
      f.group_size = shape.size;
      f.placement = shape.placement;
      f.consecutive = shape.consecutive;
      for (int i = 0; i < sizes; ++i)
        f.samples.push_back({Bytes(double(numel_for(o.sizes[i], shape.size) * 4)),
                             Milliseconds(med[i])});
      AlphaBeta ab = fit_alpha_beta(f.samples, algo_factor(op, shape.size));
      f.latency = ab.latency;
      f.bus_bandwidth = ab.bandwidth;
      c.collectives.push_back(std::move(f));
    }
  }

  int tag = 1000;
  for (Placement p : p2p_placements) {
    const auto pairs = p2p_pairs(world, island, p);
    std::vector<double> med;
    for (int64_t bytes : o.sizes) {
      bar.step(std::string("p2p ") + to_string(p));
      med.push_back(measure_p2p(comms, pairs, numel_for(bytes, 1), o.warmup, o.repeats, tag++));
    }
    med = world_reduce(comms, med, c10d::ReduceOp::MAX);
    P2pFit f;
    f.placement = p;
    for (int i = 0; i < sizes; ++i)
      f.samples.push_back({Bytes(double(numel_for(o.sizes[i], 1) * 4)), Milliseconds(med[i])});
    AlphaBeta ab = fit_alpha_beta(f.samples, 1.0);
    f.latency = ab.latency;
    f.bandwidth = ab.bandwidth;
    c.p2p.push_back(std::move(f));
  }

  // GEMM throughput and memory bandwidth, every rank at once.
  bar.step("gemm");
  const int64_t n = o.gemm_size;
  at::Tensor a = at::randn({n, n}), b = at::randn({n, n});
  auto gemm = [&] { (void)at::mm(a, b); };
  gemm();
  barrier(comms);
  std::vector<double> gt;
  for (int i = 0; i < std::max(3, o.repeats); ++i) gt.push_back(time_ms(gemm));
  const double gemm_ms = median(gt);
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
        comms, {median(gemm_during) / gemm_ms, median(comm_during) / comm_ms}, c10d::ReduceOp::SUM);
    c.overlap.compute_slowdown = std::max(1.0, k[0] / world);
    c.overlap.comm_slowdown = std::max(1.0, k[1] / world);
  }
  bar.done();
  c.note = std::to_string(world) + " ranks (" + std::to_string(world / island) + " x " +
           std::to_string(island) + "), Gloo on CPU, " + std::to_string(o.repeats) +
           " repeats per size, medians; slowest rank per sample";
  return c;
}

}  // namespace paratune::profiler
