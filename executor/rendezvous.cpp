#include "executor/rendezvous.h"

#include <dlfcn.h>
#include <sched.h>

#include <cstdlib>
#include <thread>

#include <ATen/Parallel.h>

#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace paratune::executor {

namespace {
// Reads an integer variable; false + message when set but malformed.
bool read_int(const char* name, int* out, std::string* err) {
  const char* v = std::getenv(name);
  if (!v) return true;
  char* end = nullptr;
  long x = std::strtol(v, &end, 10);
  if (!*v || *end || x < 0 || x > (1 << 30)) {
    *err = std::string("environment variable ") + name + "=\"" + v +
           "\" is not a non-negative integer";
    return false;
  }
  *out = int(x);
  return true;
}
}  // namespace

bool DistEnv::loopback() const {
  return master_addr == "127.0.0.1" || master_addr == "localhost" || master_addr == "::1";
}

StatusOr<DistEnv> dist_env_from_environment() {
  DistEnv e;
  std::string err;
  e.from_environment = std::getenv("RANK") && std::getenv("WORLD_SIZE");
  if (!read_int("RANK", &e.rank, &err) || !read_int("WORLD_SIZE", &e.world_size, &err) ||
      !read_int("LOCAL_RANK", &e.local_rank, &err) ||
      !read_int("LOCAL_WORLD_SIZE", &e.local_world_size, &err) ||
      !read_int("MASTER_PORT", &e.master_port, &err) ||
      !read_int("NODE_RANK", &e.node_rank, &err) || !read_int("GROUP_RANK", &e.node_rank, &err))
    return InvalidArgument(err);
  if (const char* a = std::getenv("MASTER_ADDR")) e.master_addr = a;
  if (e.world_size < 1) return InvalidArgument("environment variable WORLD_SIZE must be >= 1");
  if (e.rank >= e.world_size)
    return InvalidArgument("environment variable RANK=" + std::to_string(e.rank) +
                           " is not below WORLD_SIZE=" + std::to_string(e.world_size));
  if (e.local_world_size < 1 || e.local_rank >= e.local_world_size)
    return InvalidArgument("environment variables LOCAL_RANK / LOCAL_WORLD_SIZE are inconsistent");
  if (e.world_size > 1 && !std::getenv("MASTER_PORT"))
    return InvalidArgument("environment variable MASTER_PORT is required when WORLD_SIZE > 1");
  return e;
}

c10::intrusive_ptr<c10d::Store> connect_store(const DistEnv& env,
                                              std::chrono::milliseconds timeout) {
  if (env.world_size == 1) return c10::make_intrusive<c10d::HashStore>();
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(env.master_port);
  o.isServer = env.rank == 0;
  o.numWorkers = env.world_size;
  o.waitWorkers = true;
  o.timeout = timeout;
  return c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
}

int threads_per_rank(int local_world_size) {
  // A rank that `paratune launch` bound to its share of the CPUs (PARATUNE_CPUS set) uses them
  // all; otherwise the ranks split the CPUs this process may run on.
  cpu_set_t set;
  CPU_ZERO(&set);
  const int allowed = sched_getaffinity(0, sizeof set, &set) == 0
                          ? CPU_COUNT(&set)
                          : int(std::thread::hardware_concurrency());
  const char* bound = std::getenv("PARATUNE_CPUS");
  const int n = bound && *bound ? allowed : allowed / std::max(1, local_world_size);
  return n < 1 ? 1 : n;
}

int use_compute_threads(int local_world_size) {
  const int n = threads_per_rank(local_world_size);
  at::set_num_threads(n);
  // Looked up, not linked: libtorch may use another BLAS, and then there is nothing to set.
  using SetThreads = void (*)(int);
  if (void* f = dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))
    reinterpret_cast<SetThreads>(f)(n);
  return n;
}

}  // namespace paratune::executor
