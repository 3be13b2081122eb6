// paratune estimate: predicted time and memory of any strategy, layer by layer.
#include <cstdio>
#include <iostream>

#include <cxxopts.hpp>

#include "apps/commands.h"
#include "apps/plan/cli_util.h"
#include "core/galvatron.h"

namespace paratune::apps {

int cmd_estimate(int argc, char** argv) {
  cxxopts::Options opts("paratune estimate",
                        "Print the predicted iteration time, throughput and per-stage peak memory "
                        "of a strategy, layer by layer.");
  opts.add_options()
      ("cluster", "cluster profile JSON", cxxopts::value<std::string>())
      ("model", "model config JSON or Hugging Face config.json", cxxopts::value<std::string>())
      ("profile", "model profile JSON; default: analytic estimate", cxxopts::value<std::string>()->default_value(""))
      ("strategy", "strategy JSON (paratune's, or Galvatron's with --galvatron)", cxxopts::value<std::string>())
      ("galvatron", "the strategy file is a Galvatron strategy config")
      ("devices", "world size for a Galvatron config (default: all devices of the cluster)", cxxopts::value<int>()->default_value("0"))
      ("memory-per-device", "also say whether the plan fits this limit", cxxopts::value<std::string>()->default_value(""))
      ("per-layer", "print every layer instead of runs of equal layers")
      ("calibration", "term multipliers fitted by `paratune calibrate` on these cluster and model profiles", cxxopts::value<std::string>()->default_value(""))
      ("h,help", "print this help");
  cxxopts::ParseResult r;
  try {
    r = opts.parse(argc, argv);
  } catch (const std::exception& e) {
    return fail("estimate", InvalidArgument(e.what()));
  }
  if (r.count("help")) {
    std::cout << opts.help();
    return 0;
  }
  for (const char* req : {"cluster", "model", "strategy"})
    if (!r.count(req)) return fail("estimate", InvalidArgument(std::string("--") + req + " is required (see --help)"));
  StatusOr<PlanInputs> in = load_plan_inputs(r["cluster"].as<std::string>(), r["model"].as<std::string>(),
                                             r["profile"].as<std::string>());
  if (!in.ok()) return fail("estimate", in.status());
  const std::string path = r["strategy"].as<std::string>();
  StatusOr<Strategy> s = Status(StatusCode::kInternal, "unset");
  if (r.count("galvatron")) {
    StatusOr<Json> j = read_json_file(path);
    if (!j.ok()) return fail("estimate", j.status());
    const int n = r["devices"].as<int>() > 0 ? r["devices"].as<int>() : in->cluster.num_devices();
    s = galvatron::import_strategy(*j, path, n);
  } else {
    s = load_strategy(path);
  }
  if (!s.ok()) return fail("estimate", s.status());
  Status v = validate(*s, in->model, path);
  if (!v.ok()) return fail("estimate", v);
  if (s->num_devices > in->cluster.num_devices())
    return fail("estimate", InvalidArgument(path + ": field \"num_devices\": " + std::to_string(s->num_devices) +
                                            " devices do not fit the cluster (" +
                                            std::to_string(in->cluster.num_devices()) + ")"));
  estimator::CostContext ctx;
  ctx.model = &in->model;
  ctx.cluster = &in->cluster;
  ctx.profile = &in->profile;
  ctx.num_devices = s->num_devices;
  ctx.pp = s->pp;
  ctx.micro_batches = s->micro_batches;
  ctx.global_batch = s->global_batch;
  ctx.options.mixed_precision = in->model.dtype != DType::kFp32;
  Status cal = apply_calibration(r["calibration"].as<std::string>(), *in, ctx.options);
  if (!cal.ok()) return fail("estimate", cal);
  StatusOr<estimator::PlanEstimate> e = estimator::estimate_plan(ctx, *s);
  if (!e.ok()) return fail("estimate", e.status());
  std::printf("paratune estimate: %s on %d x %s (%s), profile: %s\n", in->model.name.c_str(),
              s->num_devices, in->cluster.device.name.c_str(), in->cluster.name.c_str(),
              in->profile.source.c_str());
  print_plan(*s, *e, r.count("per-layer") > 0);
  if (!r["memory-per-device"].as<std::string>().empty()) {
    StatusOr<double> mem = parse_size(r["memory-per-device"].as<std::string>(), "--memory-per-device");
    if (!mem.ok()) return fail("estimate", mem.status());
    double peak = 0;
    for (const auto& st : e->stages) peak = std::max(peak, st.peak_memory.value);
    std::printf("  fits %s: %s\n", format_bytes(*mem).c_str(), peak <= *mem ? "yes" : "NO");
  }
  return 0;
}

}  // namespace paratune::apps
