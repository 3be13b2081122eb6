// bench_busy_neighbour: what a small collective inside one host costs while the ranks it shares
// cores with compute, against what profile-cluster measures (every group calling at once).
//
// Run under `paratune launch` with 2 or more hosts of R ranks each (consecutive ranks per host,
// e.g. --nnodes 2 --nproc-per-node 2 --emulate-link 1gbit:200us). Host 0's ranks form pairs
// {0,1}, {2,3}, ...: the groups under test. The other hosts' ranks, in turn:
//   coll  - call the same collective in their own pairs at the same time (what profile-cluster's
//           intra-island samples are: every group at once)
//   busy  - compute GEMMs without a break (a pipeline's other stage during its compute)
//   idle  - sleep
// and, with host 0 computing too (training's pattern):
//   train - host 0 runs LOAD ms of GEMMs then the collective, per call; the others busy.
//           Printed: the loop's time per call minus host 0's load alone (others busy), i.e. the
//           collective's price inside training.
// Per (op, size, condition): the slowest host-0 rank's median over CALLS timed calls, median of
// PASSES passes (conditions interleaved). All ranks must share one kernel (emulated nodes).
//
// usage: paratune launch ... -- bench_busy_neighbour [--sizes 16384,65536,262144]
//            [--calls 30] [--passes 3] [--load-ms 2]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "executor/comm.h"
#include "executor/rendezvous.h"
#include "profiler/fit.h"

namespace ex = paratune::executor;
using paratune::profiler::median;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

double world_max(ex::Comms& comms, double v) {
  at::Tensor t = at::tensor({v}, at::kDouble);
  comms.world().allreduce_(t, c10d::ReduceOp::MAX);
  return t[0].item<double>();
}

void barrier(ex::Comms& comms) { (void)world_max(comms, 0); }

std::vector<long> parse_list(const char* s) {
  std::vector<long> out;
  std::string str(s);
  size_t p = 0;
  while (p <= str.size()) {
    const size_t q = std::min(str.find(',', p), str.size());
    out.push_back(std::atol(str.substr(p, q - p).c_str()));
    p = q + 1;
  }
  return out;
}

