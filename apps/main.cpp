// `paratune <command> [flags]`: dispatch to the subcommands of apps/commands.h.
#include <cstdio>
#include <cstring>
#include <string>

#include "apps/commands.h"

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

const Command kCommands[] = {
    {"search", paratune::apps::cmd_search,
     "search the fastest plan for a model on a cluster under a memory limit"},
    {"estimate", paratune::apps::cmd_estimate,
     "predict time and memory of a strategy, layer by layer"},
    {"import-galvatron", paratune::apps::cmd_import_galvatron,
     "convert Galvatron hardware/model profiles or a strategy config to paratune formats"},
    {"export-galvatron", paratune::apps::cmd_export_galvatron,
     "convert a paratune strategy.json to a Galvatron strategy config"},
    {"checkpoint", paratune::apps::cmd_checkpoint,
     "inspect (and verify) a sharded training checkpoint"},
    {"report", paratune::apps::cmd_report,
     "compare a searched strategy's prediction with a training run's metrics"},
#ifdef PARATUNE_WITH_TORCH
    {"launch", paratune::apps::cmd_launch, "spawn local ranks with a torchrun-style environment"},
    {"train", paratune::apps::cmd_train, "train the model with a strategy file (run on every rank)"},
    {"profile-cluster", paratune::apps::cmd_profile_cluster,
     "measure collectives, p2p, compute and overlap on every rank"},
    {"profile-model", paratune::apps::cmd_profile_model,
     "measure per-layer time and memory of a model"},
    {"calibrate", paratune::apps::cmd_calibrate,
     "train a few plans briefly and fit the cost model's multipliers to them"},
#endif
};

void print_help() {
  std::printf(
      "paratune: automatic hybrid-parallel training tuner for transformers\n\n"
      "usage: paratune <command> [flags]     (paratune <command> --help for its flags)\n\n"
      "commands:\n");
  for (const Command& c : kCommands) std::printf("  %-18s %s\n", c.name, c.help);
#ifndef PARATUNE_WITH_TORCH
  std::printf("\n(built without libtorch: launch, train, the profilers and calibrate are not available)\n");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  for (const Command& c : kCommands) {
    if (std::string(argv[1]) == c.name) return c.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "paratune: unknown command '%s' (see paratune --help)\n", argv[1]);
  return 2;
}
