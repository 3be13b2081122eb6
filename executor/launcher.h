// `paratune launch`: spawns the local ranks of one node with a torchrun-style environment.
//
// Each child gets MASTER_ADDR, MASTER_PORT, RANK = node_rank * nproc + local, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, NODE_RANK; runs in its own process group and dies
// with the launcher (PR_SET_PDEATHSIG). Its stdout/stderr lines come out prefixed "[rank r] ".
// SIGINT/SIGTERM to the launcher are forwarded. When a rank exits non-zero (or by a signal) the
// launcher names it, sends SIGTERM to the others, SIGKILL after a grace period, and returns a
// non-zero code. Torch-free.
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
  Status validate() const;
};

/// Runs the ranks to completion; returns the exit code for the launcher process.
int launch(const LaunchOptions& o);
/// A TCP port that was free a moment ago (bind to port 0 on 127.0.0.1).
int pick_free_port();

}  // namespace paratune::executor