enum class Op { kAllReduce, kAllGather, kReduceScatter };
const char* op_name(Op op) {
  return op == Op::kAllReduce ? "allreduce" : op == Op::kAllGather ? "allgather" : "reduce_scatter";
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<long> sizes = {16 << 10, 64 << 10, 256 << 10};
  int calls = 30, passes = 3;
  double load_ms = 2;
  if ((argc - 1) % 2) {
    std::fprintf(stderr, "bench_busy_neighbour: %s needs a value\n", argv[argc - 1]);
    return 2;
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--sizes")) sizes = parse_list(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--calls")) calls = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--passes")) passes = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--load-ms")) load_ms = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "bench_busy_neighbour: unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  for (long b : sizes)
    if (b < 16 || b > (1L << 30)) {
      std::fprintf(stderr, "bench_busy_neighbour: --sizes: %ld is not a byte count in 16 .. 1 GiB\n",
                   b);
      return 2;
    }
  if (calls < 1 || passes < 1 || !(load_ms > 0 && load_ms <= 1000)) {
    std::fprintf(stderr, "bench_busy_neighbour: --calls and --passes must be >= 1, --load-ms in "
                         "(0, 1000]\n");
    return 2;
  }
  auto env = ex::dist_env_from_environment();
  if (!env.ok()) {
    std::fprintf(stderr, "bench_busy_neighbour: %s\n", env.status().message().c_str());
    return 2;
  }
  const int R = env->local_world_size, W = env->world_size, rank = env->rank;
  if (R < 2 || R % 2 || W < 2 * R) {
    std::fprintf(stderr, "bench_busy_neighbour: needs 2+ hosts of an even number of ranks\n");
    return 2;
  }
  ex::use_compute_threads(R);
  ex::CommOptions co;
  co.loopback = env->loopback();
  auto store = ex::connect_store(*env, std::chrono::seconds(120));
  ex::Comms comms(store, rank, W, co);
  std::vector<std::vector<int>> pairs;
  for (int r = 0; r < W; r += 2) pairs.push_back({r, r + 1});
  comms.ensure(pairs);
  comms.ensure({comms.all_ranks()});
  const bool host0 = rank < R;
  ex::Group& g = comms.group({rank - rank % 2, rank - rank % 2 + 1});

  at::Tensor a = at::randn({128, 128}), b = at::randn({128, 128});
  // One GEMM's time alone-ish (median), to size the load in calls.
  std::vector<double> u;
  for (int i = 0; i < 30; ++i) {
    const auto t0 = Clock::now();
    (void)at::mm(a, b);
    u.push_back(ms_since(t0));
  }
  const double unit = world_max(comms, median(u));
  const int load_calls = std::max(1, int(load_ms / std::max(unit, 1e-4)));
  auto load = [&] {
    for (int i = 0; i < load_calls; ++i) (void)at::mm(a, b);
  };

  auto call = [&](Op op, at::Tensor& full, at::Tensor& half) {
    switch (op) {
      case Op::kAllReduce: g.allreduce_(full); break;
      case Op::kAllGather: g.allgather_into(half, full); break;
      case Op::kReduceScatter: (void)g.reduce_scatter(full); break;
    }
  };

  const std::vector<Op> ops = {Op::kAllReduce, Op::kAllGather, Op::kReduceScatter};
  // results[op][size][cond][pass]
  std::vector<std::vector<std::vector<std::vector<double>>>> res(
      ops.size(), std::vector<std::vector<std::vector<double>>>(
                      sizes.size(), std::vector<std::vector<double>>(5)));
  for (int pass = 0; pass < passes; ++pass) {
    for (size_t oi = 0; oi < ops.size(); ++oi) {
      for (size_t si = 0; si < sizes.size(); ++si) {
        const long n = sizes[si] / 4;
        at::Tensor full = at::ones({n}), half = at::ones({n / 2});
        for (int c = 0; c < 5; ++c) {
          // host 0's ranks count themselves done on the store; the others compute until all are.
          const std::string key = "bn/" + std::to_string(pass) + "/" + std::to_string(oi) + "/" +
                                  std::to_string(si) + "/" + std::to_string(c);
          barrier(comms);
          double mine = 0;
          if (host0) {
            std::vector<double> t;
            for (int i = 0; i < 3 + calls; ++i) {
              const auto c0 = Clock::now();
              if (c == 3 || c == 4) load();
              if (c != 4) call(ops[oi], full, half);
              if (i >= 3) t.push_back(ms_since(c0));
            }
            mine = median(t);
            store->add(key, 1);
          } else if (c == 0) {
            for (int i = 0; i < 3 + calls; ++i) call(ops[oi], full, half);
          } else {  // busy, train, load: compute (idle: sleep) until host 0 is done
            while (store->add(key, 0) < R) {
              // polled about every 2 ms: the store is served by a thread of rank 0, which
              // each poll wakes on host 0's CPUs
              if (c == 2) usleep(2000);
              else load();
            }
          }
          res[oi][si][c].push_back(world_max(comms, host0 ? mine : 0));
        }
      }
    }
    if (rank == 0) std::fprintf(stderr, "pass %d of %d done\n", pass + 1, passes);
  }
  if (rank == 0) {
    std::printf("# %d hosts x %d ranks; host 0's pairs timed; load %.2f ms (%d GEMMs of 128)\n",
                W / R, R, load_calls * unit, load_calls);
    std::printf("%-15s %8s %8s %8s %8s %8s %8s %8s\n", "op", "KiB", "coll", "busy", "idle",
                "train", "load", "tr-load");
    for (size_t oi = 0; oi < ops.size(); ++oi)
      for (size_t si = 0; si < sizes.size(); ++si) {
        double m[5];
        for (int c = 0; c < 5; ++c) m[c] = median(res[oi][si][c]);
        std::printf("%-15s %8ld %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", op_name(ops[oi]),
                    sizes[si] >> 10, m[0], m[1], m[2], m[3], m[4], m[3] - m[4]);
      }
  }
  return 0;
}
