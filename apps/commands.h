// Subcommands of the `paratune` binary. Each returns the process exit code (0 = success) and
// parses its own flags with cxxopts; argv[0] is the subcommand name.
#pragma once

namespace paratune::apps {

// Planning commands (torch-free), apps/plan/.
int cmd_search(int argc, char** argv);
int cmd_estimate(int argc, char** argv);
int cmd_import_galvatron(int argc, char** argv);
int cmd_export_galvatron(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_checkpoint(int argc, char** argv);  // apps/plan/cmd_checkpoint.cpp

#ifdef PARATUNE_WITH_TORCH
// Runtime commands (libtorch), apps/torch/.
int cmd_launch(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_profile_cluster(int argc, char** argv);
int cmd_profile_model(int argc, char** argv);
int cmd_calibrate(int argc, char** argv);  // apps/torch/cmd_calibrate.cpp
#endif

}  // namespace paratune::apps
