// paratune import-galvatron / export-galvatron: move between Galvatron's files and paratune's.
#include <cstdio>
#include <iostream>

#include <cxxopts.hpp>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/galvatron.h"

namespace paratune::apps {

int cmd_import_galvatron(int argc, char** argv) {
  cxxopts::Options opts(
      "paratune import-galvatron",
      "Convert Galvatron files to paratune's formats. One of three modes:\n"
      "  hardware profiles -> cluster profile:  --hardware DIR --nodes K --gpus-per-node G -o cluster.json\n"
      "  model profiles    -> model profile:    --computation F --memory F --model M.json -o profile.json\n"
      "  strategy config   -> strategy:         --strategy F --devices N -o strategy.json");
  opts.add_options()
      ("hardware", "folder with Galvatron's allreduce_bandwidth_*, p2p_bandwidth_*, overlap_coefficient.json, sp_time_*", cxxopts::value<std::string>())
      ("nodes", "nodes of the profiled cluster", cxxopts::value<int>()->default_value("1"))
      ("gpus-per-node", "GPUs per node of the profiled cluster", cxxopts::value<int>()->default_value("8"))
      ("computation", "Galvatron computation_profiling_*.json", cxxopts::value<std::string>())
      ("memory", "Galvatron memory_profiling_*.json", cxxopts::value<std::string>())
      ("model", "paratune model config the profiles belong to", cxxopts::value<std::string>())
      ("strategy", "Galvatron strategy config JSON", cxxopts::value<std::string>())
      ("devices", "world size of the strategy", cxxopts::value<int>()->default_value("8"))
      ("sequence-parallel", "the Galvatron run used --sequence-parallel (Megatron SP on layers with tp > 1)")
      ("o,output", "output file (required)", cxxopts::value<std::string>())
      ("h,help", "print this help");
  cxxopts::ParseResult r;
  try {
    r = opts.parse(argc, argv);
  } catch (const std::exception& e) {
    return fail("import-galvatron", InvalidArgument(e.what()));
  }
  if (r.count("help")) {
    std::cout << opts.help();
    return 0;
  }
  if (!r.count("output")) return fail("import-galvatron", InvalidArgument("-o/--output is required"));
  const int modes = (r.count("hardware") > 0) + (r.count("computation") > 0 || r.count("memory") > 0) +
                    (r.count("strategy") > 0);
  if (modes != 1)
    return fail("import-galvatron",
                InvalidArgument("give exactly one of --hardware, --computation/--memory, --strategy (see --help)"));
  const std::string out = r["output"].as<std::string>();
  Json j;
  if (r.count("hardware")) {
    StatusOr<ClusterProfile> c = galvatron::import_a800_cluster(
        r["hardware"].as<std::string>(), r["nodes"].as<int>(), r["gpus-per-node"].as<int>());
    if (!c.ok()) return fail("import-galvatron", c.status());
    j = to_json(*c);
    std::printf("imported cluster '%s': %d islands x %d devices, %zu collective fits, %zu p2p fits\n",
                c->name.c_str(), static_cast<int>(c->islands.size()), c->devices_per_island(),
                c->collectives.size(), c->p2p.size());
  } else if (r.count("strategy")) {
    galvatron::StrategyImportOptions so;
    so.sequence_parallel = r.count("sequence-parallel") > 0;
    StatusOr<Strategy> s = galvatron::load_strategy(r["strategy"].as<std::string>(), r["devices"].as<int>(), so);
    if (!s.ok()) return fail("import-galvatron", s.status());
    j = to_json(*s);
    std::printf("imported strategy: pp %d, %zu layers, %d devices\n", s->pp, s->layers.size(), s->num_devices);
  } else {
    for (const char* req : {"computation", "memory", "model"})
      if (!r.count(req))
        return fail("import-galvatron", InvalidArgument(std::string("--") + req + " is required for a model profile"));
    StatusOr<ModelConfig> m = load_model_config(r["model"].as<std::string>());
    if (!m.ok()) return fail("import-galvatron", m.status());
    StatusOr<ModelProfile> p = galvatron::import_model(r["computation"].as<std::string>(),
                                                       r["memory"].as<std::string>(), *m);
    if (!p.ok()) return fail("import-galvatron", p.status());
    j = to_json(*p);
    std::printf("imported model profile for %s: %zu layer types\n", m->name.c_str(), p->layer_types.size());
  }
  Status w = write_file_atomic(out, dump_json(j));
  if (!w.ok()) return fail("import-galvatron", w);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

int cmd_export_galvatron(int argc, char** argv) {
  cxxopts::Options opts("paratune export-galvatron",
                        "Convert a paratune strategy.json to a Galvatron strategy config.");
  opts.add_options()
      ("strategy", "paratune strategy JSON (required)", cxxopts::value<std::string>())
      ("o,output", "Galvatron config to write (required)", cxxopts::value<std::string>())
      ("h,help", "print this help");
  cxxopts::ParseResult r;
  try {
    r = opts.parse(argc, argv);
  } catch (const std::exception& e) {
    return fail("export-galvatron", InvalidArgument(e.what()));
  }
  if (r.count("help")) {
    std::cout << opts.help();
    return 0;
  }
  if (!r.count("strategy") || !r.count("output"))
    return fail("export-galvatron", InvalidArgument("--strategy and -o/--output are required"));
  StatusOr<Strategy> s = load_strategy(r["strategy"].as<std::string>());
  if (!s.ok()) return fail("export-galvatron", s.status());
  StatusOr<Json> j = galvatron::export_strategy(*s);
  if (!j.ok()) return fail("export-galvatron", j.status());
  Status w = write_file_atomic(r["output"].as<std::string>(), dump_json(*j));
  if (!w.ok()) return fail("export-galvatron", w);
  std::printf("wrote %s\n", r["output"].as<std::string>().c_str());
  return 0;
}

}  // namespace paratune::apps
