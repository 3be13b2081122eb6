// torchrun-compatible rendezvous: ranks read MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK (or NODE_RANK) and meet on a c10d TCPStore served by
// rank 0, so the same binary runs under torchrun, srun/mpirun wrappers or `paratune launch`.
// With no RANK/WORLD_SIZE in the environment the process is a world of one (in-memory store).
//
//   StatusOr<DistEnv> env = dist_env_from_environment();
//   auto store = connect_store(*env, std::chrono::seconds(60));
#pragma once

#include <chrono>
#include <string>

#include <torch/csrc/distributed/c10d/Store.hpp>

#include "core/status.h"
#include "core/units.h"

namespace paratune::executor {

struct DistEnv {
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  Rank rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  int node_rank = 0;
  bool from_environment = false;  // false: no torchrun variables were set
  bool loopback() const;
};

/// Parses the torchrun variables; an unparsable or inconsistent value names the variable.
StatusOr<DistEnv> dist_env_from_environment();
/// TCPStore (rank 0 serves) or, for a world of one, an in-memory store.
c10::intrusive_ptr<c10d::Store> connect_store(const DistEnv& env, std::chrono::milliseconds timeout);
/// Torch intra-op threads per rank: the CPUs this process may run on when `paratune launch` bound
/// it to them (PARATUNE_CPUS set), else max(1, those CPUs / local ranks).
int threads_per_rank(int local_world_size);
/// Sets this process's compute threads to threads_per_rank(local_world_size) and returns it:
/// torch's intra-op threads and, when libtorch's BLAS is OpenBLAS (found at run time), OpenBLAS's
/// own pool. OpenBLAS ignores torch's setting and by default starts one thread per core whose
/// idle members spin in sched_yield; with several ranks per host those spinning threads take the
/// cores from the ranks that compute (measured: a 4-rank ZeRO-2 run on 2 cores, 18x the context
/// switches and 1.7x the iteration time).
int use_compute_threads(int local_world_size);

}  // namespace paratune::executor
