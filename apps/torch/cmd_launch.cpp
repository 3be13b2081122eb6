// `paratune launch --nproc-per-node N [--nnodes K --node-rank R --master-addr A --master-port P]
//  -- CMD...`: spawns this node's ranks with a torchrun-style environment (executor/launcher.h).
// `paratune launch --nnodes K --nproc-per-node N --emulate-link RATE[:LATENCY] -- CMD...`: runs
// all K nodes on this machine, each in its own network namespace, joined by links shaped to
// RATE and LATENCY (executor/emulation.h; needs root).
#include <cstdio>
#include <string>
#include <vector>

#include <cxxopts.hpp>

#include "apps/commands.h"
#include "executor/emulation.h"
#include "executor/launcher.h"

namespace paratune::apps {

int cmd_launch(int argc, char** argv) {
  int split = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") { split = i; break; }
  cxxopts::Options opts("paratune launch",
                        "Spawn the local ranks of one node with MASTER_ADDR, MASTER_PORT, RANK, "
                        "WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK set.\n"
                        "usage: paratune launch --nproc-per-node N [flags] -- CMD [ARGS...]");
  opts.add_options()
      ("nproc-per-node", "ranks on this node", cxxopts::value<int>()->default_value("1"))
      ("nnodes", "number of nodes", cxxopts::value<int>()->default_value("1"))
      ("node-rank", "this node's index", cxxopts::value<int>()->default_value("0"))
      ("master-addr", "rank 0's address", cxxopts::value<std::string>()->default_value("127.0.0.1"))
      ("master-port", "rank 0's store port (0: a free port, single node only)",
       cxxopts::value<int>()->default_value("0"))
      ("emulate-link", "run all --nnodes nodes here, each in its own network namespace, joined "
       "by links of RATE[:LATENCY], e.g. 1gbit:200us (needs root; --node-rank and --master-addr "
       "do not apply)", cxxopts::value<std::string>())
      ("cpu-bind", "'spread' (default): bind each rank to its share of the CPUs this launcher may "
       "use (CPU rank mod n when there are fewer CPUs than ranks); 'none': let the scheduler "
       "place them", cxxopts::value<std::string>()->default_value("spread"))
      ("h,help", "show this help");
  executor::LaunchOptions o;
  std::string emulate;
  try {
    auto r = opts.parse(split, argv);
    if (r.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return 0;
    }
    if (!r.unmatched().empty()) {
      std::fprintf(stderr, "paratune launch: unexpected argument '%s' (put the command after --)\n",
                   r.unmatched()[0].c_str());
      return 2;
    }
    o.nproc_per_node = r["nproc-per-node"].as<int>();
    o.nnodes = r["nnodes"].as<int>();
    o.node_rank = r["node-rank"].as<int>();
    o.master_addr = r["master-addr"].as<std::string>();
    o.master_port = r["master-port"].as<int>();
    const std::string bind = r["cpu-bind"].as<std::string>();
    if (bind != "spread" && bind != "none") {
      std::fprintf(stderr, "paratune launch: --cpu-bind must be 'spread' or 'none', not '%s'\n",
                   bind.c_str());
      return 2;
    }
    o.cpu_bind = bind == "spread";
    if (r.count("emulate-link")) {
      emulate = r["emulate-link"].as<std::string>();
      if (r.count("node-rank") || r.count("master-addr")) {
        std::fprintf(stderr, "paratune launch: --emulate-link runs every node here: --node-rank "
                     "and --master-addr do not apply\n");
        return 2;
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "paratune launch: %s\n", e.what());
    return 2;
  }
  for (int i = split + 1; i < argc; ++i) o.command.push_back(argv[i]);
  if (!emulate.empty()) {
    StatusOr<executor::LinkSpec> link = executor::parse_link(emulate);
    if (!link.ok()) {
      std::fprintf(stderr, "paratune launch: %s\n", link.status().message().c_str());
      return 2;
    }
    return executor::launch_emulated(o, *link);
  }
  Status st = o.validate();
  if (!st.ok()) {
    std::fprintf(stderr, "paratune launch: %s\n", st.message().c_str());
    return 2;
  }
  return executor::launch(o);
}

}  // namespace paratune::apps
