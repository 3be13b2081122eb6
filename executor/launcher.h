// `paratune launch`: spawns the local ranks of one node with a torchrun-style environment.
//
// Each child gets MASTER_ADDR, MASTER_PORT, RANK = node_rank * nproc + local, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, NODE_RANK; runs in its own process group and dies
// with the launcher (PR_SET_PDEATHSIG). Its stdout/stderr lines come out prefixed "[rank r] ".
// SIGINT/SIGTERM to the launcher are forwarded. When a rank exits non-zero (or by a signal) the
// launcher names it, sends SIGTERM to the others, SIGKILL after a grace period, and returns a
// non-zero code. Torch-free.
//
// CPU binding (`cpu_bind`, default on): the launcher's allowed CPUs are split among the ranks
// before they start. With at least as many CPUs as ranks, rank slot i gets the i-th of
// nproc contiguous slices; with fewer, slot i gets CPU i mod n. Bound, 12 uniform plans on 4
// ranks over 2 cores trained 1.11x faster than placed by the scheduler (geometric mean, 8 of 12
// faster; bench_cpu_bind, docs/accuracy.md round 12). The slot is the local rank, or with
// `bind_global` (the emulated cluster, whose nodes share this machine's CPUs) the global rank
// over the world. Each bound rank sees its CPUs in PARATUNE_CPUS (unset when not bound).
//
//   LaunchOptions o; o.nproc_per_node = 4; o.command = {"paratune", "train", ...};
//   int rc = launch(o);
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace paratune::executor {

struct LaunchOptions {
  int nproc_per_node = 1;             // local ranks (default 1)
  int nnodes = 1;                     // nodes (default 1)
  int node_rank = 0;                  // this node (default 0)
  std::string master_addr = "127.0.0.1";  // rank 0's host (default loopback)
  int master_port = 0;                // 0: pick a free port (single node only) (default 0)
  std::vector<std::string> command;   // program and arguments to run per rank
  int kill_grace_ms = 3000;           // SIGTERM -> SIGKILL grace for the survivors (default 3 s)
  bool cpu_bind = true;               // bind each rank to its share of the CPUs (default on)
  bool bind_global = false;           // slot = global rank over the world (emulated nodes)
  Status validate() const;
};

/// Runs the ranks to completion; returns the exit code for the launcher process.
int launch(const LaunchOptions& o);
/// The CPUs this process may run on (its affinity mask), ascending; empty if unreadable.
std::vector<int> allowed_cpus();
/// The CPUs (ascending) that rank slot `slot` of `slots` gets out of `allowed` (see above).
std::vector<int> cpu_slice(const std::vector<int>& allowed, int slot, int slots);
/// A TCP port that was free a moment ago (bind to port 0 on 127.0.0.1).
int pick_free_port();

}  // namespace paratune::executor
