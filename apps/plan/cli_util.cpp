#include "apps/plan/cli_util.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "calibrate/calibration.h"
#include "estimator/analytic_profile.h"

namespace paratune::apps {

StatusOr<double> parse_size(const std::string& text, const std::string& flag) {
  size_t i = 0;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.')) ++i;
  const std::string num = text.substr(0, i);
  std::string unit = text.substr(i);
  for (auto& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  double v = 0;
  try {
    size_t used = 0;
    v = std::stod(num, &used);
    if (used != num.size()) throw std::invalid_argument("x");
  } catch (...) {
    return InvalidArgument(flag + ": '" + text + "' is not a size (e.g. 36GiB, 512MiB, 80GB)");
  }
  double mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "kib" || unit == "k") mult = 1024.0;
  else if (unit == "mib" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "gib" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (unit == "tib" || unit == "t") mult = 1024.0 * 1024 * 1024 * 1024;
  else if (unit == "kb") mult = 1e3;
  else if (unit == "mb") mult = 1e6;
  else if (unit == "gb") mult = 1e9;
  else if (unit == "tb") mult = 1e12;
  else
    return InvalidArgument(flag + ": unknown unit '" + text.substr(i) +
                           "' (use B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)");
  if (!(v > 0) || !std::isfinite(v * mult))
    return InvalidArgument(flag + ": size must be positive, got '" + text + "'");
  return v * mult;
}

StatusOr<std::vector<int>> parse_batches(const std::string& text, const std::string& flag) {
  auto to_int = [&](const std::string& s) -> StatusOr<int> {
    try {
      size_t used = 0;
      const long v = std::stol(s, &used);
      if (used != s.size() || v < 1 || v > (1 << 24)) throw std::invalid_argument("x");
      return static_cast<int>(v);
    } catch (...) {
      return InvalidArgument(flag + ": '" + s + "' is not a positive integer");
    }
  };
  std::vector<int> out;
  const size_t colon = text.find(':');
  if (colon != std::string::npos) {
    PARATUNE_ASSIGN_OR_RETURN(const int lo, to_int(text.substr(0, colon)));
    PARATUNE_ASSIGN_OR_RETURN(const int hi, to_int(text.substr(colon + 1)));
    if (lo > hi) return InvalidArgument(flag + ": range '" + text + "' is empty");
    int p = 1;
    while (p < lo) p *= 2;
    for (; p <= hi; p *= 2) out.push_back(p);
    if (out.empty())
      return InvalidArgument(flag + ": range '" + text + "' holds no power of two");
    return out;
  }
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    PARATUNE_ASSIGN_OR_RETURN(const int v, to_int(part));
    out.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string format_bytes(double b) {
  char buf[64];
  // GiB from 1 GiB up (so limits read as given), MiB below, KiB below 1 MiB.
  if (b >= kGiB || b == 0) std::snprintf(buf, sizeof buf, "%.2f GiB", b / kGiB);
  else if (b >= kMiB) std::snprintf(buf, sizeof buf, "%.2f MiB", b / kMiB);
  else std::snprintf(buf, sizeof buf, "%.2f KiB", b / 1024.0);
  return buf;
}

StatusOr<PlanInputs> load_plan_inputs(const std::string& cluster, const std::string& model,
                                      const std::string& profile) {
  if (cluster.empty()) return InvalidArgument("--cluster is required");
  if (model.empty()) return InvalidArgument("--model is required");
  PlanInputs in;
  PARATUNE_ASSIGN_OR_RETURN(in.cluster, load_cluster_profile(cluster));
  PARATUNE_ASSIGN_OR_RETURN(in.model, load_model_config(model));
  if (profile.empty()) {
    in.profile = estimator::analytic_profile(in.model, in.cluster);
  } else {
    PARATUNE_ASSIGN_OR_RETURN(in.profile, load_model_profile(profile));
    if (!in.profile.model_fingerprint.empty() &&
        in.profile.model_fingerprint != fingerprint(in.model))
      return InvalidArgument(profile + ": field \"model_fingerprint\": the profile was measured for "
                             "another model configuration than " + model);
    if (in.profile.seq_len != in.model.seq_len)
      return InvalidArgument(profile + ": field \"seq_len\": profile has " +
                             std::to_string(in.profile.seq_len) + ", model " + model + " has " +
                             std::to_string(in.model.seq_len));
  }
  return in;
}

void print_plan(const Strategy& s, const estimator::PlanEstimate& e, bool per_layer) {
  std::printf("  pp %d, %d micro-batches, global batch %d, %d devices (%d per stage)\n", s.pp,
              s.micro_batches, s.global_batch, s.num_devices, s.devices_per_stage());
  std::printf("  embedding / LM head: %s\n", to_string(s.embedding).c_str());
  LayerIdx l = 0;
  for (StageIdx st = 0; st < s.pp; ++st) {
    const auto& se = e.stages[st];
    std::printf("  stage %d  layers %d-%d  micro-batch %.2f ms  exposed sync %.2f ms  peak %s\n",
                st, l, l + s.pp_division[st] - 1, se.micro_batch_time.value, se.sync_exposed.value,
                format_bytes(se.peak_memory.value).c_str());
    if (se.shared_micro.value < se.micro_batch_time.value || se.host_sets > 1) {
      std::printf("    shared cores: compute %.2f ms, arrival waits %.2f ms, %d set%s of ranks out "
                  "of step, %.0f blocking calls: micro-batch %.2f ms at shared speed\n",
                  se.micro_batch_compute.value, se.micro_batch_waits.value, se.host_sets,
                  se.host_sets == 1 ? "" : "s", se.calls, se.shared_micro.value);
    }
    const LayerIdx end = l + s.pp_division[st];
    while (l < end) {
      LayerIdx r = l;
      if (!per_layer)
        while (r + 1 < end && s.layers[r + 1] == s.layers[l]) ++r;
      const auto& le = e.layers[l];
      std::printf("    layer%s %3d%s%-4s %-28s fwd %.3f ms  bwd %.3f ms  sync %.3f ms  states %s  act/mb %s\n",
                  r > l ? "s" : " ", l, r > l ? "-" : " ",
                  r > l ? std::to_string(r).c_str() : "", to_string(s.layers[l]).c_str(),
                  le.cost.forward.value, le.cost.backward.value, le.cost.grad_sync.value,
                  format_bytes(le.cost.model_states.value).c_str(),
                  format_bytes(le.cost.activation_per_micro_batch.value).c_str());
      l = r + 1;
    }
  }
  double peak = 0;
  for (const auto& st : e.stages) peak = std::max(peak, st.peak_memory.value);
  std::printf("  predicted: iteration %.2f ms, %.2f samples/s, peak memory %s per device (profile: %s)\n",
              e.iteration.value, e.samples_per_s, format_bytes(peak).c_str(),
              e.profile_source.c_str());
}

int fail(const std::string& cmd, const Status& st) {
  std::fprintf(stderr, "paratune %s: %s\n", cmd.c_str(), st.message().c_str());
  return 1;
}

Status apply_calibration(const std::string& path, const PlanInputs& in,
                         estimator::EstimatorOptions& options) {
  if (path.empty()) return Status::Ok();
  StatusOr<calibrate::Calibration> c = calibrate::load_calibration(path);
  if (!c.ok()) return c.status();
  PARATUNE_RETURN_IF_ERROR(calibrate::check_matches(*c, in.cluster, in.profile, path));
  options.scales = c->scales;
  std::printf("calibration %s: %s (fitted on %zu runs, log-rms error %.3f -> %.3f)\n",
              path.c_str(), calibrate::describe(c->scales).c_str(), c->runs.size(),
              c->log_rms_before, c->log_rms_after);
  return Status::Ok();
}

}  // namespace paratune::apps
